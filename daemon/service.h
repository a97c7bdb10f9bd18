#pragma once
// The VPC service: validates a request against the current state, writes the
// new state to disk, then reconciles the kernel objects it touches.
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "daemon/commands.h"
#include "daemon/config.h"
#include "lib/kernel/kernel.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"
#include "lib/plan/desired.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"

namespace vpcd {

// A file the HTTP layer streams as it grows (serial output with ?follow=1),
// from `offset`, until `active` says the writer is gone.
struct Follow {
  std::string path;
  uint64_t offset = 0;
  std::function<bool()> active;
};

// A result for the API: the HTTP status and the JSON body, or a stream.
struct Reply {
  int status = 200;
  nlohmann::json body;
  std::optional<Follow> follow;
};

class VpcService {
 public:
  VpcService(DaemonConfig config, StateStore& store, Kernel& kernel, Reconciler& reconciler);

  // Reads the state files (start() does if nobody did).
  void load();
  // Brings the kernel to the state. Returns the report.
  ReconcileReport start();

  // Called after every reconcile with the namespaces that should exist, so a
  // drift watch can follow them.
  void setAfterReconcile(std::function<void(const std::set<std::string>&)> hook) {
    afterReconcile_ = std::move(hook);
  }

  // The kernel changed under these namespaces (or namespace files): reconcile
  // the VPCs they belong to, and the host if it is among them. Logs what was
  // repaired.
  // Returns false when the repair failed and should be tried again.
  bool repairDrift(const std::set<std::string>& changed);

  Reply listVpcs() const;
  Reply getVpc(const std::string& vpc) const;
  Reply createVpc(const nlohmann::json& body);
  Reply deleteVpc(const std::string& vpc);
  Reply listSubnets(const std::string& vpc) const;
  Reply getSubnet(const std::string& vpc, const std::string& subnet) const;
  Reply createSubnet(const std::string& vpc, const nlohmann::json& body);
  Reply deleteSubnet(const std::string& vpc, const std::string& subnet);
  Reply listPeerings();
  Reply getPeering(const std::string& name);
  Reply createPeering(const nlohmann::json& body);
  Reply acceptPeering(const std::string& name);
  Reply rejectPeering(const std::string& name);
  Reply deletePeering(const std::string& name);

  Reply listPolicies() const;
  Reply getPolicy(const std::string& name) const;
  Reply putPolicy(const std::string& name, const nlohmann::json& body);
  Reply deletePolicy(const std::string& name);
  Reply policyStats(const std::string& name);

  using Query = std::map<std::string, std::string>;
  Reply listInstances(const Query& q) const;
  Reply getInstance(const std::string& name) const;
  Reply createInstance(const nlohmann::json& body);
  Reply deleteInstance(const std::string& name);
  Reply stopInstance(const std::string& name);
  Reply startInstance(const std::string& name);
  Reply resetInstance(const std::string& name);
  Reply addNic(const std::string& name, const nlohmann::json& body);
  Reply removeNic(const std::string& name, const std::string& nic);
  Reply serialOutput(const std::string& name, const Query& q) const;
  Reply availableIps(const std::string& vpc, const std::string& subnet, const Query& q) const;
  // Commands run only when a runner is set (not in a dry run or unit tests).
  void setCommandRunner(CommandRunner* runner) { runner_ = runner; }

  Reply plan();
  Reply status();

  const DaemonConfig& config() const { return config_; }
  size_t vpcCount() const { return vpcs_.size(); }
  // "ready: 3 VPCs, 12 subnets, 2 instances", for systemd's STATUS=.
  std::string summary() const;

 private:
  const Vpc& requireVpc(const std::string& name) const;
  Topology topology() const;
  // Reconciles `scope`; a kernel failure becomes a 500 carrying its message.
  void converge(const std::string& vpc, Scope scope);
  void converge(const std::set<std::string>& vpcs, Scope scope);
  void converge(const std::set<std::string>& vpcs, const KernelState& desired, const Scope& scope);
  std::set<int> usedTransitIndexes() const;
  Peering& requirePeering(const std::string& name);
  Peering& requirePending(const std::string& name, const std::string& verb);
  // Pending requests past their expiry become expired (and are saved so).
  void expirePeerings();
  static int64_t now();
  void requireFreeNamespace(const std::string& ns);
  static std::set<std::string> namespacesOf(const Vpc& vpc);
  // The VPC a namespace name belongs to ("" for none): vpc-<vpc>[.<subnet>].
  std::string vpcOfNamespace(const std::string& ns) const;
  ReconcileReport reconcile(const Scope& scope);
  ReconcileReport reconcile(const KernelState& desired, const Scope& scope);
  const Policy& requirePolicy(const std::string& name) const;
  void resolveTargets(Policy& p, bool list) const;
  static std::set<std::string> vpcsOf(const Policy& p);
  // Policies applying to a subnet (or to any subnet of the VPC when empty).
  std::vector<std::string> policiesOn(const std::string& vpc, const std::string& subnet) const;
  static Scope routersOf(const std::set<std::string>& vpcs);
  Instance& requireInstance(const std::string& name);
  const Instance& requireInstance(const std::string& name) const;
  // The NICs in a subnet (or in any subnet of the VPC when empty), by instance.
  std::vector<std::string> instancesIn(const std::string& vpc, const std::string& subnet) const;
  // 409 naming the policies, then the instance NICs, that still use a VPC or
  // subnet (subnet empty: any subnet of the VPC).
  void requireUnused(const std::string& vpc, const std::string& subnet) const;
  Nic allocateNic(const NicRequest& r, const std::string& instance,
                  const std::string& nicName) const;
  // Saves `i` and brings its namespace and the routers of its VPCs to it.
  void applyInstance(const Instance& i, const std::set<std::string>& extraVpcs = {});
  static std::set<std::string> vpcsOf(const Instance& i);
  void writeHostsFiles() const;
  void startCommand(Instance& i);
  void stopCommand(Instance& i);
  bool commandRunning(const Instance& i) const;
  // At start: adopt a RUNNING instance's command still alive, or start it again.
  void resumeCommands();
  // Other firewalls in the host: what drops forwarded traffic, and (with
  // docker_compat) vpcd's accepts in DOCKER-USER for the transit links.
  void updateCoexistence();

  DaemonConfig config_;
  StateStore& store_;
  Kernel& kernel_;
  Reconciler& reconciler_;
  std::map<std::string, Vpc> vpcs_;
  std::map<std::string, Peering> peerings_;
  std::map<std::string, Policy> policies_;
  std::map<std::string, Instance> instances_;
  CommandRunner* runner_ = nullptr;
  bool loaded_ = false;
  std::vector<std::string> forwardBlockers_;
  std::vector<std::string> warned_;  // blockers already logged
  std::string dockerUser_ = "off";   // off, "N rules", "no DOCKER-USER chain"

  struct VpcStatus {
    std::chrono::system_clock::time_point lastReconcile{};
    std::chrono::microseconds duration{0};
    uint64_t applied = 0;
    std::string error;
    uint64_t repairs = 0;  // drift reconciles that changed the kernel
    std::chrono::system_clock::time_point lastRepair{};
  };
  void record(const std::string& vpc, const ReconcileReport& report, bool drift);
  std::map<std::string, VpcStatus> status_;
  ReconcileReport startReport_;
  std::function<void(const std::set<std::string>&)> afterReconcile_;
};

}  // namespace vpcd
