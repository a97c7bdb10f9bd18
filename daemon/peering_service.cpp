// Peerings: request, accept, reject, delete.
#include "daemon/service.h"

namespace vpcd {

using nlohmann::json;

json PeeringService::shown(const std::string& name) const {
  const Peering& p = engine_.state().peering(name);
  return engine_.withEnforcement(toJson(p, engine_.config().transitPool), {p.vpc, p.peerVpc});
}

void PeeringService::expire() {
  const DesiredState& current = engine_.state();
  DesiredState next = current.with(change::ExpirePeerings{nowSeconds()});
  if (next.peerings() != current.peerings()) engine_.commit(next);
}

Reply PeeringService::list() {
  expire();
  json items = json::array();
  for (const auto& [name, p] : engine_.state().peerings()) items.push_back(shown(name));
  return {200, json{{"items", items}}};
}

Reply PeeringService::get(const std::string& name) {
  expire();
  return {200, shown(name)};
}

Reply PeeringService::create(const json& body) {
  int64_t now = nowSeconds();
  Peering p = parsePeeringRequest(body, now);
  const DesiredState& current = engine_.state();
  bool existed = current.findPeering(p.name) != nullptr;
  engine_.commit(current.with({change::ExpirePeerings{now}, change::RequestPeering{p}}));
  return {existed ? 200 : 201, shown(p.name)};
}

Reply PeeringService::accept(const std::string& name) {
  engine_.commit(engine_.state().with(change::AcceptPeering{name, nowSeconds()}));
  return {200, shown(name)};
}

Reply PeeringService::reject(const std::string& name) {
  engine_.commit(engine_.state().with(change::RejectPeering{name, nowSeconds()}));
  return {200, shown(name)};
}

Reply PeeringService::remove(const std::string& name) {
  expire();
  json out = toJson(engine_.state().peering(name), engine_.config().transitPool);
  engine_.commit(engine_.state().with(change::DeletePeering{name}));
  out["state"] = "deleted";
  return {200, out};
}

}  // namespace vpcd
