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
  ns.links["lo"] = markedLoopback(name);
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
           .mac = subnetMac(vpc.name, subnet.name),
           .up = true,
           .isPeer = true};
  ns.addresses.insert({kSubnetNic, subnet.cidr.withAddr(subnet.address())});
  ns.routes.insert({Cidr{}, subnet.gateway(), kSubnetNic});
  return ns;
}

// A NIC of an instance seen from its VPC's router: a port of br0.
struct VmPort {
  const Instance* instance;
  const Nic* nic;
};

// The instance NICs' ports on br0, and the bridge table pinning every port
// (subnet hosts and instance NICs) to its address and MAC.
void addBridgePorts(Namespace& ns, const Vpc& vpc, const std::vector<VmPort>& vmPorts) {
  std::vector<PortAddress> ports;
  std::map<std::string, std::vector<std::string>> portsOf;  // subnet -> its ports
  for (const auto& s : vpc.subnets) {
    ports.push_back({subnetPortName(s.name), s.address(), subnetMac(vpc.name, s.name)});
    portsOf[s.name].push_back(ports.back().port);
  }
  for (const auto& [instance, nic] : vmPorts) {
    std::string port = instancePortName(instance->name, nic->name);
    ns.links[port] =
        Link{.name = port,
             .kind = LinkKind::Veth,
             .alias = std::string(kAliasPrefix) + "vmport:" + instance->name + "/" + nic->name,
             .master = kBridge,
             .mtu = static_cast<uint32_t>(vpc.mtu),
             .peerNamespace = instanceNamespace(instance->name),
             .peerName = nic->name};
    ports.push_back({port, nic->ip, nic->mac});
    portsOf[nic->subnet].push_back(port);
  }
  // Ports of one subnet may talk at layer 2; any other pair only through br0.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [subnet, list] : portsOf) {
    for (const auto& a : list) {
      for (const auto& b : list) {
        if (a != b) pairs.emplace_back(a, b);
      }
    }
  }
  NftTable bridge = bridgeTable(ports, pairs);
  ns.tables[bridge.key()] = bridge;
}

Namespace routerSide(const Vpc& vpc, const Transit& transit, const std::vector<PeerLink>& peers,
                     const std::vector<Policy>& policies, const std::vector<VmPort>& vmPorts) {
  auto mtu = static_cast<uint32_t>(vpc.mtu);
  Namespace ns = ownedNamespace(routerNamespace(vpc.name));
  // A bridge left to choose its MAC takes the lowest of its ports' and
  // changes it as ports come and go: every host's ARP entry for its gateway
  // would then point at a MAC br0 no longer answers to, for seconds, each
  // time a subnet or an instance NIC is added or removed elsewhere in the VPC.
  ns.links[kBridge] = Link{.name = kBridge,
                           .kind = LinkKind::Bridge,
                           .alias = std::string(kAliasPrefix) + "bridge:" + vpc.name,
                           .mtu = mtu,
                           .mac = macFor("bridge:" + vpc.name)};
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
  addBridgePorts(ns, vpc, vmPorts);
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

// vm-<instance>: eth<k> per NIC with its address; the primary NIC holds the
// default route. Every NIC also has a table of its own chosen by source
// address, so that a reply leaves by the NIC its request came in on (the
// bridge drops a packet whose source is not its port's address).
Namespace instanceSide(const Instance& i, const std::map<std::string, const Vpc*>& vpcs) {
  Namespace ns = ownedNamespace(instanceNamespace(i.name));
  for (size_t k = 0; k < i.nics.size(); ++k) {
    const Nic& nic = i.nics[k];
    ns.links[nic.name] =
        Link{.name = nic.name,
             .kind = LinkKind::Veth,
             .alias = std::string(kAliasPrefix) + "vmnic:" + i.name + "/" + nic.name,
             .mtu = static_cast<uint32_t>(vpcs.at(nic.vpc)->mtu),
             .mac = nic.mac,
             .up = i.status != InstanceStatus::Stopped,
             .isPeer = true};
    ns.addresses.insert({nic.name, nic.subnetCidr.withAddr(nic.ip)});
    if (k == 0) ns.routes.insert({Cidr{}, nic.gateway(), nic.name});
    auto index = static_cast<uint32_t>(std::stoul(nic.name.substr(3)));
    uint32_t table = kNicTableBase + index;
    ns.rules.insert({kNicRulePriority + index, Cidr{nic.ip, 32}, table});
    ns.routes.insert({nic.subnetCidr, Ipv4{}, nic.name, table});
    ns.routes.insert({Cidr{}, nic.gateway(), nic.name, table});
  }
  return ns;
}

}  // namespace

std::string subnetMac(const std::string& vpc, const std::string& subnet) {
  return macFor("subnet:" + vpc + "/" + subnet);
}

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
  if (auto owner = after("vmport:"))
    return instanceNamespace(std::string(owner->substr(0, owner->find('/'))));
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
  std::map<std::string, std::vector<VmPort>> vmPortsOf;  // vpc -> NICs in it
  for (const auto& i : topology.instances) {
    bool placed = std::all_of(i.nics.begin(), i.nics.end(),
                              [&](const Nic& n) { return byName.count(n.vpc) > 0; });
    if (!placed) continue;  // the service never lets a VPC go with NICs in it
    for (const auto& nic : i.nics) vmPortsOf[nic.vpc].push_back({&i, &nic});
    Namespace vm = instanceSide(i, byName);
    state[vm.name] = std::move(vm);
  }
  for (const auto& vpc : topology.vpcs) {
    Transit transit = transitFor(topology.transitPool, vpc.transitIndex);
    addHostSide(host, vpc, transit);
    Namespace router =
        routerSide(vpc, transit, peersOf[vpc.name], topology.policies, vmPortsOf[vpc.name]);
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
