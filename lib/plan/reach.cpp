#include "lib/plan/reach.h"

#include <algorithm>

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {

using nlohmann::json;

namespace {

json hop(const std::string& ns, const std::string& step, const std::string& detail) {
  return {{"namespace", ns}, {"step", step}, {"detail", detail}};
}

json blocked(const std::string& kind, const std::string& message, json extra = json::object()) {
  extra["kind"] = kind;
  extra["message"] = message;
  return extra;
}

bool matches(const PolicyRule& r, const std::string& proto, int port, Ipv4 peer) {
  if (r.protocol != PolicyProtocol::All && toString(r.protocol) != proto) return false;
  if (!r.ports.empty()) {
    if (proto == "icmp") return false;
    bool in = false;
    for (const auto& range : r.ports) in = in || (port >= range.first && port <= range.last);
    if (!in) return false;
  }
  if (r.peers.empty()) return true;
  for (const auto& c : r.peers) {
    if (c.contains(peer)) return true;
  }
  return false;
}

// What the policies of one VPC decide for a new connection of one subnet in
// one direction; null when no policy applies to the subnet.
struct Decision {
  bool allow = true;
  json blockedBy;   // when denied
  std::string why;  // for the path
};

std::optional<Decision> decide(const DesiredState& s, const std::string& vpc,
                               const std::string& subnet, Direction d, const std::string& proto,
                               int port, Ipv4 peer) {
  const Vpc& v = s.vpc(vpc);
  const Subnet* sub = v.findSubnet(subnet);
  if (!sub) return std::nullopt;
  std::vector<const Policy*> policies;
  for (const auto& [name, p] : s.policies()) {
    if (vpcsOf(*p).count(vpc)) policies.push_back(p.get());
  }
  auto filters = subnetFilters(vpc, {{subnet, sub->cidr}}, policies);
  if (filters.empty()) return std::nullopt;
  const SubnetFilter& f = filters.front();
  std::string target = vpc + "/" + subnet, dir = toString(d);
  for (const auto& r : f.rules(d)) {
    if (!matches(r.rule, proto, port, peer)) continue;
    std::string path = r.id.substr(r.policy.size() + 1);
    std::string text = toString(r.rule.action) + " by policy " + r.policy + " " + path +
                       " (priority " + std::to_string(r.rule.priority) + ")";
    Decision out{r.rule.action == PolicyAction::Allow, json(), dir + " of " + target + ": " + text};
    if (!out.allow) {
      out.blockedBy =
          blocked("policy_rule",
                  dir + " of " + target + " is denied by policy " + r.policy + " rule " + path,
                  {{"policy", r.policy},
                   {"direction", dir},
                   {"rule", path},
                   {"priority", r.rule.priority},
                   {"subnet", target}});
    }
    return out;
  }
  bool allow = f.defaultFor(d) == PolicyAction::Allow;
  Decision out{allow, json(),
               dir + " of " + target + ": no rule matches, default " + toString(f.defaultFor(d))};
  if (!allow) {
    // The policies whose default for this direction is deny.
    json names = json::array();
    std::string list;
    for (const Policy* p : policies) {
      for (const auto& sec : p->sections) {
        bool here =
            std::find(sec.appliesTo.begin(), sec.appliesTo.end(), target) != sec.appliesTo.end();
        if (!here || sec.defaultFor(d) != PolicyAction::Deny) continue;
        names.push_back(p->name);
        list += (list.empty() ? "" : ", ") + p->name;
        break;
      }
    }
    out.blockedBy = blocked("policy_default",
                            dir + " of " + target + " matches no rule and is denied by the " +
                                "default of policy " + list,
                            {{"subnet", target}, {"direction", dir}, {"policies", names}});
  }
  return out;
}

// One direction of the policies, in the router of the subnet's VPC; false
// (with the answer's blocked_by set) when it denies.
bool passes(const DesiredState& s, ReachAnswer& a, const ReachQuery& q, Direction d) {
  bool out = d == Direction::Egress;
  const std::string& vpc = out ? a.from.vpc : a.to.vpc;
  const std::string& subnet = out ? a.from.subnet : a.to.subnet;
  if (subnet.empty()) return true;  // an address in no subnet: nothing filters it
  auto decision = decide(s, vpc, subnet, d, q.proto, q.port, out ? a.to.address : a.source);
  std::string router = routerNamespace(vpc);
  if (!decision) {
    a.path.push_back(
        hop(router, "policy", toString(d) + " of " + vpc + "/" + subnet + ": no policy applies"));
    return true;
  }
  a.path.push_back(hop(router, "policy", decision->why));
  if (!decision->allow) a.blockedBy = decision->blockedBy;
  return decision->allow;
}

// The subnet of `vpc` holding `addr`, or null.
const Subnet* subnetHolding(const Vpc& v, Ipv4 addr) {
  for (const auto& sub : v.subnets) {
    if (sub.cidr.contains(addr)) return &sub;
  }
  return nullptr;
}

const Peering* activePeering(const DesiredState& s, const std::string& a, const std::string& b) {
  for (const auto& [name, p] : s.peerings()) {
    if (p.state == PeeringState::Active &&
        ((p.vpc == a && p.peerVpc == b) || (p.vpc == b && p.peerVpc == a)))
      return &p;
  }
  return nullptr;
}

bool allows(const Peering& p, const std::string& side, Ipv4 addr) {
  for (const auto& c : p.allowed.at(side)) {
    if (c.contains(addr)) return true;
  }
  return false;
}

// An enabled impairment holding down the link of `kind` named by a/b: a
// subnet's host link (vpc/subnet), a NIC (instance/nic), a peering (a).
const Impairment* heldDown(const DesiredState& s, Impairment::Kind kind, const std::string& a,
                           const std::string& b) {
  for (const auto& [name, i] : s.impairments()) {
    if (!i->enabled || !i->down || i->kind != kind) continue;
    bool hit = kind == Impairment::Kind::Peering ? i->peering == a
               : kind == Impairment::Kind::Nic   ? i->instance == a && i->nic == b
                                                 : i->vpc == a && i->subnet == b;
    if (hit) return i.get();
  }
  return nullptr;
}

json linkDown(const Impairment& i, const std::string& what) {
  return blocked("link_down", "impairment " + i.name + " holds the link of " + what + " down",
                 {{"impairment", i.name}, {"target", i.target}});
}

// The link of an endpoint in a VPC, when an impairment holds it down.
const Impairment* endpointDown(const DesiredState& s, const ReachEndpoint& e) {
  if (e.kind == ReachEndpoint::Kind::SubnetHost)
    return heldDown(s, Impairment::Kind::Subnet, e.vpc, e.subnet);
  if (e.kind == ReachEndpoint::Kind::Instance)
    return heldDown(s, Impairment::Kind::Nic, e.instance, e.nic);
  return nullptr;
}

// Why two VPCs without an active peering do not talk.
json noPeering(const DesiredState& s, const std::string& a, const std::string& b) {
  for (const auto& [name, p] : s.peerings()) {
    if ((p.vpc == a && p.peerVpc == b) || (p.vpc == b && p.peerVpc == a)) {
      return blocked("peering_not_active",
                     "peering " + name + " between " + a + " and " + b + " is " + toString(p.state),
                     {{"peering", name}, {"state", toString(p.state)}});
    }
  }
  for (const auto& [via, v] : s.vpcs()) {
    const Peering* first = activePeering(s, a, via);
    const Peering* second = activePeering(s, via, b);
    if (first && second) {
      return blocked("non_transitive",
                     a + " and " + b + " are both peered with " + via +
                         ", but peering is not transitive: traffic does not pass through " + via,
                     {{"via", via}, {"peerings", {first->name, second->name}}});
    }
  }
  return blocked("no_peering", "no peering between vpc " + a + " and vpc " + b, {{"vpcs", {a, b}}});
}

ReachEndpoint subnetHost(const Vpc& v, const Subnet& sub, const std::string& ref) {
  return {.kind = ReachEndpoint::Kind::SubnetHost,
          .ref = ref,
          .ns = subnetNamespace(v.name, sub.name),
          .nic = kSubnetNic,
          .address = sub.address(),
          .vpc = v.name,
          .subnet = sub.name};
}

ReachEndpoint instanceNic(const Instance& i, const Nic& n, const std::string& ref) {
  return {.kind = ReachEndpoint::Kind::Instance,
          .ref = ref,
          .ns = instanceNamespace(i.name),
          .nic = n.name,
          .address = n.ip,
          .vpc = n.vpc,
          .subnet = n.subnet,
          .instance = i.name,
          .running = i.status == InstanceStatus::Running};
}

// "vpc/subnet", "instance", "instance/ethN"; nullopt for anything else.
std::optional<ReachEndpoint> named(const DesiredState& s, const std::string& ref,
                                   const std::string& field) {
  std::string first = ref.substr(0, ref.find('/'));
  std::string rest = ref.find('/') == std::string::npos ? "" : ref.substr(ref.find('/') + 1);
  if (const Instance* i = s.findInstance(first)) {
    std::string nic = rest.empty() ? nicName(0) : rest;
    for (const auto& n : i->nics) {
      if (n.name == nic) return instanceNic(*i, n, ref);
    }
    if (!rest.empty() && nicIndex(rest) >= 0)
      throw DomainError::notFound(field + ": instance " + first + " has no NIC " + rest, field);
  }
  if (auto sref = SubnetRef::parse(ref)) {
    const Vpc* v = s.findVpc(sref->vpc);
    const Subnet* sub = v ? v->findSubnet(sref->subnet) : nullptr;
    if (sub) return subnetHost(*v, *sub, ref);
    throw DomainError::notFound(field + ": no subnet " + ref + " and no instance " + first, field);
  }
  return std::nullopt;
}

// Same subnet: frames are bridged between the two ports, never routed.
void sameSubnet(ReachAnswer& a) {
  a.path.push_back(hop(routerNamespace(a.from.vpc), "bridged",
                       "br0 carries it from the source's port to the destination's: same subnet " +
                           a.from.vpc + "/" + a.from.subnet + ", not routed, no policy applies"));
}

void internet(const DesiredState& s, ReachAnswer& a, const ReachQuery& q) {
  const Vpc& v = s.vpc(a.from.vpc);
  const Subnet* out = subnetHolding(v, a.source);
  std::string router = routerNamespace(v.name);
  if (!out || out->type != SubnetType::Public) {
    std::string sub = out ? v.name + "/" + out->name : v.name;
    a.path.push_back(hop(router, "dropped", "only public subnets leave through the uplink"));
    a.blockedBy =
        blocked("private_egress", "subnet " + sub + " is private: it does not reach the internet",
                {{"subnet", sub}});
    return;
  }
  if (!passes(s, a, q, Direction::Egress)) return;
  Transit t = transitFor(s.host().transitPool, v.transitIndex);
  a.path.push_back(
      hop(router, "routed", "default via " + t.hostEnd.addr.str() + " dev " + kRouterUplink));
  if (s.host().uplink.empty()) {
    a.path.push_back(hop("host", "dropped", "the host has no default route"));
    a.blockedBy = blocked("no_uplink",
                          "the host has no default route: nothing leaves for the internet until "
                          "one appears (vpcd follows it)");
    return;
  }
  a.nat.push_back({{"where", router},
                   {"kind", "masquerade (public subnet)"},
                   {"before", a.source.str()},
                   {"after", t.routerEnd.addr.str()}});
  const std::string& uplink = s.host().uplink;
  a.nat.push_back({{"where", "host"},
                   {"kind", "masquerade (host)"},
                   {"before", t.routerEnd.addr.str()},
                   {"after", "the address of " + uplink}});
  a.path.push_back(hop("host", "routed", "out on " + uplink + " to " + a.to.address.str()));
  a.reachable = true;
}

void acrossPeering(const DesiredState& s, ReachAnswer& a, const ReachQuery& q) {
  const Peering* p = activePeering(s, a.from.vpc, a.to.vpc);
  if (!p) {
    a.blockedBy = noPeering(s, a.from.vpc, a.to.vpc);
    return;
  }
  if (const Impairment* down = heldDown(s, Impairment::Kind::Peering, p->name, "")) {
    a.path.push_back(
        hop(routerNamespace(a.from.vpc), "dropped", "the link of peering " + p->name + " is down"));
    a.blockedBy = linkDown(*down, "peering " + p->name);
    return;
  }
  for (const auto& [side, addr] : {std::pair{a.from.vpc, a.source}, {a.to.vpc, a.to.address}}) {
    if (allows(*p, side, addr)) continue;
    json list = json::array();
    for (const auto& c : p->allowed.at(side)) list.push_back(c.str());
    a.blockedBy = blocked(
        "peering_allow_list",
        addr.str() + " is outside what vpc " + side + " allows across peering " + p->name,
        {{"peering", p->name}, {"vpc", side}, {"address", addr.str()}, {"allowed_cidrs", list}});
    return;
  }
  Transit t = transitFor(s.host().transitPool, p->transitIndex);
  Ipv4 far = p->vpc == a.from.vpc ? t.routerEnd.addr : t.hostEnd.addr;
  if (!passes(s, a, q, Direction::Egress)) return;
  a.path.push_back(hop(routerNamespace(a.from.vpc), "routed",
                       s.vpc(a.to.vpc).cidr.str() + " via " + far.str() + " dev " +
                           peerLinkName(a.to.vpc) + " (peering " + p->name + ")"));
  a.path.push_back(hop(routerNamespace(a.to.vpc), "routed",
                       "in on " + peerLinkName(a.from.vpc) + ", to subnet " + a.to.vpc + "/" +
                           (a.to.subnet.empty() ? "?" : a.to.subnet) + " on br0"));
  a.reachable = passes(s, a, q, Direction::Ingress);
}

// The last hop: delivered, unless the address is no one's.
ReachAnswer finish(ReachAnswer a) {
  if (a.reachable && a.to.kind == ReachEndpoint::Kind::Address) {
    a.reachable = false;
    a.blockedBy = blocked("no_host", "no subnet host or instance holds " + a.to.address.str(),
                          {{"address", a.to.address.str()}});
  }
  if (a.reachable) {
    a.path.push_back(hop(a.to.ns.empty() ? "" : a.to.ns, "delivered",
                         "to " + a.to.address.str() + (a.to.nic.empty() ? "" : " on " + a.to.nic)));
  }
  return a;
}

// A client outside the host through a port forward: both stages of DNAT,
// then the policies of the target's subnet, which see the client's address.
ReachAnswer throughForward(const DesiredState& s, const ReachQuery& q) {
  std::string name = q.to.substr(std::string(kForwardPrefix).size());
  const PortForward* f = s.findPortForward(name);
  if (!f) throw DomainError::notFound("to: no port forward " + name, "to");
  auto client = Ipv4::parse(q.from);
  bool inside = client && std::any_of(s.vpcs().begin(), s.vpcs().end(), [&](const auto& v) {
                  return v.second->cidr.contains(*client);
                });
  if (!client || inside) {
    throw DomainError::invalid("from",
                               "to a port forward, from is the address of a client outside the "
                               "host and its VPCs (e.g. 203.0.113.7)");
  }
  if (q.protoGiven && q.proto != f->protocol)
    throw DomainError::invalid("proto", "port forward " + name + " takes " + f->protocol);
  if (q.port && q.port != f->listenPort) {
    throw DomainError::invalid("port", "port forward " + name + " listens on " + f->protocol + "/" +
                                           std::to_string(f->listenPort));
  }
  ReachAnswer a;
  a.proto = f->protocol;
  a.port = f->listenPort;
  a.from = {.kind = ReachEndpoint::Kind::Internet, .ref = q.from, .address = *client};
  a.to = resolveTarget(s, f->targetIp.str(), f->vpc);
  a.to.ref = q.to;
  a.source = *client;
  if (!a.to.instance.empty() && !a.to.running) {
    a.blockedBy = blocked("stopped_instance", "instance " + a.to.instance + " is stopped",
                          {{"instance", a.to.instance}});
    return a;
  }
  if (const Impairment* down = endpointDown(s, a.to)) {
    a.blockedBy = linkDown(*down, a.to.ref);
    return a;
  }
  Transit t = transitFor(s.host().transitPool, s.vpc(f->vpc).transitIndex);
  std::string router = routerNamespace(f->vpc), port = ":" + std::to_string(f->listenPort);
  std::string target = f->targetIp.str() + ":" + std::to_string(f->targetPort);
  std::string listen = f->listenAddress ? f->listenAddress->str() : "a host address";
  a.path.push_back(hop("", "sent", "from " + client->str() + " to the host's " + f->listenText()));
  a.path.push_back(hop("host", "dnat",
                       "port forward " + name + ": to " + t.routerEnd.addr.str() + port +
                           ", the router of vpc " + f->vpc));
  a.nat.push_back({{"where", "host"},
                   {"kind", "dnat (port forward " + name + ")"},
                   {"before", listen + port},
                   {"after", t.routerEnd.addr.str() + port}});
  a.path.push_back(hop(router, "dnat", "in on " + std::string(kRouterUplink) + ", to " + target));
  a.nat.push_back({{"where", router},
                   {"kind", "dnat (port forward " + name + ")"},
                   {"before", t.routerEnd.addr.str() + port},
                   {"after", target}});
  a.path.push_back(hop(router, "routed", "out to subnet " + f->vpc + "/" + f->subnet + " on br0"));
  ReachQuery inner = q;
  inner.proto = f->protocol;
  inner.port = f->targetPort;
  a.reachable = passes(s, a, inner, Direction::Ingress);
  return a;
}

}  // namespace

bool isForwardRef(const std::string& ref) {
  return ref.rfind(kForwardPrefix, 0) == 0;
}

json ReachEndpoint::json() const {
  static const char* kinds[] = {"subnet_host", "instance", "address", "internet"};
  nlohmann::json out{
      {"ref", ref}, {"kind", kinds[static_cast<int>(kind)]}, {"address", address.str()}};
  if (!ns.empty()) out["namespace"] = ns;
  if (!nic.empty()) out["interface"] = nic;
  if (!vpc.empty()) out["vpc"] = vpc;
  if (!subnet.empty()) out["subnet"] = vpc + "/" + subnet;
  if (!instance.empty()) out["running"] = running;
  return out;
}

json ReachAnswer::json() const {
  return {{"from", from.json()},
          {"to", to.json()},
          {"source_address", source.str()},
          {"verdict", reachable ? "reachable" : "unreachable"},
          {"path", path},
          {"nat", nat},
          {"blocked_by", blockedBy}};
}

ReachQuery parseReachQuery(const nlohmann::json& body) {
  requireObject(body, {"from", "to", "port", "proto", "source_address", "probe"});
  ReachQuery q{.from = requireString(body, "from"), .to = requireString(body, "to")};
  q.protoGiven = body.contains("proto");
  if (q.protoGiven) q.proto = requireString(body, "proto");
  if (q.proto != "tcp" && q.proto != "udp" && q.proto != "icmp")
    throw DomainError::invalid("proto", "must be tcp, udp or icmp");
  if (body.contains("port")) {
    const auto& p = body["port"];
    if (!p.is_number_integer() || p < 1 || p > 65535)
      throw DomainError::invalid("port", "must be a port number (1-65535)");
    q.port = p.get<int>();
  } else if (q.proto != "icmp" && !isForwardRef(q.to)) {
    throw DomainError::invalid("port", "is required for " + q.proto);
  }
  if (body.contains("source_address")) {
    auto a = Ipv4::parse(requireString(body, "source_address"));
    if (!a) throw DomainError::invalid("source_address", "must be an IPv4 address");
    q.sourceAddress = *a;
  }
  if (body.contains("probe") && !body["probe"].is_boolean())
    throw DomainError::invalid("probe", "must be true or false");
  return q;
}

ReachEndpoint resolveSource(const DesiredState& s, const std::string& ref) {
  if (auto e = named(s, ref, "from")) return *e;
  throw DomainError::notFound(
      "from: " + ref + " is neither a subnet (vpc/subnet) nor an instance (name or name/ethN)",
      "from");
}

ReachEndpoint resolveTarget(const DesiredState& s, const std::string& ref, const std::string& vpc) {
  if (auto e = named(s, ref, "to")) return *e;
  auto addr = Ipv4::parse(ref);
  if (!addr) {
    throw DomainError::notFound(
        "to: " + ref + " is not a subnet (vpc/subnet), an instance or an IPv4 address", "to");
  }
  // An address: the source's VPC first, then its peers, then the others
  // (VPCs may overlap).
  std::vector<const Vpc*> order;
  if (const Vpc* own = s.findVpc(vpc)) order.push_back(own);
  for (const auto& [name, v] : s.vpcs()) {
    if (name != vpc && activePeering(s, vpc, name)) order.push_back(v.get());
  }
  for (const auto& [name, v] : s.vpcs()) {
    if (std::find(order.begin(), order.end(), v.get()) == order.end()) order.push_back(v.get());
  }
  for (const Vpc* v : order) {
    if (!v->cidr.contains(*addr)) continue;
    for (const auto& [name, i] : s.instances()) {
      for (const auto& n : i->nics) {
        if (n.vpc == v->name && n.ip == *addr) return instanceNic(*i, n, ref);
      }
    }
    const Subnet* sub = subnetHolding(*v, *addr);
    if (sub && sub->address() == *addr) return subnetHost(*v, *sub, ref);
    return {.kind = ReachEndpoint::Kind::Address,
            .ref = ref,
            .address = *addr,
            .vpc = v->name,
            .subnet = sub ? sub->name : ""};
  }
  return {.kind = ReachEndpoint::Kind::Internet, .ref = ref, .address = *addr};
}

ReachAnswer modelReach(const DesiredState& s, const ReachQuery& q) {
  if (isForwardRef(q.to)) return finish(throughForward(s, q));
  ReachAnswer a;
  a.proto = q.proto;
  a.port = q.port;
  a.from = resolveSource(s, q.from);
  a.to = resolveTarget(s, q.to, a.from.vpc);
  a.source = q.sourceAddress.value_or(a.from.address);
  for (const ReachEndpoint* e : {&a.from, &a.to}) {
    if (e->instance.empty() || e->running) continue;
    a.blockedBy = blocked("stopped_instance", "instance " + e->instance + " is stopped",
                          {{"instance", e->instance}});
    return a;
  }
  for (const ReachEndpoint* e : {&a.from, &a.to}) {
    const Impairment* down = endpointDown(s, *e);
    if (!down) continue;
    a.blockedBy = linkDown(*down, e->ref);
    return a;
  }
  a.path.push_back(hop(a.from.ns, "sent", "from " + a.source.str() + " on " + a.from.nic));
  if (a.source != a.from.address) {
    a.path.push_back(hop(routerNamespace(a.from.vpc), "dropped",
                         "the bridge admits only the port's own address"));
    a.blockedBy = blocked("anti_spoofing",
                          a.from.ref + " does not own " + a.source.str() + " (its address is " +
                              a.from.address.str() + "): the bridge drops it",
                          {{"address", a.source.str()}, {"owner_address", a.from.address.str()}});
    return a;
  }
  if (a.to.kind == ReachEndpoint::Kind::Internet) {
    internet(s, a, q);
  } else if (a.to.vpc == a.from.vpc && a.to.subnet == a.from.subnet) {
    sameSubnet(a);
    a.reachable = true;
  } else if (a.to.vpc == a.from.vpc) {
    a.path.push_back(hop(routerNamespace(a.from.vpc), "routed",
                         "in at the gateway of " + a.from.vpc + "/" + a.from.subnet +
                             ", out to subnet " + a.to.vpc + "/" +
                             (a.to.subnet.empty() ? "?" : a.to.subnet) + " on br0"));
    a.reachable = passes(s, a, q, Direction::Egress) && passes(s, a, q, Direction::Ingress);
  } else {
    acrossPeering(s, a, q);
  }
  return finish(std::move(a));
}

}  // namespace vpcd
