// The peering half of VpcService: request, accept, reject, delete.
#include <ctime>

#include "daemon/service.h"
#include "lib/ipam/ipam.h"
#include "lib/model/api_error.h"
#include "lib/model/names.h"

namespace vpcd {

using nlohmann::json;

int64_t VpcService::now() {
  return static_cast<int64_t>(std::time(nullptr));
}

std::set<int> VpcService::usedTransitIndexes() const {
  // VPC uplinks and active peering links share the transit pool.
  std::set<int> used;
  for (const auto& [name, vpc] : vpcs_) used.insert(vpc.transitIndex);
  for (const auto& [name, p] : peerings_) {
    if (p.state == PeeringState::Active) used.insert(p.transitIndex);
  }
  return used;
}

void VpcService::expirePeerings() {
  for (auto& [name, p] : peerings_) {
    if (expire(p, now())) store_.savePeering(p);
  }
}

Peering& VpcService::requirePeering(const std::string& name) {
  expirePeerings();
  auto it = peerings_.find(name);
  if (it == peerings_.end()) throw ApiError::notFound("peering " + name + " not found");
  return it->second;
}

Peering& VpcService::requirePending(const std::string& name, const std::string& verb) {
  Peering& p = requirePeering(name);
  if (p.state != PeeringState::Pending) {
    throw ApiError::conflict("peering " + name + " is " + toString(p.state) +
                             "; only a pending-acceptance peering can be " + verb);
  }
  return p;
}

Reply VpcService::listPeerings() {
  expirePeerings();
  json items = json::array();
  for (const auto& [name, p] : peerings_) items.push_back(toJson(p, config_.transitPool));
  return {200, json{{"items", items}}};
}

Reply VpcService::getPeering(const std::string& name) {
  return {200, toJson(requirePeering(name), config_.transitPool)};
}

Reply VpcService::createPeering(const json& body) {
  expirePeerings();
  Peering p = parsePeeringRequest(body, now());
  auto existing = peerings_.find(p.name);
  if (existing != peerings_.end()) {
    // Identical when it names the same VPCs and, with defaults filled in, the
    // same allow-lists; a re-run script then gets the peering it made.
    Peering probe = p;
    for (const auto* side : {&p.vpc, &p.peerVpc}) {
      if (!probe.allowed.count(*side) && vpcs_.count(*side))
        probe.allowed[*side] = {vpcs_.at(*side).cidr};
    }
    const Peering& have = existing->second;
    if (have.vpc == probe.vpc && have.peerVpc == probe.peerVpc && have.allowed == probe.allowed) {
      return {200, toJson(have, config_.transitPool)};
    }
    throw ApiError::conflict("peering " + p.name + " exists between " + have.vpc + " and " +
                                 have.peerVpc + " with other allowed cidrs",
                             "name");
  }
  checkPeering(p, vpcs_, peerings_);
  store_.savePeering(p);
  peerings_[p.name] = p;
  return {201, toJson(p, config_.transitPool)};
}

Reply VpcService::acceptPeering(const std::string& name) {
  Peering& current = requirePending(name, "accepted");
  checkNoAmbiguousRoutes(current, peerings_);
  auto index = lowestFreeIndex(usedTransitIndexes(), transitCapacity(config_.transitPool));
  if (!index) {
    throw ApiError::unprocessable("transit pool " + config_.transitPool.str() +
                                  " has no free /30 left");
  }
  Peering p = current;
  p.state = PeeringState::Active;
  p.acceptedAt = now();
  p.transitIndex = *index;
  store_.savePeering(p);
  current = p;
  converge({p.vpc, p.peerVpc}, Scope::of({routerNamespace(p.vpc), routerNamespace(p.peerVpc)}));
  return {200, toJson(p, config_.transitPool)};
}

Reply VpcService::rejectPeering(const std::string& name) {
  Peering& current = requirePending(name, "rejected");
  Peering p = current;
  p.state = PeeringState::Rejected;
  p.rejectedAt = now();
  store_.savePeering(p);
  current = p;  // never programmed, so nothing to undo in the kernel
  return {200, toJson(p, config_.transitPool)};
}

Reply VpcService::deletePeering(const std::string& name) {
  Peering p = requirePeering(name);
  store_.removePeering(name);
  peerings_.erase(name);
  if (p.state == PeeringState::Active) {
    std::set<std::string> scope;
    for (const auto& side : {p.vpc, p.peerVpc}) {
      if (vpcs_.count(side)) scope.insert(routerNamespace(side));
    }
    converge({p.vpc, p.peerVpc}, Scope::of(scope));
  }
  json out = toJson(p, config_.transitPool);
  out["state"] = "deleted";
  return {200, out};
}

}  // namespace vpcd
