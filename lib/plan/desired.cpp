#include "lib/plan/desired.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "lib/model/names.h"
#include "lib/plan/nft_rules.h"

namespace vpcd {
namespace {

constexpr const char* kOn = "1";

Namespace ownedNamespace(const std::string& name) {
  Namespace ns;
  ns.name = name;
  // The loopback's alias is the namespace's ownership marker.
  ns.links["lo"] = Link{.name = "lo",
                        .kind = LinkKind::Loopback,
                        .alias = std::string(kAliasPrefix) + "netns:" + name,
                        .up = true};
  return ns;
}

void addHostSide(Namespace& host, const Vpc& vpc, const Transit& transit) {
  // The far end of the router's `uplink`: pairs reaching into the host are
  // created from the namespace vpcd owns, so a half-made pair is always found.
  std::string name = transitLinkName(vpc.name);
  host.links[name] = Link{.name = name,
                          .kind = LinkKind::Veth,
                          .alias = std::string(kAliasPrefix) + "transit:" + vpc.name,
                          .mtu = static_cast<uint32_t>(vpc.mtu),
                          .up = true,
                          .isPeer = true};
  host.addresses.insert({name, transit.hostEnd});
  host.sysctls[forwardingSysctl(name)] = kOn;
}

Namespace subnetSide(const Vpc& vpc, const Subnet& subnet) {
  Namespace ns = ownedNamespace(subnetNamespace(vpc.name, subnet.name));
  ns.links[kSubnetNic] =
      Link{.name = kSubnetNic,
           .kind = LinkKind::Veth,
           .alias = std::string(kAliasPrefix) + "nic:" + vpc.name + "/" + subnet.name,
           .mtu = static_cast<uint32_t>(vpc.mtu),
           .up = true,
           .isPeer = true};
  ns.addresses.insert({kSubnetNic, subnet.cidr.withAddr(subnet.address())});
  ns.routes.insert({Cidr{}, subnet.gateway(), kSubnetNic});
  return ns;
}

Namespace routerSide(const Vpc& vpc, const Transit& transit, const std::vector<PeerLink>& peers,
                     const std::vector<Policy>& policies) {
  auto mtu = static_cast<uint32_t>(vpc.mtu);
  Namespace ns = ownedNamespace(routerNamespace(vpc.name));
  ns.links[kBridge] = Link{.name = kBridge,
                           .kind = LinkKind::Bridge,
                           .alias = std::string(kAliasPrefix) + "bridge:" + vpc.name,
                           .mtu = mtu};
  ns.links[kRouterUplink] = Link{.name = kRouterUplink,
                                 .kind = LinkKind::Veth,
                                 .alias = std::string(kAliasPrefix) + "uplink:" + vpc.name,
                                 .mtu = mtu,
                                 .peerNamespace = kHostNamespace,
                                 .peerName = transitLinkName(vpc.name)};
  ns.addresses.insert({kRouterUplink, transit.routerEnd});
  ns.routes.insert({Cidr{}, transit.hostEnd.addr, kRouterUplink});
  ns.sysctls[forwardingSysctl("all")] = kOn;

  std::vector<Cidr> publicSubnets;
  for (const auto& s : vpc.subnets) {
    std::string port = subnetPortName(s.name);
    ns.links[port] = Link{.name = port,
                          .kind = LinkKind::Veth,
                          .alias = std::string(kAliasPrefix) + "port:" + vpc.name + "/" + s.name,
                          .master = kBridge,
                          .mtu = mtu,
                          .peerNamespace = subnetNamespace(vpc.name, s.name),
                          .peerName = kSubnetNic};
    ns.addresses.insert({kBridge, s.cidr.withAddr(s.gateway())});
    if (s.type == SubnetType::Public) publicSubnets.push_back(s.cidr);
  }
  std::vector<std::pair<std::string, Cidr>> subnets;
  for (const auto& s : vpc.subnets) subnets.emplace_back(s.name, s.cidr);
  NftTable table =
      routerTable(kRouterUplink, publicSubnets, peers, subnetFilters(vpc.name, subnets, policies));
  ns.tables[table.key()] = table;
  std::vector<PortAddress> ports;
  for (const auto& s : vpc.subnets) ports.push_back({subnetPortName(s.name), s.address()});
  // One port per subnet so far: no two ports share a subnet.
  NftTable bridge = bridgeTable(ports, {});
  ns.tables[bridge.key()] = bridge;
  return ns;
}

// The two ends of an active peering: a veth between the routers, created from
// the requesting side, with routes only for the other side's allow-list.
void addPeeringLinks(KernelState& state, const Peering& p, const Vpc& a, const Vpc& b,
                     const Cidr& pool) {
  Transit t = transitFor(pool, p.transitIndex);
  auto mtu = static_cast<uint32_t>(std::min(a.mtu, b.mtu));
  std::string alias = std::string(kAliasPrefix) + "peer:" + p.name;
  Namespace& ra = state.at(routerNamespace(a.name));
  Namespace& rb = state.at(routerNamespace(b.name));
  std::string inA = peerLinkName(b.name), inB = peerLinkName(a.name);
  ra.links[inA] = Link{.name = inA,
                       .kind = LinkKind::Veth,
                       .alias = alias,
                       .mtu = mtu,
                       .peerNamespace = rb.name,
                       .peerName = inB};
  rb.links[inB] =
      Link{.name = inB, .kind = LinkKind::Veth, .alias = alias, .mtu = mtu, .isPeer = true};
  ra.addresses.insert({inA, t.hostEnd});
  rb.addresses.insert({inB, t.routerEnd});
  for (const auto& c : p.allowed.at(b.name)) ra.routes.insert({c, t.routerEnd.addr, inA});
  for (const auto& c : p.allowed.at(a.name)) rb.routes.insert({c, t.hostEnd.addr, inB});
}

}  // namespace

std::string peerLinkName(const std::string& peerVpc) {
  return interfaceName("p-", peerVpc);
}

std::string transitLinkName(const std::string& vpc) {
  return interfaceName("t-", vpc);
}
std::string subnetPortName(const std::string& subnet) {
  return interfaceName("s-", subnet);
}
std::string forwardingSysctl(const std::string& device) {
  return "net/ipv4/conf/" + device + "/forwarding";
}

std::string peerNamespaceOf(const std::string& alias) {
  std::string_view a = alias;
  auto after = [&](std::string_view prefix) -> std::optional<std::string_view> {
    std::string full = std::string(kAliasPrefix) + std::string(prefix);
    if (a.rfind(full, 0) != 0) return std::nullopt;
    return a.substr(full.size());
  };
  if (auto vpc = after("transit:")) return routerNamespace(*vpc);
  if (auto owner = after("port:")) {
    size_t slash = owner->find('/');
    if (slash == std::string_view::npos) return "";
    return subnetNamespace(owner->substr(0, slash), owner->substr(slash + 1));
  }
  return "";
}

KernelState desiredState(const Topology& topology) {
  KernelState state;
  Namespace& host = state[kHostNamespace];
  host.name = kHostNamespace;
  std::map<std::string, const Vpc*> byName;
  for (const auto& vpc : topology.vpcs) byName[vpc.name] = &vpc;
  std::map<std::string, std::vector<PeerLink>> peersOf;
  std::vector<const Peering*> active;
  for (const auto& p : topology.peerings) {
    if (p.state != PeeringState::Active || !byName.count(p.vpc) || !byName.count(p.peerVpc))
      continue;
    active.push_back(&p);
    const auto& a = p.allowed.at(p.vpc);
    const auto& b = p.allowed.at(p.peerVpc);
    peersOf[p.vpc].push_back({peerLinkName(p.peerVpc), p.name, a, b});
    peersOf[p.peerVpc].push_back({peerLinkName(p.vpc), p.name, b, a});
  }
  for (const auto& vpc : topology.vpcs) {
    Transit transit = transitFor(topology.transitPool, vpc.transitIndex);
    addHostSide(host, vpc, transit);
    Namespace router = routerSide(vpc, transit, peersOf[vpc.name], topology.policies);
    state[router.name] = std::move(router);
    for (const auto& s : vpc.subnets) {
      Namespace sub = subnetSide(vpc, s);
      state[sub.name] = std::move(sub);
    }
  }
  for (const Peering* p : active) {
    addPeeringLinks(state, *p, *byName.at(p->vpc), *byName.at(p->peerVpc), topology.transitPool);
  }
  if (!topology.vpcs.empty()) {
    // The host forwards between transit links and the uplink, and masquerades
    // the transit pool out of it; with no VPC left, the table goes too.
    host.sysctls[forwardingSysctl(topology.uplink)] = kOn;
    NftTable table = hostTable(topology.transitPool, topology.uplink);
    host.tables[table.key()] = table;
  }
  return state;
}

}  // namespace vpcd
