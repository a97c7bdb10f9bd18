#pragma once
// Firewall policies compiled into nftables verdict maps (design: docs/policies.md).
//
// In the VPC router's `table inet vpcd`, once any subnet has a policy:
//   chain forward:  ... structural rules (uplink, peerings) ...
//                   ct state established,related accept
//                   ip saddr vmap @egress        subnet CIDR : jump out_<subnet>
//                   ip daddr vmap @ingress       subnet CIDR : jump in_<subnet>
//   chain in_<subnet>:
//                   ip saddr . meta l4proto . th dport vmap @in_<subnet>_l4   (tcp, udp)
//                   ip saddr . meta l4proto vmap @in_<subnet>_l3              (other protocols)
//                   ip saddr . meta l4proto . th dport vmap @in_<subnet>_fallback
//                   counter <default verdict>
// and out_<subnet> alike with ip daddr. The maps hold the rules after
// first-match resolution: disjoint boxes of address range x protocol x port
// range, each carrying the verdict of the first rule (by priority) covering
// it, a counter and a comment naming that rule. A packet therefore costs the
// same two lookups whatever the number of rules, and only the first packet of
// a connection gets that far. Per protocol (tcp, udp), the rule that holds
// the most boxes after resolution is left out of the first map and its own
// boxes go to the fallback map instead: a packet no earlier rule holds misses
// the first map and meets it there. A typical "deny these 10,000 sources,
// allow the rest" keeps 10,000 entries instead of the 40,000 pieces the final
// allow is cut into. Egress allow is `return`, so the destination
// subnet's ingress is still checked; ingress allow is `accept`.
#include <optional>
#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/model/policy.h"
#include "lib/plan/nft_model.h"

namespace vpcd {

// One policy rule as it applies to one subnet and direction.
struct EffectiveRule {
  PolicyRule rule;
  std::string id;  // "<policy>:<rule path>", the element comment and stats key
  std::string policy;
  size_t order = 0;  // position in the merged first-match order
};

// Everything enforced on one subnet, merged over the policies applied to it.
struct SubnetFilter {
  std::string subnet;
  Cidr cidr;
  std::vector<EffectiveRule> ingress, egress;  // merged first-match order
  PolicyAction defaultIngress = PolicyAction::Allow, defaultEgress = PolicyAction::Allow;
  const std::vector<EffectiveRule>& rules(Direction d) const {
    return d == Direction::Ingress ? ingress : egress;
  }
  PolicyAction defaultFor(Direction d) const {
    return d == Direction::Ingress ? defaultIngress : defaultEgress;
  }
};

// The filters of one VPC: for each subnet some policy applies to (targets
// "vpc/subnet"), the rules of all such policies ordered by priority, deny
// before allow on equal priority, then policy name and position. A direction's
// default is deny if any of those policies says deny.
std::vector<SubnetFilter> subnetFilters(const std::string& vpc,
                                        const std::vector<std::pair<std::string, Cidr>>& subnets,
                                        const std::vector<const Policy*>& policies);
std::vector<SubnetFilter> subnetFilters(const std::string& vpc,
                                        const std::vector<std::pair<std::string, Cidr>>& subnets,
                                        const std::vector<Policy>& policies);

// A compiled box; exposed for tests and statistics.
struct FilterEntry {
  uint32_t addrFirst = 0, addrLast = 0;
  uint8_t protoFirst = 0, protoLast = 0;
  uint16_t portFirst = 0, portLast = 0;  // tcp and udp only
  bool ports = false;                    // whether the entry sits in the l4 map
  bool fallback = false;                 // in the fallback map (ports too)
  size_t rule = 0;                       // index into the direction's rules
};

// First-match resolution of one direction into entries, disjoint within each
// map (the l4 and l3 maps, looked up first, and the fallback map). Throws
// DomainError (Unprocessable) when the result would exceed kMaxFilterEntries.
inline constexpr size_t kMaxFilterEntries = 200000;
std::vector<FilterEntry> resolveFilter(const std::vector<EffectiveRule>& rules);

// The NFLOG group `"log": true` rules send to; vpcd reads it in each router.
inline constexpr uint16_t kPolicyLogGroup = 7;

// The NFLOG group every packet a policy drops also goes to while the VPC has
// a flow log: its REJECT records (daemon/flow_collector.h).
inline constexpr uint16_t kFlowLogGroup = 8;

// Adds the maps, chains and dispatch rules above to a router table whose
// structural forward rules are already in place. No-op without filters.
// `logDrops`: every drop (a deny rule's, a deny default's) is also logged
// to kFlowLogGroup.
void addFilters(NftTable& t, const std::vector<SubnetFilter>& filters, bool logDrops = false);

// The counted default verdict that closes a filter chain, read back from a
// rule: `counter [log ...] accept|drop` (the log copies a drop to the flow
// log while one is on). nullopt for any other rule.
struct DefaultVerdict {
  uint64_t packets = 0, bytes = 0;
  bool drop = false;
};
std::optional<DefaultVerdict> defaultVerdictOf(const NftRule& r);

// Names used in the table, for statistics.
std::string filterChain(Direction d, const std::string& subnet);

}  // namespace vpcd
