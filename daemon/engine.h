#pragma once
// The one path every change takes (design.md, how a request flows):
//   next = current.with(change)    (the services, validation)
//   delta = picture.delta(next)    (desired kernel state, rebuilt where inputs changed)
//   store.commit(current, next)    (the files that changed, before the kernel)
//   reconcile(delta.scope())       (the namespaces whose desired content changed)
// The engine owns the current desired state and its kernel picture; the
// services per resource hold no state of their own.
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/events.h"
#include "lib/kernel/kernel.h"
#include "lib/model/desired_state.h"
#include "lib/plan/picture.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"

namespace vpcd {

// What to run so that `blocker` (a forwardBlockers() line: another
// firewall that drops forwarded traffic) lets the VPCs' traffic through, in
// that firewall's own tool; vpcd never changes another tool's tables.
std::string forwardFix(const std::string& blocker, const Cidr& pool);

class Engine {
 public:
  Engine(DaemonConfig config, StateStore& store, Kernel& kernel, Reconciler& reconciler);

  // Reads the state files (start() does if nobody did).
  void load();
  // Brings the kernel to the state: every namespace, every marked one.
  ReconcileReport start();

  const DesiredState& state() const { return state_; }
  const DaemonConfig& config() const { return config_; }
  Kernel& kernel() { return kernel_; }
  StateStore& store() { return store_; }

  // Permissions scoped to VPCs, for the request being served: the guard
  // throws (403) unless the caller may act on each entry of what a step
  // acts on (actedOn). Unset: anyone may, as for root.
  using Guard = std::function<void(const std::vector<std::set<std::string>>& actedOn)>;
  void setGuard(Guard guard) { guard_ = std::move(guard); }
  // The guard's verdict on `next`, or on acting on these VPCs, before a
  // service does anything the commit would not undo (ending a command).
  void authorize(const DesiredState& next) const {
    if (guard_) guard_(actedOn(state_, next));
  }
  void authorize(const std::set<std::string>& vpcs) const {
    std::vector<std::set<std::string>> each;
    for (const auto& v : vpcs) each.push_back({v});
    if (guard_) guard_(each);
  }

  // Makes `next` the desired state: computes what changes in the kernel
  // picture (a policy that cannot be compiled is refused here, with nothing
  // written), refuses namespaces it would add that exist and are not vpcd's
  // (409), writes what changed to the store, then reconciles exactly the
  // namespaces whose desired content changed. A kernel failure is a 500 with
  // the kernel's words; the state stays written and the next pass repairs.
  void commit(const DesiredState& next);

  // The kernel changed under these namespaces (or namespace files): reconcile
  // what each belongs to, and the host if it is among them. Returns false
  // when the repair failed and should be tried again.
  // `changed` may hold EventSource::kUplinkKey: the host's default route
  // may have moved, and the uplink follows it (followUplink).
  bool repairDrift(const std::set<std::string>& changed);

  // Unless the uplink is pinned (--uplink), makes the device of the host's
  // default route the uplink ("" while there is none): the host's NAT and
  // forwarding follow. Returns whether it moved; the host is then to be
  // reconciled.
  bool followUplink();

  // Called after every reconcile, so a drift watch can follow the namespaces
  // and drop what the pass itself caused. After a pass over everything,
  // `watch` is every namespace that should exist (watch exactly those);
  // otherwise `watch` and `unwatch` are the namespaces of the pass that
  // should and should not exist. `passed` is what the pass looked at.
  struct PassDone {
    bool everything = false;
    std::set<std::string> watch, unwatch, passed;
  };
  using AfterReconcile = std::function<void(const PassDone&)>;
  void setAfterReconcile(AfterReconcile hook) { afterReconcile_ = std::move(hook); }

  // Told of every pass, for the metrics: what caused it ("start",
  // "request", "drift"), how it went, and for a drift pass the namespaces
  // that drifted.
  using PassObserver = std::function<void(const std::string& trigger, const ReconcileReport&,
                                          const std::set<std::string>& drifted)>;
  void setPassObserver(PassObserver hook) { passObserver_ = std::move(hook); }
  uint64_t uplinkMoves() const { return uplinkMoves_; }

  // What happened, for GET /v1/events: every committed change, drift repair,
  // reconcile error and uplink move is added here as it happens.
  EventLog& events() { return events_; }

  // `object` (an API object's JSON) with whether the kernel holds what it
  // asks for: "enforced" is false while the last pass over any of `vpcs`
  // failed, and "enforcement" says since when and why. A failed change is
  // never shown as in force, whichever object of the VPC it came from.
  nlohmann::json withEnforcement(nlohmann::json object, const std::set<std::string>& vpcs) const;

  // Called with every new desired state (at start and with each commit,
  // before its reconcile): what follows the state outside the kernel (the
  // namespaces' /etc files, the resolvers).
  using AfterCommit = std::function<void(const DesiredState&)>;
  void setAfterCommit(AfterCommit hook) { afterCommit_ = std::move(hook); }

  // What commit(next) would do to the kernel, changing nothing: the actions
  // of a reconcile of the namespaces whose desired content would change, as
  // `plan` lists them. Refuses, as commit does, namespaces it would add that
  // exist and are not vpcd's.
  nlohmann::json preview(const DesiredState& next);

  // How many links dying with namespaces the passes deleted were reported
  // since start: a request waits only when its own passes added some.
  uint64_t vanishingReported() const { return vanishingReported_; }
  // Those links may still be there for a moment. A DELETE answers once none
  // is left, so that `ip link` after it shows nothing; the daemon's loop
  // polls this meanwhile instead of waiting in the pass. Returns whether any
  // is left; with `force` (past the wait's limit) those left are deleted
  // explicitly.
  bool settleVanishing(bool force);

  nlohmann::json plan();
  nlohmann::json status();
  // "ready: 3 VPCs, 12 subnets, 2 instances", for systemd's STATUS=.
  std::string summary() const;
  // Other firewalls in the host: what drops forwarded traffic, and (with
  // docker_compat) vpcd's accepts in DOCKER-USER for the transit links.
  void updateCoexistence();

 private:
  ReconcileReport reconcile(const Scope& scope, const std::string& trigger,
                            const std::set<std::string>& drifted = {});
  void record(const std::string& vpc, const ReconcileReport& report, bool drift);
  // Adds the transit /30s held objects still use in the kernel to `held`.
  void reserveHeldTransit(Quarantine& held);
  // Gives a free /30 to each VPC whose transit /30 another VPC, an active
  // peering or a held object also has; saved, and logged.
  void separateTransit(std::vector<Vpc>& vpcs, const std::vector<Peering>& peerings,
                       const Quarantine& held);
  void requireFreeNamespaces(const std::vector<std::string>& added);

  DaemonConfig config_;
  StateStore& store_;
  Kernel& kernel_;
  Reconciler& reconciler_;
  DesiredState state_;
  KernelPicture picture_;
  bool loaded_ = false;
  std::vector<std::string> forwardBlockers_;
  std::vector<std::string> warned_;  // blockers already logged
  std::string dockerUser_ = "off";   // off, "N rules", "no DOCKER-USER chain"

  struct VpcStatus {
    std::chrono::system_clock::time_point lastReconcile{};
    std::chrono::microseconds duration{0};
    uint64_t applied = 0;
    std::string error;
    // When the VPC entered its present condition (enforced or failing).
    std::chrono::system_clock::time_point since{};
    uint64_t repairs = 0;  // drift reconciles that changed the kernel
    std::chrono::system_clock::time_point lastRepair{};
  };
  std::map<std::string, VpcStatus> status_;
  // Since when the uplink is what it is, and how often it moved.
  std::chrono::system_clock::time_point uplinkSince_ = std::chrono::system_clock::now();
  uint64_t uplinkMoves_ = 0;
  bool uplinkPending_ = false;  // moved, and no pass over the host has applied it yet
  ReconcileReport startReport_;
  AfterReconcile afterReconcile_;
  PassObserver passObserver_;
  EventLog events_;
  AfterCommit afterCommit_;
  Guard guard_;
  std::vector<std::pair<std::string, std::string>> vanishing_;
  uint64_t vanishingReported_ = 0;
};

}  // namespace vpcd
