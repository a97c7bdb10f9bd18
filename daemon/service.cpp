#include "daemon/service.h"

#include "daemon/log.h"
#include "lib/ipam/ipam.h"
#include "lib/model/api_error.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"
#include "lib/plan/nft_rules.h"

namespace vpcd {
namespace {

using nlohmann::json;

double millis(std::chrono::microseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

}  // namespace

VpcService::VpcService(DaemonConfig config, StateStore& store, Kernel& kernel,
                       Reconciler& reconciler)
    : config_(std::move(config)), store_(store), kernel_(kernel), reconciler_(reconciler) {}

void VpcService::load() {
  for (auto& vpc : store_.loadVpcs()) vpcs_[vpc.name] = std::move(vpc);
  for (auto& p : store_.loadPeerings()) peerings_[p.name] = std::move(p);
  for (auto& p : store_.loadPolicies()) policies_[p.name] = std::move(p);
  for (auto& i : store_.loadInstances()) instances_[i.name] = std::move(i);
  loaded_ = true;
}

ReconcileReport VpcService::start() {
  if (!loaded_) load();
  startReport_ = reconcile(Scope::all());
  updateCoexistence();
  writeHostsFiles();
  resumeCommands();
  for (const auto& [name, vpc] : vpcs_) record(name, startReport_, false);
  return startReport_;
}

ReconcileReport VpcService::reconcile(const Scope& scope) {
  return reconcile(desiredState(topology()), scope);
}

ReconcileReport VpcService::reconcile(const KernelState& desired, const Scope& scope) {
  ReconcileReport report = reconciler_.reconcile(desired, scope);
  if (afterReconcile_) {
    std::set<std::string> names;
    for (const auto& [ns, want] : desired) {
      if (ns != kHostNamespace) names.insert(ns);
    }
    afterReconcile_(names);
  }
  return report;
}

void VpcService::record(const std::string& vpc, const ReconcileReport& report, bool drift) {
  VpcStatus& st = status_[vpc];
  st.lastReconcile = std::chrono::system_clock::now();
  st.duration = report.duration;
  st.applied = report.applied.size();
  st.error = report.error;
  if (st.error.empty() && !report.conflicts.empty()) {
    st.error = "namespace " + report.conflicts.front() + " is not managed by vpcd";
  }
  if (drift && !report.applied.empty()) {
    ++st.repairs;
    st.lastRepair = st.lastReconcile;
  }
}

std::string VpcService::vpcOfNamespace(const std::string& ns) const {
  // Labels hold no '.', so vpc-<vpc>.<subnet> splits at the first dot.
  if (ns.rfind("vpc-", 0) != 0) return "";
  std::string vpc =
      ns.substr(4, ns.find('.') == std::string::npos ? std::string::npos : ns.find('.') - 4);
  return vpcs_.count(vpc) ? vpc : "";
}

bool VpcService::repairDrift(const std::set<std::string>& changed) {
  kernel_.invalidate(changed);
  std::set<std::string> vpcs;
  std::set<std::string> scope;
  bool host = false;
  for (const auto& ns : changed) {
    if (ns == kHostNamespace) host = true;
    if (auto vpc = vpcOfNamespace(ns); !vpc.empty()) vpcs.insert(vpc);
    // An instance's namespace is repaired with the routers its NICs are in.
    if (ns.rfind("vm-", 0) == 0 && instances_.count(ns.substr(3))) {
      auto of = vpcsOf(instances_.at(ns.substr(3)));
      vpcs.insert(of.begin(), of.end());
    }
  }
  if (vpcs.empty() && !host) return true;  // someone else's namespace
  for (const auto& vpc : vpcs) {
    auto names = namespacesOf(vpcs_.at(vpc));
    scope.insert(names.begin(), names.end());
  }
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i.nics) {
      if (vpcs.count(n.vpc)) scope.insert(instanceNamespace(name));
    }
  }
  ReconcileReport report = reconcile(Scope::of(scope));
  for (const auto& vpc : vpcs) record(vpc, report, true);
  if (host) updateCoexistence();  // another firewall may have changed too
  std::string what;
  for (const auto& ns : changed) what += (what.empty() ? "" : ", ") + displayName(ns);
  for (const auto& change : report.applied) {
    logLine(5, "drift in " + what + " repaired: " + change);
  }
  if (!report.error.empty()) {
    logLine(3, "drift repair in " + what + " failed, will retry: " + report.error);
  }
  return report.error.empty();
}

Topology VpcService::topology() const {
  Topology t{.uplink = config_.uplink, .transitPool = config_.transitPool};
  for (const auto& [name, vpc] : vpcs_) t.vpcs.push_back(vpc);
  for (const auto& [name, p] : peerings_) t.peerings.push_back(p);
  for (const auto& [name, p] : policies_) t.policies.push_back(p);
  for (const auto& [name, i] : instances_) t.instances.push_back(i);
  return t;
}

std::set<std::string> VpcService::namespacesOf(const Vpc& vpc) {
  std::set<std::string> out{routerNamespace(vpc.name)};
  for (const auto& s : vpc.subnets) out.insert(subnetNamespace(vpc.name, s.name));
  return out;
}

const Vpc& VpcService::requireVpc(const std::string& name) const {
  auto it = vpcs_.find(name);
  if (it == vpcs_.end()) throw ApiError::notFound("vpc " + name + " not found");
  return it->second;
}

void VpcService::converge(const std::string& vpc, Scope scope) {
  converge(std::set<std::string>{vpc}, std::move(scope));
}

void VpcService::converge(const std::set<std::string>& vpcs, Scope scope) {
  converge(vpcs, desiredState(topology()), scope);
}

void VpcService::converge(const std::set<std::string>& vpcs, const KernelState& desired,
                          const Scope& scope) {
  ReconcileReport report = reconcile(desired, scope);
  for (const auto& vpc : vpcs) record(vpc, report, false);
  if (!report.error.empty()) throw ApiError(500, "INTERNAL", report.error);
  if (!report.conflicts.empty()) {
    throw ApiError::conflict(
        "namespace " + report.conflicts.front() +
        " exists and is not managed by vpcd; remove it or choose another name");
  }
}

void VpcService::requireUnused(const std::string& vpc, const std::string& subnet) const {
  auto refuse = [&](const std::vector<std::string>& users, const std::string& what,
                    const std::string& advice) {
    if (users.empty()) return;
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
    throw ApiError::conflict((subnet.empty() ? "vpc " + vpc : "subnet " + vpc + "/" + subnet) +
                             " has " + what + " (" + list + "); " + advice);
  };
  refuse(policiesOn(vpc, subnet), "policies applied",
         "delete them or remove it from their applies_to first");
  refuse(instancesIn(vpc, subnet), "instance NICs", "delete them first");
}

void VpcService::requireFreeNamespace(const std::string& ns) {
  Namespace seen = kernel_.observe(ns, nullptr);
  if (seen.exists && !seen.owned) {
    throw ApiError::conflict("namespace " + ns + " exists and is not managed by vpcd", "name");
  }
}

Reply VpcService::listVpcs() const {
  json items = json::array();
  for (const auto& [name, vpc] : vpcs_) items.push_back(toJson(vpc, config_.transitPool));
  return {200, json{{"items", items}}};
}

Reply VpcService::getVpc(const std::string& vpc) const {
  return {200, toJson(requireVpc(vpc), config_.transitPool)};
}

Reply VpcService::createVpc(const json& body) {
  Vpc vpc = parseVpcRequest(body);
  if (auto it = vpcs_.find(vpc.name); it != vpcs_.end()) {
    const Vpc& have = it->second;
    if (have.cidr == vpc.cidr && have.mtu == vpc.mtu)
      return {200, toJson(have, config_.transitPool)};
    std::string field = have.cidr != vpc.cidr ? "cidr" : "mtu";
    throw ApiError::conflict("vpc " + vpc.name + " exists with cidr " + have.cidr.str() +
                                 " and mtu " + std::to_string(have.mtu),
                             field);
  }
  std::set<int> used = usedTransitIndexes();
  for (const auto& [name, other] : vpcs_) {
    if (transitLinkName(other.name) == transitLinkName(vpc.name)) {
      throw ApiError::conflict("vpc " + vpc.name + ": interface name " + transitLinkName(vpc.name) +
                                   " is already used by vpc " + other.name +
                                   "; choose another name",
                               "name");
    }
  }
  auto index = lowestFreeIndex(used, transitCapacity(config_.transitPool));
  if (!index) {
    throw ApiError::unprocessable("transit pool " + config_.transitPool.str() +
                                  " has no free /30 left");
  }
  vpc.transitIndex = *index;
  requireFreeNamespace(routerNamespace(vpc.name));
  store_.saveVpc(vpc);
  vpcs_[vpc.name] = vpc;
  converge(vpc.name, Scope::of({routerNamespace(vpc.name)}));
  updateCoexistence();
  return {201, toJson(vpc, config_.transitPool)};
}

Reply VpcService::deleteVpc(const std::string& name) {
  Vpc vpc = requireVpc(name);
  requireUnused(name, "");
  expirePeerings();
  for (const auto& [pname, p] : peerings_) {
    if (p.live() && (p.vpc == name || p.peerVpc == name)) {
      throw ApiError::conflict("vpc " + name + " has peering " + pname + " (" + toString(p.state) +
                               "); delete the peering first");
    }
  }
  store_.removeVpc(name);
  vpcs_.erase(name);
  converge(name, Scope::of(namespacesOf(vpc)));
  status_.erase(name);
  updateCoexistence();
  return {200, toJson(vpc, config_.transitPool)};
}

Reply VpcService::listSubnets(const std::string& vpc) const {
  const Vpc& v = requireVpc(vpc);
  json items = json::array();
  for (const auto& s : v.subnets) items.push_back(toJson(s, v));
  return {200, json{{"items", items}}};
}

Reply VpcService::getSubnet(const std::string& vpc, const std::string& subnet) const {
  const Vpc& v = requireVpc(vpc);
  const Subnet* s = v.findSubnet(subnet);
  if (!s) throw ApiError::notFound("subnet " + subnet + " not found in vpc " + vpc);
  return {200, toJson(*s, v)};
}

Reply VpcService::createSubnet(const std::string& vpcName, const json& body) {
  const Vpc& current = requireVpc(vpcName);
  Subnet subnet = parseSubnetRequest(body);
  if (const Subnet* have = current.findSubnet(subnet.name)) {
    if (*have == subnet) return {200, toJson(*have, current)};
    std::string field = have->cidr != subnet.cidr ? "cidr" : "type";
    throw ApiError::conflict("subnet " + subnet.name + " exists in vpc " + vpcName + " with cidr " +
                                 have->cidr.str() + " and type " + toString(have->type),
                             field);
  }
  checkSubnetFits(current, subnet);
  for (const auto& other : current.subnets) {
    if (subnetPortName(other.name) == subnetPortName(subnet.name)) {
      throw ApiError::conflict("subnet " + subnet.name + ": interface name " +
                                   subnetPortName(subnet.name) + " is already used by subnet " +
                                   other.name + "; choose another name",
                               "name");
    }
  }
  std::string ns = subnetNamespace(vpcName, subnet.name);
  requireFreeNamespace(ns);
  Vpc updated = current;
  updated.subnets.push_back(subnet);
  store_.saveVpc(updated);
  vpcs_[vpcName] = updated;
  converge(vpcName, Scope::of({routerNamespace(vpcName), ns}));
  return {201, toJson(subnet, updated)};
}

Reply VpcService::deleteSubnet(const std::string& vpcName, const std::string& subnetName) {
  Vpc updated = requireVpc(vpcName);
  auto it = std::find_if(updated.subnets.begin(), updated.subnets.end(),
                         [&](const Subnet& s) { return s.name == subnetName; });
  if (it == updated.subnets.end()) {
    throw ApiError::notFound("subnet " + subnetName + " not found in vpc " + vpcName);
  }
  requireUnused(vpcName, subnetName);
  json removed = toJson(*it, updated);
  updated.subnets.erase(it);
  store_.saveVpc(updated);
  vpcs_[vpcName] = updated;
  converge(vpcName, Scope::of({routerNamespace(vpcName), subnetNamespace(vpcName, subnetName)}));
  return {200, removed};
}

void VpcService::updateCoexistence() {
  std::vector<std::string> blockers;
  try {
    blockers = kernel_.forwardBlockers();
    if (config_.dockerCompat) {
      std::vector<std::string> transit;
      for (const auto& [name, vpc] : vpcs_) transit.push_back(transitLinkName(name));
      auto rules = transitAccepts(transit);
      dockerUser_ = kernel_.syncMarkedRules(kDockerUserChain, "vpcd", rules)
                        ? std::to_string(rules.size()) + " rules"
                        : "no DOCKER-USER chain in table ip filter";
    }
  } catch (const KernelError& e) {
    blockers = {std::string("(cannot read the host's nftables: ") + e.what() + ")"};
  }
  if (!vpcs_.empty() && blockers != warned_) {
    warned_ = blockers;
    for (const auto& b : blockers) {
      logLine(config_.dockerCompat ? 5 : 4,
              "forwarded traffic is dropped by " + b +
                  (config_.dockerCompat
                       ? "; transit links accepted in DOCKER-USER (" + dockerUser_ + ")"
                       : "; VPCs cannot reach the uplink: allow the t-* links "
                         "there, or run vpcd with --docker-compat"));
    }
  }
  forwardBlockers_ = blockers;
}

std::string VpcService::summary() const {
  size_t subnets = 0;
  for (const auto& [name, vpc] : vpcs_) subnets += vpc.subnets.size();
  return "ready: " + std::to_string(vpcs_.size()) + " VPCs, " + std::to_string(subnets) +
         " subnets, " + std::to_string(instances_.size()) + " instances";
}

Reply VpcService::plan() {
  Plan p = reconciler_.plan(desiredState(topology()), Scope::all());
  json actions = json::array();
  for (const auto& a : p.actions) actions.push_back(a.describe());
  return {200, json{{"actions", actions}, {"conflicts", p.conflicts}, {"converged", p.empty()}}};
}

Reply VpcService::status() {
  // Live: a plan over everything says which VPCs differ from their state now.
  Plan live = reconciler_.plan(desiredState(topology()), Scope::all());
  std::map<std::string, uint64_t> pending;
  for (const auto& a : live.actions) {
    if (auto vpc = vpcOfNamespace(a.ns); !vpc.empty()) ++pending[vpc];
  }
  json vpcs = json::array();
  for (const auto& [name, st] : status_) {
    std::string state = !st.error.empty()     ? "error"
                        : pending.count(name) ? "drifting"
                                              : "converged";
    vpcs.push_back({{"name", name},
                    {"state", state},
                    {"pending_changes", pending.count(name) ? pending.at(name) : 0},
                    {"last_reconcile", isoTime(st.lastReconcile)},
                    {"last_duration_ms", millis(st.duration)},
                    {"last_changes", st.applied},
                    {"last_error", st.error},
                    {"repairs", st.repairs},
                    {"last_repair", isoTime(st.lastRepair)}});
  }
  return {200,
          json{{"vpcs", vpcs},
               {"uplink", config_.uplink},
               {"transit_pool", config_.transitPool.str()},
               {"dry_run", config_.dryRun},
               {"kernel_mutations", kernel_.mutatingCalls()},
               {"forward_blockers", forwardBlockers_},
               {"docker_compat", {{"enabled", config_.dockerCompat}, {"docker_user", dockerUser_}}},
               {"startup",
                {{"changes", startReport_.applied.size()},
                 {"duration_ms", millis(startReport_.duration)},
                 {"conflicts", startReport_.conflicts},
                 {"error", startReport_.error}}}}};
}

}  // namespace vpcd
