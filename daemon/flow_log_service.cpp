// Flow logs: put (create, change, switch on and off), read, delete, and the
// records they write.
#include "daemon/flow_collector.h"
#include "daemon/service.h"
#include "lib/model/error.h"

namespace vpcd {

using nlohmann::json;

json FlowLogService::shown(const FlowLog& f) const {
  json out = engine_.withEnforcement(toJson(f), {f.vpc});
  out["records"] = "/v1/vpcs/" + f.vpc + "/flow-logs";
  out["file"] = engine_.store().flowRecordsPath(f.vpc);
  return out;
}

Reply FlowLogService::list() const {
  json items = json::array();
  for (const auto& [name, f] : engine_.state().flowLogs()) items.push_back(shown(*f));
  return {200, json{{"items", items}}};
}

Reply FlowLogService::get(const std::string& name) const {
  return {200, shown(engine_.state().flowLog(name))};
}

Reply FlowLogService::put(const std::string& name, const json& body) {
  FlowLog f = parseFlowLog(body, name, nowSeconds());
  bool created = engine_.state().findFlowLog(name) == nullptr;
  engine_.commit(engine_.state().with(change::PutFlowLog{f}));
  return {created ? 201 : 200, shown(engine_.state().flowLog(name))};
}

Reply FlowLogService::remove(const std::string& name) {
  json gone = toJson(engine_.state().flowLog(name));
  engine_.commit(engine_.state().with(change::DeleteFlowLog{name, ""}));
  return {200, gone};
}

std::optional<std::map<std::string, FlowRecordCounts>> FlowLogService::written() const {
  if (!collector_) return std::nullopt;
  return collector_->written();
}

Reply FlowLogService::records(const std::string& vpc, const Query& q) {
  const DesiredState& state = engine_.state();
  if (collector_) {
    return collector_->records(state, vpc, q,
                               [this, vpc] { return engine_.state().findVpc(vpc) != nullptr; });
  }
  auto f = q.find("follow");
  if (f != q.end() && f->second != "0" && f->second != "false")
    throw DomainError::conflict("follow: flow records are collected only on the real kernel",
                                "follow");
  return recordsFromFile(state, vpc, engine_.store().flowRecordsPath(vpc), q);
}

}  // namespace vpcd
