// Port forwards: create, read, delete.
#include "daemon/service.h"

namespace vpcd {

using nlohmann::json;

json ForwardService::shown(const PortForward& f) const {
  return engine_.withEnforcement(toJson(f), {f.vpc});
}

Reply ForwardService::list() const {
  json items = json::array();
  for (const auto& [name, f] : engine_.state().portForwards()) items.push_back(shown(*f));
  return {200, json{{"items", items}}};
}

Reply ForwardService::get(const std::string& name) const {
  return {200, shown(engine_.state().portForward(name))};
}

Reply ForwardService::create(const json& body) {
  PortForward f = parsePortForward(body, nowSeconds());
  const DesiredState& current = engine_.state();
  bool created = current.findPortForward(f.name) == nullptr;
  // The same forward again answers 200 with what is there (a re-run script).
  engine_.commit(current.with(change::CreatePortForward{f}));
  return {created ? 201 : 200, shown(engine_.state().portForward(f.name))};
}

Reply ForwardService::remove(const std::string& name) {
  json gone = toJson(engine_.state().portForward(name));
  engine_.commit(engine_.state().with(change::DeletePortForward{name, ""}));
  return {200, gone};
}

}  // namespace vpcd
