#include "lib/model/flow_log.h"

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {

using nlohmann::json;

FlowLog parseFlowLog(const json& body, const std::string& name, int64_t now) {
  requireObject(body, {"name", "target", "enabled", "aggregation_s"});
  FlowLog f;
  f.name = body.contains("name") ? requireString(body, "name") : name;
  requireLabel("name", f.name);
  if (!name.empty() && f.name != name)
    throw DomainError::invalid("name", "\"" + f.name + "\" differs from the name in the path");
  if (!body.contains("target")) throw DomainError::invalid("target", "is required");
  f.target = requireString(body, "target");
  auto slash = f.target.find('/');
  f.vpc = f.target.substr(0, slash);
  f.subnet = slash == std::string::npos ? "" : f.target.substr(slash + 1);
  if (!isLabel(f.vpc) || (slash != std::string::npos && !isLabel(f.subnet)))
    throw DomainError::invalid("target", "\"" + f.target + "\" is not vpc or vpc/subnet");
  if (body.contains("enabled")) {
    if (!body.at("enabled").is_boolean())
      throw DomainError::invalid("enabled", "must be true or false");
    f.enabled = body.at("enabled").get<bool>();
  }
  f.aggregationS = integerOr<int>(body, "aggregation_s", 60);
  if (f.aggregationS < kMinAggregationS || f.aggregationS > kMaxAggregationS)
    throw DomainError::invalid("aggregation_s", "must be from " + std::to_string(kMinAggregationS) +
                                                    " to " + std::to_string(kMaxAggregationS) +
                                                    " seconds");
  f.createdAt = now;
  return f;
}

json toRequest(const FlowLog& f) {
  json out{{"name", f.name}, {"target", f.target}, {"aggregation_s", f.aggregationS}};
  if (!f.enabled) out["enabled"] = false;
  return out;
}

json toJson(const FlowLog& f) {
  json out = toRequest(f);
  out["enabled"] = f.enabled;
  out["vpc"] = f.vpc;
  out["subnet"] = f.subnet.empty() ? json(nullptr) : json(f.vpc + "/" + f.subnet);
  out["created_at"] = isoTime(f.createdAt);
  out["lab"] = labJson(f.lab);
  return out;
}

json toState(const FlowLog& f) {
  json out = toRequest(f);
  out["enabled"] = f.enabled;
  out["created_at"] = f.createdAt;
  if (!f.lab.empty()) out["lab"] = f.lab;
  return out;
}

FlowLog fromFlowLogState(const json& state) {
  json request = state;
  for (const char* k : {"created_at", "lab"}) request.erase(k);
  FlowLog f = parseFlowLog(request, "", integerOr<int64_t>(state, "created_at", 0));
  f.lab = labFrom(state);
  return f;
}

}  // namespace vpcd
