#pragma once
// The desired state of the whole host as one value: VPCs with their subnets,
// peerings, firewall policies and instances. It is never changed in place:
// `next = current.with(change)` validates a change against the whole state
// and returns the new value, or throws a DomainError (kind, field, message)
// with `current` untouched. A list of changes (a lab, a batch of requests) is
// one `with`: validated together, all or nothing.
//
// Objects are held by shared pointers to const values, so a new state shares
// every object the change did not touch with the old one: making `next` costs
// what the change touches, and "did this VPC change?" is first a pointer
// comparison (lib/plan/picture.h, state/store.h rely on that).
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "lib/model/flow_log.h"
#include "lib/model/impairment.h"
#include "lib/model/instance.h"
#include "lib/model/lab.h"
#include "lib/model/names.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/port_forward.h"
#include "lib/model/quarantine.h"
#include "lib/model/vpc.h"

namespace vpcd {

template <typename T>
using Table = std::map<std::string, std::shared_ptr<const T>>;

// What the host contributes: the uplink device and the transit pool.
struct HostSettings {
  std::string uplink;
  Cidr transitPool;
  bool operator==(const HostSettings&) const = default;
};

// The changes. Each names what it acts on; `now` (unix seconds) is passed in
// so that `with` stays a pure function. `lab` is who acts: the lab applying
// the change, or "" for a request of the plain API. An object is changed or
// deleted only by its owner (a created object carries its owner in its own
// `lab` field), so a lab never touches what it does not own and a hand-made
// request never edits a lab behind its file's back.
namespace change {
struct CreateVpc {
  Vpc vpc;  // as parsed; the transit /30 is chosen by `with`
};
struct DeleteVpc {
  std::string name;
  std::string lab;
};
struct CreateSubnet {
  std::string vpc;
  Subnet subnet;
  std::string lab;
};
struct DeleteSubnet {
  SubnetRef ref;
  std::string lab;
};
struct RequestPeering {
  Peering peering;  // as parsed
};
struct AcceptPeering {
  std::string name;
  int64_t now;
  std::string lab;
};
struct RejectPeering {
  std::string name;
  int64_t now;
  std::string lab;
};
struct DeletePeering {
  std::string name;
  std::string lab;
};
// Pending requests past their expiry become expired.
struct ExpirePeerings {
  int64_t now;
};
struct PutPolicy {
  Policy policy;      // as parsed; targets are resolved to vpc/subnet by `with`
  bool list = false;  // written as a list (seed format): how errors name fields
};
struct DeletePolicy {
  std::string name;
  std::string lab;
};
struct CreateInstance {
  InstanceRequest request;
  int64_t now;
};
struct DeleteInstance {
  std::string name;
  std::string lab;
};
// The instance's life cycle and its command (status, times, pid); its NICs
// change only through AddNic and RemoveNic.
struct UpdateInstance {
  Instance instance;
};
struct AddNic {
  std::string instance;
  NicRequest nic;
  std::string lab;
};
struct RemoveNic {
  std::string instance;
  std::string nic;
  std::string lab;
};
// The target is resolved by `with` (PortForward's vpc, subnet, targetIp,
// instance and nic are filled in there).
struct CreatePortForward {
  PortForward forward;
};
struct DeletePortForward {
  std::string name;
  std::string lab;
};
// The target is resolved by `with`; the impairment's clock (enabledAt)
// starts when it is switched on or its effect changes, not when the same
// values are put again.
struct PutImpairment {
  Impairment impairment;
};
struct DeleteImpairment {
  std::string name;
  std::string lab;
};
// Timed impairments past their end are switched off (values kept).
struct ExpireImpairments {
  int64_t now;
};
// The target (a VPC or one of its subnets) must exist.
struct PutFlowLog {
  FlowLog flowLog;
};
struct DeleteFlowLog {
  std::string name;
  std::string lab;
};
// The lab takes over an object made outside any lab (vpcctl lab apply
// --adopt): `kind` is vpc, peering, policy, instance, port_forward,
// impairment or flow_log.
struct Adopt {
  std::string kind;
  std::string name;
  std::string lab;
};
// The lab's own record: its document as applied. Deleted only when it owns
// nothing any more.
struct PutLab {
  Lab lab;
};
struct DeleteLab {
  std::string name;
};
}  // namespace change

using Change =
    std::variant<change::CreateVpc, change::DeleteVpc, change::CreateSubnet, change::DeleteSubnet,
                 change::RequestPeering, change::AcceptPeering, change::RejectPeering,
                 change::DeletePeering, change::ExpirePeerings, change::PutPolicy,
                 change::DeletePolicy, change::CreateInstance, change::DeleteInstance,
                 change::UpdateInstance, change::AddNic, change::RemoveNic,
                 change::CreatePortForward, change::DeletePortForward, change::PutImpairment,
                 change::DeleteImpairment, change::ExpireImpairments, change::PutFlowLog,
                 change::DeleteFlowLog, change::Adopt, change::PutLab, change::DeleteLab>;

// Calls `changed(old, new)` for each object of a table that differs between
// two states (either may be null: created or deleted). Objects shared by both
// (the same pointer) are skipped without a comparison.
template <typename T, typename Fn>
void eachChange(const Table<T>& old, const Table<T>& next, Fn&& changed) {
  for (const auto& [name, obj] : next) {
    auto it = old.find(name);
    if (it == old.end()) {
      changed(nullptr, obj.get());
    } else if (it->second != obj && !(*it->second == *obj)) {
      changed(it->second.get(), obj.get());
    }
  }
  for (const auto& [name, obj] : old) {
    if (!next.count(name)) changed(obj.get(), nullptr);
  }
}

class DesiredState {
 public:
  DesiredState() = default;
  explicit DesiredState(HostSettings host) : host_(std::move(host)) {}
  // Objects read from the state store, as they are (no change validation:
  // each was validated when it was loaded).
  DesiredState(HostSettings host, std::vector<Vpc> vpcs, std::vector<Peering> peerings,
               std::vector<Policy> policies, std::vector<Instance> instances,
               std::vector<Lab> labs = {}, std::vector<PortForward> forwards = {},
               std::vector<Impairment> impairments = {}, std::vector<FlowLog> flowLogs = {});

  // What start-up held back because its state file could not be read: it
  // is in none of the tables, its names and transit /30s stay taken, and a
  // change touching it is a 409 naming the file (lib/model/quarantine.h).
  void hold(Quarantine q) { quarantine_ = std::make_shared<const Quarantine>(std::move(q)); }
  const Quarantine& quarantine() const;

  DesiredState with(const Change& c) const;
  DesiredState with(const std::vector<Change>& changes) const;

  const HostSettings& host() const { return host_; }
  // The same objects on a host whose settings changed (the uplink moved):
  // only the host's side of the kernel follows from it.
  DesiredState withHost(HostSettings host) const {
    DesiredState next = *this;
    next.host_ = std::move(host);
    return next;
  }
  const Table<Vpc>& vpcs() const { return vpcs_; }
  const std::map<std::string, Peering>& peerings() const { return peerings_; }
  const Table<Policy>& policies() const { return policies_; }
  const Table<Instance>& instances() const { return instances_; }
  const Table<Lab>& labs() const { return labs_; }
  const Table<PortForward>& portForwards() const { return forwards_; }
  const Table<Impairment>& impairments() const { return impairments_; }
  const Table<FlowLog>& flowLogs() const { return flowLogs_; }

  // nullptr when absent.
  const Vpc* findVpc(const std::string& name) const;
  const Subnet* findSubnet(const SubnetRef& ref) const;
  const Peering* findPeering(const std::string& name) const;
  const Policy* findPolicy(const std::string& name) const;
  const Instance* findInstance(const std::string& name) const;
  const Lab* findLab(const std::string& name) const;
  const PortForward* findPortForward(const std::string& name) const;
  const Impairment* findImpairment(const std::string& name) const;
  const FlowLog* findFlowLog(const std::string& name) const;
  // NotFound errors naming the object.
  const Vpc& vpc(const std::string& name) const;
  const Subnet& subnet(const SubnetRef& ref) const;
  const Peering& peering(const std::string& name) const;
  const Policy& policy(const std::string& name) const;
  const Instance& instance(const std::string& name) const;
  const Lab& lab(const std::string& name) const;
  const PortForward& portForward(const std::string& name) const;
  const Impairment& impairment(const std::string& name) const;
  const FlowLog& flowLog(const std::string& name) const;
  // "vpc prod", "policy db-in": every object the lab owns, in no set order.
  std::vector<std::string> ownedBy(const std::string& lab) const;

  // Policies with a target in the subnet (in any subnet of the VPC when
  // ref.subnet is empty), and "instance/eth<k>" of the NICs there.
  std::vector<std::string> policiesOn(const SubnetRef& ref) const;
  std::vector<std::string> nicsIn(const SubnetRef& ref) const;
  // Port forwards into the subnet (any subnet of the VPC when ref.subnet is
  // empty), or to an instance (any of its NICs when nic is empty).
  std::vector<std::string> forwardsInto(const SubnetRef& ref) const;
  std::vector<std::string> forwardsTo(const std::string& instance, const std::string& nic) const;
  // Impairments on a subnet's host link (any subnet of the VPC when
  // ref.subnet is empty), on an instance's NICs (one NIC when nic is not
  // empty), on a peering.
  std::vector<std::string> impairmentsOn(const SubnetRef& ref) const;
  std::vector<std::string> impairmentsOnNic(const std::string& instance,
                                            const std::string& nic) const;
  std::vector<std::string> impairmentsOnPeering(const std::string& peering) const;
  // Flow logs of the subnet (ref.subnet empty: of the VPC or any subnet in it).
  std::vector<std::string> flowLogsOn(const SubnetRef& ref) const;
  // The addresses of a subnet that are neither reserved nor held by a NIC,
  // lowest first.
  std::vector<Ipv4> availableIps(const SubnetRef& ref, size_t limit) const;
  // VPC uplinks and active peering links share the transit pool.
  std::set<int> usedTransitIndexes() const;
  size_t subnetCount() const;

 private:
  // One `apply` per kind of change, on a state being built (`*this` is the
  // working copy inside `with`).
  void apply(const change::CreateVpc& c);
  void apply(const change::DeleteVpc& c);
  void apply(const change::CreateSubnet& c);
  void apply(const change::DeleteSubnet& c);
  void apply(const change::RequestPeering& c);
  void apply(const change::AcceptPeering& c);
  void apply(const change::RejectPeering& c);
  void apply(const change::DeletePeering& c);
  void apply(const change::ExpirePeerings& c);
  void apply(const change::PutPolicy& c);
  void apply(const change::DeletePolicy& c);
  void apply(const change::CreateInstance& c);
  void apply(const change::DeleteInstance& c);
  void apply(const change::UpdateInstance& c);
  void apply(const change::AddNic& c);
  void apply(const change::RemoveNic& c);
  void apply(const change::CreatePortForward& c);
  void apply(const change::DeletePortForward& c);
  void apply(const change::PutImpairment& c);
  void apply(const change::DeleteImpairment& c);
  void apply(const change::ExpireImpairments& c);
  void apply(const change::PutFlowLog& c);
  void apply(const change::DeleteFlowLog& c);
  void apply(const change::Adopt& c);
  void apply(const change::PutLab& c);
  void apply(const change::DeleteLab& c);

  // 409 naming the policies, then the instance NICs, that still use a VPC or
  // subnet (ref.subnet empty: any subnet of the VPC).
  void requireUnused(const SubnetRef& ref) const;
  Peering& pending(const std::string& name, const std::string& verb);
  void resolveTargets(Policy& p, bool list) const;
  // Fills in what a forward's target names (lib/model/desired_forwards.cpp).
  void resolveTarget(PortForward& f) const;
  // Fills in what an impairment's target names (desired_impairments.cpp).
  void resolveTarget(Impairment& i) const;
  // 409 when `names` (impairments on `what`) is not empty.
  static void requireUnimpaired(const std::vector<std::string>& names, const std::string& what);
  // 409 when another enabled impairment acts on the same link and direction.
  void requireOnlyImpairment(const Impairment& i) const;
  Nic allocateNic(const NicRequest& r, const std::string& instance, int index) const;
  int freeTransitIndex() const;
  // 409 naming the file when start-up held `kind name` back (or everything).
  void refuseIfHeld(const std::string& kind, const std::string& name,
                    const std::string& field = "") const;
  void refuseIfAllHeld() const {
    if (quarantine_ && !quarantine_->all.empty()) quarantine_->refuse("", "");
  }

  HostSettings host_;
  Table<Vpc> vpcs_;
  std::map<std::string, Peering> peerings_;  // few, and small: held by value
  Table<Policy> policies_;
  Table<Instance> instances_;
  Table<Lab> labs_;
  Table<PortForward> forwards_;
  Table<Impairment> impairments_;
  Table<FlowLog> flowLogs_;
  std::shared_ptr<const Quarantine> quarantine_;  // null: nothing held
};

// 409 unless `actor` (a lab, or "" for the plain API) owns the object.
void requireOwner(const std::string& kind, const std::string& name, const std::string& owner,
                  const std::string& actor);

// The VPCs an instance has NICs in; the VPCs a policy has targets in.
std::set<std::string> vpcsOf(const Instance& i);
std::set<std::string> vpcsOf(const Policy& p);

// Where the step old -> next acts, for permissions scoped to VPCs: each
// entry is met by a right on any one of its VPCs. A VPC (or its subnets)
// changed, and every VPC of a changed policy or instance, before or after,
// is an entry of its own. A peering is acted on from one side: its request
// from the requesting VPC, its accept or reject from the peer VPC (never
// the requester's say-so), its deletion from either; an expiry is time's.
std::vector<std::set<std::string>> actedOn(const DesiredState& old, const DesiredState& next);

}  // namespace vpcd
