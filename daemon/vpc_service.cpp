// VPCs and subnets: create, read, delete, and a subnet's free addresses.
#include <ctime>

#include "daemon/service.h"
#include "lib/model/error.h"

namespace vpcd {

using nlohmann::json;

int64_t nowSeconds() {
  return static_cast<int64_t>(std::time(nullptr));
}

Reply VpcService::list() const {
  json items = json::array();
  for (const auto& [name, vpc] : engine_.state().vpcs())
    items.push_back(engine_.withEnforcement(toJson(*vpc, engine_.config().transitPool), {name}));
  return {200, json{{"items", items}}};
}

Reply VpcService::get(const std::string& vpc) const {
  const DesiredState& s = engine_.state();
  json out = toJson(s.vpc(vpc), engine_.config().transitPool);
  out["flow_logs"] = s.flowLogsOn({vpc, ""});  // of the VPC or of a subnet in it
  return {200, engine_.withEnforcement(out, {vpc})};
}

Reply VpcService::create(const json& body) {
  Vpc vpc = parseVpcRequest(body);
  const DesiredState& current = engine_.state();
  bool existed = current.findVpc(vpc.name) != nullptr;
  engine_.commit(current.with(change::CreateVpc{vpc}));
  return {existed ? 200 : 201,
          engine_.withEnforcement(
              toJson(engine_.state().vpc(vpc.name), engine_.config().transitPool), {vpc.name})};
}

Reply VpcService::remove(const std::string& name) {
  const DesiredState& current = engine_.state();
  json gone = toJson(current.vpc(name), engine_.config().transitPool);
  // Expired requests do not hold a VPC: expiring is part of the same change.
  engine_.commit(current.with({change::ExpirePeerings{nowSeconds()}, change::DeleteVpc{name}}));
  return {200, gone};
}

Reply VpcService::listSubnets(const std::string& vpc) const {
  const Vpc& v = engine_.state().vpc(vpc);
  json items = json::array();
  for (const auto& s : v.subnets) items.push_back(engine_.withEnforcement(toJson(s, v), {vpc}));
  return {200, json{{"items", items}}};
}

Reply VpcService::getSubnet(const SubnetRef& ref) const {
  const DesiredState& s = engine_.state();
  json out = toJson(s.subnet(ref), s.vpc(ref.vpc));
  out["impairments"] = impairmentSummaries(s, s.impairmentsOn(ref));
  // The flow logs that record this subnet's flows: its own and the VPC's.
  json logs = json::array();
  for (const auto& [name, f] : s.flowLogs()) {
    if (f->vpc == ref.vpc && (f->subnet.empty() || f->subnet == ref.subnet)) logs.push_back(name);
  }
  out["flow_logs"] = logs;
  return {200, engine_.withEnforcement(out, {ref.vpc})};
}

Reply VpcService::createSubnet(const std::string& vpc, const json& body) {
  Subnet subnet = parseSubnetRequest(body);
  const DesiredState& current = engine_.state();
  bool existed = current.vpc(vpc).findSubnet(subnet.name) != nullptr;
  engine_.commit(current.with(change::CreateSubnet{vpc, subnet}));
  const DesiredState& now = engine_.state();
  SubnetRef ref{vpc, subnet.name};
  return {existed ? 200 : 201,
          engine_.withEnforcement(toJson(now.subnet(ref), now.vpc(vpc)), {vpc})};
}

Reply VpcService::removeSubnet(const SubnetRef& ref) {
  const DesiredState& current = engine_.state();
  json gone = toJson(current.subnet(ref), current.vpc(ref.vpc));
  engine_.commit(current.with(change::DeleteSubnet{ref}));
  return {200, gone};
}

Reply VpcService::availableIps(const SubnetRef& ref, const Query& q) const {
  engine_.state().subnet(ref);
  size_t limit = 50;
  if (q.count("limit")) {
    const std::string& text = q.at("limit");
    bool digits =
        !text.empty() && text.size() <= 5 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(text) < 1 || std::stoul(text) > 4096)
      throw DomainError::invalid("limit", "must be a number from 1 to 4096");
    limit = std::stoul(text);
  }
  json items = json::array();
  for (const auto& ip : engine_.state().availableIps(ref, limit)) items.push_back(ip.str());
  return {200, json{{"items", items}}};
}

}  // namespace vpcd
