// Where a step of the desired state acts, for grants scoped to VPCs
// (declared in desired_state.h; the daemon's guard checks it at commit).
#include "lib/model/desired_state.h"

namespace vpcd {

std::vector<std::set<std::string>> actedOn(const DesiredState& old, const DesiredState& next) {
  std::set<std::set<std::string>> out;
  auto each = [&](const std::set<std::string>& vpcs) {
    for (const auto& v : vpcs) out.insert({v});
  };
  eachChange(old.vpcs(), next.vpcs(), [&](const Vpc* before, const Vpc* after) {
    out.insert({(after ? after : before)->name});
  });
  eachChange(old.policies(), next.policies(), [&](const Policy* before, const Policy* after) {
    if (before) each(vpcsOf(*before));
    if (after) each(vpcsOf(*after));
  });
  eachChange(old.instances(), next.instances(), [&](const Instance* before, const Instance* after) {
    if (before) each(vpcsOf(*before));
    if (after) each(vpcsOf(*after));
  });
  eachChange(old.portForwards(), next.portForwards(),
             [&](const PortForward* before, const PortForward* after) {
               out.insert({(after ? after : before)->vpc});
             });
  // An impairment acts on its target's VPC; on a peering's link, on both
  // of its VPCs (each side's traffic is slowed or cut).
  eachChange(old.impairments(), next.impairments(),
             [&](const Impairment* before, const Impairment* after) {
               if (before && after && before->durationS > 0 && before->enabled) {
                 Impairment ended = *before;
                 ended.enabled = false;
                 if (ended == *after) return;  // its time ran out: nobody's doing
               }
               const Impairment& i = after ? *after : *before;
               out.insert({i.vpc});
               if (!i.peerVpc.empty()) out.insert({i.peerVpc});
             });
  eachChange(old.flowLogs(), next.flowLogs(), [&](const FlowLog* before, const FlowLog* after) {
    out.insert({(after ? after : before)->vpc});
  });
  auto peering = [&](const Peering* before, const Peering* after) {
    if (!before) {
      out.insert({after->vpc});
    } else if (!after) {
      out.insert({before->vpc, before->peerVpc});
    } else if (after->state == PeeringState::Expired) {
      // Its time ran out; whoever's request made the step see it did nothing.
    } else if (before->state != after->state) {
      out.insert({after->peerVpc});
    } else {
      out.insert({after->vpc});
      out.insert({after->peerVpc});
    }
  };
  for (const auto& [name, p] : next.peerings()) {
    auto it = old.peerings().find(name);
    if (it == old.peerings().end()) {
      peering(nullptr, &p);
    } else if (!(it->second == p)) {
      peering(&it->second, &p);
    }
  }
  for (const auto& [name, p] : old.peerings()) {
    if (!next.peerings().count(name)) peering(&p, nullptr);
  }
  return {out.begin(), out.end()};
}

}  // namespace vpcd
