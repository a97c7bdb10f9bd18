#pragma once
// Flow logs as values: which traffic of a VPC (the whole VPC or one subnet)
// is written as AWS-style flow records, and over what aggregation window
// (docs/operations.md, "Flow logs"). The records themselves are made by the
// daemon from conntrack and the firewall's drops (daemon/flow_collector.h).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vpcd {

struct FlowLog {
  std::string name;
  // As written: "prod" (every routed flow of VPC prod) or "prod/web" (the
  // flows with an end in subnet web).
  std::string target;
  std::string vpc, subnet;  // what target names; subnet "" for a whole VPC
  bool enabled = true;
  // Seconds a record covers at most (AWS: 60 or 600; here any from 1 to
  // 600, so that a lab's check need not wait a minute).
  int aggregationS = 60;
  int64_t createdAt = 0;
  std::string lab;  // the lab that owns it; "" when none

  // Whether a flow between `a` and `b` (in the VPC's terms: a subnet name,
  // or "" for an address outside the VPC) is this log's.
  bool covers(const std::string& subnetA, const std::string& subnetB) const {
    return subnet.empty() || subnetA == subnet || subnetB == subnet;
  }
  bool sameEffect(const FlowLog& o) const {
    return target == o.target && enabled == o.enabled && aggregationS == o.aggregationS;
  }
  bool operator==(const FlowLog&) const = default;
};

inline constexpr int kMinAggregationS = 1;
inline constexpr int kMaxAggregationS = 600;

// The body of PUT /v1/flow-logs/{name} (the name from the path when the body
// has none): DomainError naming the field. `target` is split here and
// checked against the state by DesiredState::with.
FlowLog parseFlowLog(const nlohmann::json& body, const std::string& name, int64_t now);

nlohmann::json toJson(const FlowLog& f);
nlohmann::json toState(const FlowLog& f);
FlowLog fromFlowLogState(const nlohmann::json& state);
// The request body that makes `f` again (a lab document's entry).
nlohmann::json toRequest(const FlowLog& f);

}  // namespace vpcd
