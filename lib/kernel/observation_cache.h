#pragma once
// What vpcd last saw of each namespace, kept current with vpcd's own changes.
//
// A reconcile diffs the desired state against an observation. Dumping a
// router namespace costs time in proportion to its ports, so adding the
// 200th subnet would pay for the 199 before it. Instead an observation is
// kept, and every action vpcd applies successfully is applied to it as well;
// the next pass starts from that. Anything else that changes a namespace —
// a hand-made change, an effect of the kernel's own — arrives as a
// notification, and the drift watch then invalidates the namespace, which is
// dumped again on its next observation. Actions whose side effects reach
// beyond what they name (deleting a link or a namespace takes veth peers,
// addresses and routes with it; a link set down loses its routes) invalidate
// instead of patching; so does any failed action.
#include <map>
#include <set>
#include <string>

#include "lib/plan/kernel_model.h"

namespace vpcd {

class ObservationCache {
 public:
  // The kept observation of `ns` if it answers for `want`: the namespace
  // exists, and no link `want` names is among the unmarked links the dump
  // skipped (observe adopts those, so it must look again). Null otherwise.
  const Namespace* find(const std::string& ns, const Namespace* want) const;
  // A fresh observation (without sysctls: those are always read) and the
  // names of every link the namespace had, marked or not.
  void store(const Namespace& seen, std::set<std::string> allLinks);
  // After `a` succeeded in the kernel.
  void applied(const Action& a);
  void invalidate(const std::string& ns) { entries_.erase(ns); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    Namespace seen;
    std::set<std::string> allLinks;
  };
  void addLink(const std::string& ns, const Link& link);

  std::map<std::string, Entry> entries_;
};

}  // namespace vpcd
