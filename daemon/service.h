#pragma once
// The VPC service: validates a request against the current state, writes the
// new state to disk, then reconciles the kernel objects it touches.
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/config.h"
#include "lib/kernel/kernel.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"
#include "lib/plan/desired.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"

namespace vpcd {

// A result for the API: the HTTP status and the JSON body.
struct Reply {
  int status = 200;
  nlohmann::json body;
};

class VpcService {
 public:
  VpcService(DaemonConfig config, StateStore& store, Kernel& kernel, Reconciler& reconciler);

  // Loads the state files and brings the kernel to them. Returns the report.
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

  Reply plan();
  Reply status();

  const DaemonConfig& config() const { return config_; }
  size_t vpcCount() const { return vpcs_.size(); }

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
  void requireNoPolicies(const std::string& vpc, const std::string& subnet) const;
  static Scope routersOf(const std::set<std::string>& vpcs);

  DaemonConfig config_;
  StateStore& store_;
  Kernel& kernel_;
  Reconciler& reconciler_;
  std::map<std::string, Vpc> vpcs_;
  std::map<std::string, Peering> peerings_;
  std::map<std::string, Policy> policies_;

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
