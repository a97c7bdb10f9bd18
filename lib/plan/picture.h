#pragma once
// The desired kernel state of the whole host, kept in parts (the host, each
// VPC, each instance) and cached by their inputs: moving to a new desired
// state rebuilds only the parts whose inputs changed, so an untouched VPC is
// neither rebuilt nor are its policies compiled again. The namespaces whose
// content differs between the old and the new picture are the scope of the
// reconcile that follows (fboss's StateDelta, in our terms): nothing outside
// lib/plan decides which namespaces a change touches.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/model/desired_state.h"
#include "lib/plan/desired.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

// The namespace holding the primary end of a veth whose other end is
// (namespace, link): how a missing peer end is traced to the pair to make.
using PrimaryIndex = std::map<std::pair<std::string, std::string>, std::string>;

class KernelPicture {
 public:
  struct VpcPart {
    VpcInputs inputs;
    std::shared_ptr<const std::map<std::string, Namespace>> namespaces;
  };
  struct InstancePart {
    InstanceInputs inputs;
    std::shared_ptr<const Namespace> ns;
  };

  // What moving to a new desired state changes. Computing it is pure and may
  // throw (a policy that cannot be compiled); applying it cannot.
  struct Delta {
    std::map<std::string, VpcPart> vpcs;
    std::map<std::string, InstancePart> instances;
    // Namespaces whose desired content changed: the new content, or nullopt
    // for a namespace that should no longer exist.
    std::map<std::string, std::optional<Namespace>> changed;
    // The namespaces of the other ends of veths whose desired settings
    // changed: a pair is created and tuned from its primary end (diff.cpp),
    // so that end's namespace joins the pass.
    std::set<std::string> companions;
    std::set<std::string> rebuilt;  // VPCs and instances built anew (for tests)
    // The namespaces to reconcile: those that changed.
    std::set<std::string> scope() const;
    // Namespaces that the new state adds (not there before).
    std::vector<std::string> added;
  };

  Delta delta(const DesiredState& next) const;
  void apply(Delta delta);
  // delta + apply; returns the scope.
  std::set<std::string> update(const DesiredState& next);

  const KernelState& state() const { return state_; }
  const PrimaryIndex& primaries() const { return primaries_; }

  // The namespaces to reconcile with `ns` when the kernel changed under it:
  // a VPC namespace brings its whole VPC and the instances with a NIC in it;
  // an instance brings the VPCs of its NICs. Empty for a namespace that is
  // not vpcd's.
  std::set<std::string> groupOf(const std::string& ns) const;
  // The VPCs a namespace belongs to (an instance: those of its NICs).
  std::set<std::string> vpcsOf(const std::string& ns) const;

 private:
  void put(const std::string& name, std::optional<Namespace> ns);

  KernelState state_;
  PrimaryIndex primaries_;
  std::map<std::string, std::vector<PrimaryIndex::key_type>> primaryKeysOf_;
  std::map<std::string, VpcPart> vpcs_;
  std::map<std::string, InstancePart> instances_;
};

}  // namespace vpcd
