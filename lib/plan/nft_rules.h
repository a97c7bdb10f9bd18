#pragma once
// The nftables tables vpcd programs, built as values (see nft_model.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/plan/nft_model.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {

// `table inet vpcd` in a VPC router namespace:
//   set public { type ipv4_addr; flags interval; elements = <public subnets> }
//   chain postrouting (nat):  oifname "uplink" ip saddr @public masquerade
//   chain forward (filter):   oifname "uplink" ip saddr != @public drop
//                             iifname "uplink" ct state established,related accept
//                             iifname "uplink" drop
// The drop toward the uplink is explicit so that no packet with a private (or
// any un-NATed) source ever leaves the VPC, whatever else changes.
// The elements of an interval set holding `prefixes` (merged when adjacent).
std::vector<NftSetElem> intervalElems(std::vector<Cidr> prefixes);

// One active peering as seen from one router: its link, and what passes.
struct PeerLink {
  std::string ifname;        // p-<peer> in this router
  std::string peering;       // the peering's name; names its two sets
  std::vector<Cidr> local;   // this VPC's allow-list
  std::vector<Cidr> remote;  // the peer's allow-list
};

// ... and, per active peering, two interval sets <peering>-local and
// <peering>-remote and four forward rules:
//   iifname <p> ip saddr @<peering>-remote ip daddr @<peering>-local accept
//   iifname <p> drop
//   oifname <p> ip saddr @<peering>-local ip daddr @<peering>-remote accept
//   oifname <p> drop
// so only traffic between the two allow-lists crosses the link, and nothing
// arriving from one peer is ever passed on toward another (never transitive).
// With policies (policy_compile.h), the accepts above become `goto filter`,
// and the forward chain ends with `goto filter`.
// A port forward as the router sees it: what arrives on its uplink for
// `port` (the host sent it there, lib/plan/desired.cpp) goes to target:targetPort.
struct RouterForward {
  uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
  uint16_t port = 0;
  Ipv4 target;
  uint16_t targetPort = 0;
};

// With port forwards, also:
//   map forwards { type inet_proto . inet_service : ipv4_addr . inet_service }
//   chain prerouting (nat): iifname "uplink" dnat ip to meta l4proto . th dport map @forwards
//   chain forward:  oifname "uplink" ct status dnat accept   (first: replies of a
//                                                          private target)
//                   iifname "uplink" ct status dnat accept|goto filter
// A private subnet's host so answers a forwarded connection but starts none:
// only packets of a connection the router itself translated pass.
NftTable routerTable(const std::string& uplink, const std::vector<Cidr>& publicSubnets,
                     const std::vector<PeerLink>& peers = {},
                     const std::vector<SubnetFilter>& filters = {},
                     const std::vector<RouterForward>& forwards = {}, bool logDrops = false);

// A port of the VPC bridge and the one IPv4 address and MAC it may send from.
struct PortAddress {
  std::string port;
  Ipv4 addr;
  std::string mac;  // "02:…"
};

// `table bridge vpcd` in a VPC router namespace, on br0:
//   set port_macs  { type ifname . ether_addr }  each port and its MAC
//   set port_addrs { type ifname . ipv4_addr }   each port and its address
//   set port_pairs { type ifname . ifname }      ports of one subnet (L2 peers)
//   chain input:    iifname . ether saddr                    != @port_macs  drop
//                   ether type arp iifname . arp saddr ether != @port_macs  drop
//                   ether type ip  iifname . ip saddr        != @port_addrs drop
//                   ether type arp iifname . arp saddr ip    != @port_addrs drop
//   chain forward:  the same, and iifname . oifname != @port_pairs drop
// So a port can neither send with an address or MAC it was not given (a
// private subnet cannot borrow a public subnet's address to be NATed out)
// nor reach another subnet at layer 2, past the router.
NftTable bridgeTable(const std::vector<PortAddress>& ports,
                     const std::vector<std::pair<std::string, std::string>>& samePortPairs);

// `table ip vpcd` in the host namespace:
//   chain postrouting (nat):  ip saddr <transit pool> oifname <uplink> masquerade
//                             (no rule while there is no uplink)
//   chain forward (filter):   ip saddr <transit pool> ip daddr <transit pool> drop
// A port forward as the host sees it: `protocol` to `port` on `listen` (any
// local address of the host when unset) goes to the VPC router's end of its
// transit link, on the same port.
struct HostForward {
  uint8_t protocol = 0;
  std::optional<Ipv4> listen;
  uint16_t port = 0;
  Ipv4 router;
};

// With port forwards, also (the first stage of two: VPC CIDRs may overlap,
// so the host cannot route to a target; it hands the packet to the router):
//   map forwards_any { type inet_proto . inet_service : ipv4_addr . inet_service }
//   map forwards_at  { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//   chain prerouting (nat): fib daddr type local dnat to meta l4proto . th dport map @forwards_any
//                           dnat to ip daddr . meta l4proto . th dport map @forwards_at
//   chain output (nat):     the same for the host's own connections (not to 127/8)
//   chain postrouting:      ip saddr <pool> ip daddr <pool> ct status dnat masquerade
//   chain forward:          ip saddr <pool> ip daddr <pool> ct status dnat accept (before the drop)
// The last two let other VPCs, and the VPC itself, reach a forward through
// the host's address (hairpin): the source becomes the host's end of the
// target's transit link, never a router's own address coming back to it.
NftTable hostTable(const Cidr& transitPool, const std::string& uplink,
                   const std::vector<HostForward>& forwards = {});

// Docker's DOCKER-USER chain (table ip filter), which its FORWARD chain jumps
// to before its drop policy: vpcd's accepts for its transit links there,
// `iifname <link> accept` and `oifname <link> accept` each, exact names so
// nothing else gets past (--docker-compat).
extern const NftChainRef kDockerUserChain;  // ip filter DOCKER-USER
std::vector<NftRule> transitAccepts(const std::vector<std::string>& transitLinks);

}  // namespace vpcd
