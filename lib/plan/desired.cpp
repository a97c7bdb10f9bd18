#include "lib/plan/desired.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "lib/model/names.h"
#include "lib/plan/impair.h"
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
                          .alias = linkAlias(LinkRole::Transit, vpc.name),
                          .mtu = static_cast<uint32_t>(vpc.mtu),
                          .up = true,
                          .isPeer = true};
  host.addresses.insert({name, transit.hostEnd});
  host.sysctls[forwardingSysctl(name)] = kOn;
}

Namespace subnetSide(const Vpc& vpc, const Subnet& subnet) {
  Namespace ns = ownedNamespace(subnetNamespace(vpc.name, subnet.name));
  ns.links[kSubnetNic] = Link{.name = kSubnetNic,
                              .kind = LinkKind::Veth,
                              .alias = linkAlias(LinkRole::Nic, vpc.name, subnet.name),
                              .mtu = static_cast<uint32_t>(vpc.mtu),
                              .mac = subnetMac(vpc.name, subnet.name),
                              .up = true,
                              .isPeer = true};
  ns.addresses.insert({kSubnetNic, subnet.cidr.withAddr(subnet.address())});
  ns.routes.insert({Cidr{}, subnet.gateway(), kSubnetNic});
  return ns;
}

// The instance NICs' ports on br0, and the bridge table pinning every port
// (subnet hosts and instance NICs) to its address and MAC.
void addBridgePorts(Namespace& ns, const Vpc& vpc,
                    const std::vector<std::shared_ptr<const Instance>>& instances) {
  std::vector<PortAddress> ports;
  std::map<std::string, std::vector<std::string>> portsOf;  // subnet -> its ports
  for (const auto& s : vpc.subnets) {
    ports.push_back({subnetPortName(s.name), s.address(), subnetMac(vpc.name, s.name)});
    portsOf[s.name].push_back(ports.back().port);
  }
  for (const auto& instance : instances) {
    for (const auto& n : instance->nics) {
      if (n.vpc != vpc.name) continue;
      const Nic* nic = &n;
      std::string port = instancePortName(instance->name, nic->name);
      ns.links[port] = Link{.name = port,
                            .kind = LinkKind::Veth,
                            .alias = linkAlias(LinkRole::VmPort, instance->name, nic->name),
                            .master = kBridge,
                            .mtu = static_cast<uint32_t>(vpc.mtu),
                            .peerNamespace = instanceNamespace(instance->name),
                            .peerName = nic->name};
      ports.push_back({port, nic->ip, nic->mac});
      portsOf[nic->subnet].push_back(port);
    }
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

Namespace routerSide(const VpcInputs& in, const std::vector<PeerLink>& peers) {
  const Vpc& vpc = *in.vpc;
  Transit transit = transitFor(in.transitPool, vpc.transitIndex);
  auto mtu = static_cast<uint32_t>(vpc.mtu);
  Namespace ns = ownedNamespace(routerNamespace(vpc.name));
  // A bridge left to choose its MAC takes the lowest of its ports' and
  // changes it as ports come and go: every host's ARP entry for its gateway
  // would then point at a MAC br0 no longer answers to, for seconds, each
  // time a subnet or an instance NIC is added or removed elsewhere in the VPC.
  ns.links[kBridge] = Link{.name = kBridge,
                           .kind = LinkKind::Bridge,
                           .alias = linkAlias(LinkRole::Bridge, vpc.name),
                           .mtu = mtu,
                           .mac = macFor("bridge:" + vpc.name)};
  ns.links[kRouterUplink] = Link{.name = kRouterUplink,
                                 .kind = LinkKind::Veth,
                                 .alias = linkAlias(LinkRole::Uplink, vpc.name),
                                 .mtu = mtu,
                                 .peerNamespace = kHostNamespace,
                                 .peerName = transitLinkName(vpc.name)};
  ns.addresses.insert({kRouterUplink, transit.routerEnd});
  ns.routes.insert({Cidr{}, transit.hostEnd.addr, kRouterUplink});
  ns.sysctls[forwardingSysctl("all")] = kOn;
  // Frames bridged between two hosts of one subnet stay out of the IP
  // hooks, so the policies (which filter what crosses the router) do not
  // see them: the same behaviour whether or not the host's kernel has
  // br_netfilter (which, present, sends bridged IPv4 through the inet
  // forward chain of the router).
  ns.sysctls[kBridgeCallsIptables] = "0";

  std::vector<Cidr> publicSubnets;
  for (const auto& s : vpc.subnets) {
    std::string port = subnetPortName(s.name);
    ns.links[port] = Link{.name = port,
                          .kind = LinkKind::Veth,
                          .alias = linkAlias(LinkRole::Port, vpc.name, s.name),
                          .master = kBridge,
                          .mtu = mtu,
                          .peerNamespace = subnetNamespace(vpc.name, s.name),
                          .peerName = kSubnetNic};
    ns.addresses.insert({kBridge, s.cidr.withAddr(s.gateway())});
    if (s.type == SubnetType::Public) publicSubnets.push_back(s.cidr);
  }
  std::vector<std::pair<std::string, Cidr>> subnets;
  for (const auto& s : vpc.subnets) subnets.emplace_back(s.name, s.cidr);
  std::vector<const Policy*> policies;
  for (const auto& p : in.policies) policies.push_back(p.get());
  std::vector<RouterForward> forwards;
  for (const auto& f : in.forwards)
    forwards.push_back({f->protocolNumber(), f->listenPort, f->targetIp, f->targetPort});
  NftTable table = routerTable(kRouterUplink, publicSubnets, peers,
                               subnetFilters(vpc.name, subnets, policies), forwards, in.flowLogs);
  // Counted from the first packet of a connection made after this is set.
  if (in.flowLogs) ns.sysctls[kConntrackAcct] = kOn;
  ns.tables[table.key()] = table;
  addBridgePorts(ns, vpc, in.instances);
  return ns;
}

// One end of an active peering in this VPC's router: a veth between the
// routers, created from the requesting side, with routes only for the other
// side's allow-list.
void addPeerEnd(Namespace& router, const Vpc& vpc, const PeerSide& side, const Cidr& pool) {
  const Peering& p = side.peering;
  Transit t = transitFor(pool, p.transitIndex);
  auto mtu = static_cast<uint32_t>(std::min(vpc.mtu, side.otherMtu));
  const std::string& other = p.other(vpc.name);
  std::string name = peerLinkName(other);
  bool requester = p.vpc == vpc.name;
  Link link{
      .name = name, .kind = LinkKind::Veth, .alias = linkAlias(LinkRole::Peer, p.name), .mtu = mtu};
  if (requester) {
    link.peerNamespace = routerNamespace(other);
    link.peerName = peerLinkName(vpc.name);
  } else {
    link.isPeer = true;
  }
  router.links[name] = link;
  Cidr mine = requester ? t.hostEnd : t.routerEnd;
  Cidr theirs = requester ? t.routerEnd : t.hostEnd;
  router.addresses.insert({name, mine});
  for (const auto& c : p.allowed.at(other)) router.routes.insert({c, theirs.addr, name});
}

// An object the change did not touch is the same object; an equal value
// made anew (a re-applied request) is equal too.
template <typename T>
bool sameValues(const std::shared_ptr<const T>& a, const std::shared_ptr<const T>& b) {
  return a == b || (a && b && *a == *b);
}
template <typename T>
bool sameValues(const std::vector<std::shared_ptr<const T>>& a,
                const std::vector<std::shared_ptr<const T>>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const auto& x, const auto& y) { return sameValues(x, y); });
}

// What of an instance its namespace and its VPCs' routers are built from:
// not its command, pid, labels or times (a command's pid recorded after it
// starts must not rebuild a router and compile its policies again).
struct InstanceShape {
  bool operator()(const std::shared_ptr<const Instance>& a,
                  const std::shared_ptr<const Instance>& b) const {
    return a == b || (a && b && a->name == b->name && a->nics == b->nics && a->status == b->status);
  }
};

// An instance is built only when every VPC of its NICs exists (the state
// never lets a VPC go with NICs in it; a hand-edited state file could).
bool placed(const DesiredState& state, const Instance& i) {
  return std::all_of(i.nics.begin(), i.nics.end(),
                     [&](const Nic& n) { return state.vpcs().count(n.vpc) > 0; });
}

// vm-<instance>: eth<k> per NIC with its address; the primary NIC holds the
// default route. Every NIC also has a table of its own chosen by source
// address, so that a reply leaves by the NIC its request came in on (the
// bridge drops a packet whose source is not its port's address).
Namespace buildInstance(const InstanceInputs& in) {
  const Instance& i = *in.instance;
  Namespace ns = ownedNamespace(instanceNamespace(i.name));
  for (size_t k = 0; k < i.nics.size(); ++k) {
    const Nic& nic = i.nics[k];
    ns.links[nic.name] = Link{.name = nic.name,
                              .kind = LinkKind::Veth,
                              .alias = linkAlias(LinkRole::VmNic, i.name, nic.name),
                              .mtu = static_cast<uint32_t>(in.mtuOf.at(nic.vpc)),
                              .mac = nic.mac,
                              .up = i.status != InstanceStatus::Stopped,
                              .isPeer = true};
    ns.addresses.insert({nic.name, nic.subnetCidr.withAddr(nic.ip)});
    auto index = static_cast<uint32_t>(nicIndex(nic.name));
    uint32_t table = kNicTableBase + index;
    ns.rules.insert({kNicRulePriority + index, Cidr{nic.ip, 32}, table});
    // A link set down loses every route through it (the kernel flushes
    // them, in all tables), and none can be added: a stopped instance has
    // none, and gets them back with its start.
    if (i.status == InstanceStatus::Stopped) continue;
    if (k == 0) ns.routes.insert({Cidr{}, nic.gateway(), nic.name});
    ns.routes.insert({nic.subnetCidr, Ipv4{}, nic.name, table});
    ns.routes.insert({Cidr{}, nic.gateway(), nic.name, table});
  }
  return ns;
}

}  // namespace

std::string subnetMac(const std::string& vpc, const std::string& subnet) {
  return macFor("subnet:" + vpc + "/" + subnet);
}

std::string forwardingSysctl(const std::string& device) {
  return "net/ipv4/conf/" + device + "/forwarding";
}

bool VpcInputs::operator==(const VpcInputs& o) const {
  return sameValues(vpc, o.vpc) && transitPool == o.transitPool && peers == o.peers &&
         sameValues(policies, o.policies) && sameValues(forwards, o.forwards) &&
         sameValues(impairments, o.impairments) && flowLogs == o.flowLogs &&
         std::equal(instances.begin(), instances.end(), o.instances.begin(), o.instances.end(),
                    InstanceShape{});
}

bool InstanceInputs::operator==(const InstanceInputs& o) const {
  return InstanceShape{}(instance, o.instance) && mtuOf == o.mtuOf &&
         sameValues(impairments, o.impairments);
}

std::map<std::string, VpcInputs> vpcInputs(const DesiredState& state) {
  std::map<std::string, VpcInputs> out;
  const auto& vpcs = state.vpcs();
  for (const auto& [name, vpc] : vpcs)
    out[name] = {.vpc = vpc, .transitPool = state.host().transitPool};
  for (const auto& [name, p] : state.peerings()) {
    if (p.state != PeeringState::Active || !vpcs.count(p.vpc) || !vpcs.count(p.peerVpc)) continue;
    out[p.vpc].peers.push_back({p, vpcs.at(p.peerVpc)->mtu});
    out[p.peerVpc].peers.push_back({p, vpcs.at(p.vpc)->mtu});
  }
  for (const auto& [name, p] : state.policies()) {
    for (const auto& vpc : vpcsOf(*p)) {
      if (out.count(vpc)) out[vpc].policies.push_back(p);
    }
  }
  for (const auto& [name, i] : state.instances()) {
    auto in = vpcsOf(*i);
    if (!placed(state, *i)) continue;
    for (const auto& vpc : in) out[vpc].instances.push_back(i);
  }
  for (const auto& [name, f] : state.portForwards()) {
    if (out.count(f->vpc)) out[f->vpc].forwards.push_back(f);
  }
  for (const auto& [name, i] : state.impairments()) {
    if (!i->enabled) continue;
    for (const auto& vpc : {i->vpc, i->peerVpc}) {
      if (out.count(vpc)) out[vpc].impairments.push_back(i);
    }
  }
  for (const auto& [name, f] : state.flowLogs()) {
    if (f->enabled && out.count(f->vpc)) out[f->vpc].flowLogs = true;
  }
  return out;
}

std::map<std::string, InstanceInputs> instanceInputs(const DesiredState& state) {
  std::map<std::string, InstanceInputs> out;
  for (const auto& [name, i] : state.instances()) {
    if (!placed(state, *i)) continue;
    InstanceInputs in{.instance = i};
    for (const auto& vpc : vpcsOf(*i)) in.mtuOf[vpc] = state.vpcs().at(vpc)->mtu;
    out[name] = std::move(in);
  }
  for (const auto& [name, i] : state.impairments()) {
    auto it = out.find(i->instance);
    if (i->enabled && i->kind == Impairment::Kind::Nic && it != out.end())
      it->second.impairments.push_back(i);
  }
  return out;
}

Namespace hostSide(const DesiredState& state) {
  Namespace host;
  host.name = kHostNamespace;
  const HostSettings& settings = state.host();
  for (const auto& [name, vpc] : state.vpcs()) {
    addHostSide(host, *vpc, transitFor(settings.transitPool, vpc->transitIndex));
  }
  if (!state.vpcs().empty()) {
    // The host forwards between transit links and the uplink, and masquerades
    // the transit pool out of it; with no VPC left, the table goes too. With
    // no uplink (no default route) nothing leaves, and nothing is masqueraded.
    if (!settings.uplink.empty()) host.sysctls[forwardingSysctl(settings.uplink)] = kOn;
    std::vector<HostForward> forwards;
    for (const auto& [name, f] : state.portForwards()) {
      const Vpc* vpc = state.findVpc(f->vpc);
      if (!vpc) continue;
      forwards.push_back({f->protocolNumber(), f->listenAddress, f->listenPort,
                          transitFor(settings.transitPool, vpc->transitIndex).routerEnd.addr});
    }
    NftTable table = hostTable(settings.transitPool, settings.uplink, forwards);
    host.tables[table.key()] = table;
  }
  return host;
}

std::map<std::string, Namespace> vpcSide(const VpcInputs& in) {
  const Vpc& vpc = *in.vpc;
  std::vector<PeerLink> links;
  for (const auto& side : in.peers) {
    const Peering& p = side.peering;
    const std::string& other = p.other(vpc.name);
    links.push_back({peerLinkName(other), p.name, p.allowed.at(vpc.name), p.allowed.at(other)});
  }
  std::map<std::string, Namespace> out;
  Namespace router = routerSide(in, links);
  for (const auto& side : in.peers) addPeerEnd(router, vpc, side, in.transitPool);
  out[router.name] = std::move(router);
  for (const auto& s : vpc.subnets) {
    Namespace sub = subnetSide(vpc, s);
    out[sub.name] = std::move(sub);
  }
  impairVpc(out, vpc.name, in.impairments);
  return out;
}

Namespace instanceSide(const InstanceInputs& in) {
  Namespace ns = buildInstance(in);
  impairInstance(ns, in.impairments);
  return ns;
}

KernelState desiredState(const DesiredState& state) {
  KernelState out;
  out[kHostNamespace] = hostSide(state);
  for (const auto& [name, in] : vpcInputs(state)) out.merge(vpcSide(in));
  for (const auto& [name, in] : instanceInputs(state)) {
    Namespace ns = instanceSide(in);
    out[ns.name] = std::move(ns);
  }
  return out;
}

KernelState desiredState(const Topology& t) {
  return desiredState(DesiredState(HostSettings{t.uplink, t.transitPool}, t.vpcs, t.peerings,
                                   t.policies, t.instances));
}

}  // namespace vpcd
