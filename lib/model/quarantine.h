#pragma once
// A state file that cannot be read at start-up holds back what it describes
// (docs/reconcile.md, "A state file that cannot be read"). vpcd cannot know what
// the file wanted, so it must neither build nor tear down the kernel objects
// of those objects: they stay exactly as they are, the rest is served, and
// every request that would touch a held object answers 409 naming the file.
//
// What is held: the object of each damaged file (the VPC for a subnet's file),
// every VPC the damaged document names when it is JSON at all, and then,
// until nothing is added, every peering, policy and instance touching a held
// VPC, with every VPC those touch (their kernel objects span both sides). A
// damaged document that is not JSON names nothing vpcd could trust, so it
// holds everything.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/model/instance.h"
#include "lib/model/lab.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/port_forward.h"
#include "lib/model/vpc.h"

namespace vpcd {

// One file the store could not read.
struct StateDamage {
  std::string file;
  std::string error;  // "<file>: <what was wrong>"
  // What the file's place says it holds: kind is "vpc", "peering", "policy",
  // "instance" or "lab"; name is the object (for a subnet's file, its VPC).
  std::string kind;
  std::string name;
  std::optional<nlohmann::json> doc;  // the document, when it parsed as JSON
};

struct Quarantine {
  // (kind, name) -> why it is held, a sentence naming the file.
  std::map<std::pair<std::string, std::string>, std::string> held;
  std::string all;  // not empty: everything is held, for this reason
  // Transit /30s of held VPCs and peerings: still in use in the kernel.
  std::set<int> transitIndexes;
  std::vector<StateDamage> damage;

  bool empty() const { return held.empty() && all.empty(); }
  // Why `kind name` is held, or nullptr when it is not.
  const std::string* reason(const std::string& kind, const std::string& name) const;
  std::set<std::string> names(const std::string& kind) const;
  // The 409 a request touching a held object gets.
  [[noreturn]] void refuse(const std::string& kind, const std::string& name,
                           const std::string& field = "") const;
};

// Takes out of the loaded objects everything `damage` holds (the rules
// above) and says why each is held. A port forward into a held VPC is held.
Quarantine quarantine(std::vector<StateDamage> damage, std::vector<Vpc>& vpcs,
                      std::vector<Peering>& peerings, std::vector<Policy>& policies,
                      std::vector<Instance>& instances, std::vector<Lab>& labs,
                      std::vector<PortForward>* forwards = nullptr);

}  // namespace vpcd
