// Flow logs in the desired state (declared in desired_state.h): a target
// that exists, an owner, and what a VPC or subnet delete must wait for.
#include "lib/model/desired_helpers.h"

namespace vpcd {

std::vector<std::string> DesiredState::flowLogsOn(const SubnetRef& ref) const {
  std::vector<std::string> out;
  for (const auto& [name, f] : flowLogs_) {
    if (f->vpc == ref.vpc && (ref.subnet.empty() || f->subnet == ref.subnet)) out.push_back(name);
  }
  return out;
}

void DesiredState::apply(const change::PutFlowLog& c) {
  FlowLog f = c.flowLog;
  refuseIfHeld("flow_log", f.name, "name");
  refuseIfHeld("vpc", f.vpc, "target");
  if (!findVpc(f.vpc)) throw DomainError::notFound("vpc " + f.vpc + " not found", "target");
  if (!f.subnet.empty() && !findSubnet({f.vpc, f.subnet}))
    throw DomainError::notFound("subnet " + f.target + " not found", "target");
  if (const FlowLog* have = findFlowLog(f.name)) {
    requireOwner("flow_log", f.name, have->lab, f.lab);
    f.createdAt = have->createdAt;
    if (f == *have) return;
  }
  desired::put(flowLogs_, std::move(f));
}

void DesiredState::apply(const change::DeleteFlowLog& c) {
  requireOwner("flow_log", c.name, flowLog(c.name).lab, c.lab);
  flowLogs_.erase(c.name);
}

}  // namespace vpcd
