#include "lib/model/desired_state.h"

#include <algorithm>

#include "lib/ipam/ipam.h"
#include "lib/model/desired_helpers.h"
#include "lib/model/error.h"

namespace vpcd {

using desired::joined;
using desired::put;

namespace {

template <typename T>
const T* find(const Table<T>& table, const std::string& name) {
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second.get();
}

// Where a policy target was written, for errors: the document's own path.
std::string targetField(const Policy& p, bool list, size_t section, size_t i) {
  if (p.format == "seed") return list ? "[" + std::to_string(section) + "].subnet" : "subnet";
  std::string field = "applies_to[" + std::to_string(i) + "]";
  return p.sections.size() == 1 && !list ? field
                                         : "sections[" + std::to_string(section) + "]." + field;
}

}  // namespace

std::set<std::string> vpcsOf(const Instance& i) {
  std::set<std::string> out;
  for (const auto& n : i.nics) out.insert(n.vpc);
  return out;
}

std::set<std::string> vpcsOf(const Policy& p) {
  std::set<std::string> out;
  for (const auto& s : p.sections) {
    for (const auto& t : s.appliesTo) out.insert(t.substr(0, t.find('/')));
  }
  return out;
}

DesiredState::DesiredState(HostSettings host, std::vector<Vpc> vpcs, std::vector<Peering> peerings,
                           std::vector<Policy> policies, std::vector<Instance> instances,
                           std::vector<Lab> labs, std::vector<PortForward> forwards,
                           std::vector<Impairment> impairments, std::vector<FlowLog> flowLogs)
    : host_(std::move(host)) {
  for (auto& f : flowLogs) put(flowLogs_, std::move(f));
  for (auto& i : impairments) put(impairments_, std::move(i));
  for (auto& f : forwards) put(forwards_, std::move(f));
  for (auto& l : labs) put(labs_, std::move(l));
  for (auto& v : vpcs) put(vpcs_, std::move(v));
  for (auto& p : peerings) peerings_[p.name] = std::move(p);
  for (auto& p : policies) put(policies_, std::move(p));
  for (auto& i : instances) put(instances_, std::move(i));
}

const Quarantine& DesiredState::quarantine() const {
  static const Quarantine none;
  return quarantine_ ? *quarantine_ : none;
}

void DesiredState::refuseIfHeld(const std::string& kind, const std::string& name,
                                const std::string& field) const {
  if (quarantine_ && quarantine_->reason(kind, name)) quarantine_->refuse(kind, name, field);
}

DesiredState DesiredState::with(const Change& c) const {
  refuseIfAllHeld();
  DesiredState next = *this;
  std::visit([&](const auto& change) { next.apply(change); }, c);
  return next;
}

DesiredState DesiredState::with(const std::vector<Change>& changes) const {
  refuseIfAllHeld();
  DesiredState next = *this;
  for (const auto& c : changes) std::visit([&](const auto& change) { next.apply(change); }, c);
  return next;
}

const Vpc* DesiredState::findVpc(const std::string& name) const {
  return find(vpcs_, name);
}
const Policy* DesiredState::findPolicy(const std::string& name) const {
  return find(policies_, name);
}
const Instance* DesiredState::findInstance(const std::string& name) const {
  return find(instances_, name);
}
const Lab* DesiredState::findLab(const std::string& name) const {
  return find(labs_, name);
}
const PortForward* DesiredState::findPortForward(const std::string& name) const {
  return find(forwards_, name);
}
const Impairment* DesiredState::findImpairment(const std::string& name) const {
  return find(impairments_, name);
}
const Peering* DesiredState::findPeering(const std::string& name) const {
  auto it = peerings_.find(name);
  return it == peerings_.end() ? nullptr : &it->second;
}
const Subnet* DesiredState::findSubnet(const SubnetRef& ref) const {
  const Vpc* v = findVpc(ref.vpc);
  return v ? v->findSubnet(ref.subnet) : nullptr;
}

const Vpc& DesiredState::vpc(const std::string& name) const {
  if (const Vpc* v = findVpc(name)) return *v;
  refuseIfHeld("vpc", name);
  throw DomainError::notFound("vpc " + name + " not found");
}
const Subnet& DesiredState::subnet(const SubnetRef& ref) const {
  if (const Subnet* s = vpc(ref.vpc).findSubnet(ref.subnet)) return *s;
  throw DomainError::notFound("subnet " + ref.subnet + " not found in vpc " + ref.vpc);
}
const Peering& DesiredState::peering(const std::string& name) const {
  if (const Peering* p = findPeering(name)) return *p;
  refuseIfHeld("peering", name);
  throw DomainError::notFound("peering " + name + " not found");
}
const Policy& DesiredState::policy(const std::string& name) const {
  if (const Policy* p = findPolicy(name)) return *p;
  refuseIfHeld("policy", name);
  throw DomainError::notFound("policy " + name + " not found");
}
const Instance& DesiredState::instance(const std::string& name) const {
  if (const Instance* i = findInstance(name)) return *i;
  refuseIfHeld("instance", name);
  throw DomainError::notFound("instance " + name + " not found");
}

const Lab& DesiredState::lab(const std::string& name) const {
  if (const Lab* l = findLab(name)) return *l;
  refuseIfHeld("lab", name);
  throw DomainError::notFound("lab " + name + " not found");
}

const PortForward& DesiredState::portForward(const std::string& name) const {
  if (const PortForward* f = findPortForward(name)) return *f;
  refuseIfHeld("port_forward", name);
  throw DomainError::notFound("port forward " + name + " not found");
}
const FlowLog* DesiredState::findFlowLog(const std::string& name) const {
  return find(flowLogs_, name);
}

const FlowLog& DesiredState::flowLog(const std::string& name) const {
  if (const FlowLog* f = findFlowLog(name)) return *f;
  refuseIfHeld("flow_log", name);
  throw DomainError::notFound("flow log " + name + " not found");
}

const Impairment& DesiredState::impairment(const std::string& name) const {
  if (const Impairment* i = findImpairment(name)) return *i;
  refuseIfHeld("impairment", name);
  throw DomainError::notFound("impairment " + name + " not found");
}

std::vector<std::string> DesiredState::ownedBy(const std::string& lab) const {
  std::vector<std::string> out;
  for (const auto& [name, v] : vpcs_)
    if (v->lab == lab) out.push_back("vpc " + name);
  for (const auto& [name, p] : peerings_)
    if (p.lab == lab) out.push_back("peering " + name);
  for (const auto& [name, p] : policies_)
    if (p->lab == lab) out.push_back("policy " + name);
  for (const auto& [name, i] : instances_)
    if (i->lab == lab) out.push_back("instance " + name);
  for (const auto& [name, f] : forwards_)
    if (f->lab == lab) out.push_back("port_forward " + name);
  for (const auto& [name, i] : impairments_)
    if (i->lab == lab) out.push_back("impairment " + name);
  for (const auto& [name, f] : flowLogs_)
    if (f->lab == lab) out.push_back("flow_log " + name);
  return out;
}

void requireOwner(const std::string& kind, const std::string& name, const std::string& owner,
                  const std::string& actor) {
  if (owner == actor) return;
  if (actor.empty()) {
    throw DomainError::conflict(kind + " " + name + " belongs to lab " + owner +
                                "; change it in the lab's file and apply it, or destroy the lab");
  }
  if (owner.empty()) {
    throw DomainError::conflict(kind + " " + name + " was made outside any lab and lab " + actor +
                                " changes only its own objects; apply with adopt to take it over");
  }
  throw DomainError::conflict(kind + " " + name + " belongs to lab " + owner);
}

std::vector<std::string> DesiredState::policiesOn(const SubnetRef& ref) const {
  std::vector<std::string> out;
  for (const auto& [name, p] : policies_) {
    bool hit = std::any_of(p->sections.begin(), p->sections.end(), [&](const PolicySection& s) {
      return std::any_of(s.appliesTo.begin(), s.appliesTo.end(), [&](const std::string& t) {
        return ref.subnet.empty() ? t.substr(0, t.find('/')) == ref.vpc : t == ref.str();
      });
    });
    if (hit) out.push_back(name);
  }
  return out;
}

std::vector<std::string> DesiredState::nicsIn(const SubnetRef& ref) const {
  std::vector<std::string> out;
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i->nics) {
      if (n.vpc == ref.vpc && (ref.subnet.empty() || n.subnet == ref.subnet))
        out.push_back(name + "/" + n.name);
    }
  }
  return out;
}

std::vector<Ipv4> DesiredState::availableIps(const SubnetRef& ref, size_t limit) const {
  SubnetIpam ipam(subnet(ref).cidr);
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i->nics) {
      if (n.vpc == ref.vpc && n.subnet == ref.subnet) ipam.markUsed(n.ip);
    }
  }
  return ipam.available(limit);
}

std::set<int> DesiredState::usedTransitIndexes() const {
  std::set<int> used;
  for (const auto& [name, v] : vpcs_) used.insert(v->transitIndex);
  if (quarantine_)
    used.insert(quarantine_->transitIndexes.begin(), quarantine_->transitIndexes.end());
  for (const auto& [name, p] : peerings_) {
    if (p.state == PeeringState::Active) used.insert(p.transitIndex);
  }
  return used;
}

size_t DesiredState::subnetCount() const {
  size_t n = 0;
  for (const auto& [name, v] : vpcs_) n += v->subnets.size();
  return n;
}

int DesiredState::freeTransitIndex() const {
  auto index = lowestFreeIndex(usedTransitIndexes(), transitCapacity(host_.transitPool));
  if (!index) {
    throw DomainError::unprocessable("transit pool " + host_.transitPool.str() +
                                     " has no free /30 left");
  }
  return *index;
}

void DesiredState::requireUnused(const SubnetRef& ref) const {
  auto refuse = [&](const std::vector<std::string>& users, const std::string& what,
                    const std::string& advice) {
    if (users.empty()) return;
    throw DomainError::conflict((ref.subnet.empty() ? "vpc " + ref.vpc : "subnet " + ref.str()) +
                                " has " + what + " (" + joined(users) + "); " + advice);
  };
  refuse(policiesOn(ref), "policies applied",
         "delete them or remove it from their applies_to first");
  refuse(nicsIn(ref), "instance NICs", "delete them first");
  refuse(forwardsInto(ref), "port forwards", "delete them first");
  refuse(impairmentsOn(ref), "impairments", "delete them first");
  refuse(flowLogsOn(ref), "flow logs", "delete them first");
}

// --- VPCs and subnets ---

void DesiredState::apply(const change::CreateVpc& c) {
  Vpc vpc = c.vpc;
  refuseIfHeld("vpc", vpc.name, "name");
  if (const Vpc* have = findVpc(vpc.name)) {
    requireOwner("vpc", vpc.name, have->lab, vpc.lab);
    if (have->cidr == vpc.cidr && have->mtu == vpc.mtu) return;  // the same again: nothing
    throw DomainError::conflict("vpc " + vpc.name + " exists with cidr " + have->cidr.str() +
                                    " and mtu " + std::to_string(have->mtu),
                                have->cidr != vpc.cidr ? "cidr" : "mtu");
  }
  for (const auto& [name, other] : vpcs_) {
    if (transitLinkName(name) == transitLinkName(vpc.name)) {
      throw DomainError::conflict("vpc " + vpc.name + ": interface name " +
                                      transitLinkName(vpc.name) + " is already used by vpc " +
                                      name + "; choose another name",
                                  "name");
    }
  }
  vpc.transitIndex = freeTransitIndex();
  put(vpcs_, std::move(vpc));
}

void DesiredState::apply(const change::DeleteVpc& c) {
  requireOwner("vpc", c.name, vpc(c.name).lab, c.lab);
  requireUnused({c.name, ""});
  for (const auto& [pname, p] : peerings_) {
    if (p.live() && (p.vpc == c.name || p.peerVpc == c.name)) {
      throw DomainError::conflict("vpc " + c.name + " has peering " + pname + " (" +
                                  toString(p.state) + "); delete the peering first");
    }
  }
  vpcs_.erase(c.name);
}

void DesiredState::apply(const change::CreateSubnet& c) {
  const Vpc& current = vpc(c.vpc);
  requireOwner("vpc", c.vpc, current.lab, c.lab);
  const Subnet& subnet = c.subnet;
  if (const Subnet* have = current.findSubnet(subnet.name)) {
    if (*have == subnet) return;
    throw DomainError::conflict("subnet " + subnet.name + " exists in vpc " + c.vpc +
                                    " with cidr " + have->cidr.str() + " and type " +
                                    toString(have->type),
                                have->cidr != subnet.cidr ? "cidr" : "type");
  }
  checkSubnetFits(current, subnet);
  for (const auto& other : current.subnets) {
    if (subnetPortName(other.name) == subnetPortName(subnet.name)) {
      throw DomainError::conflict("subnet " + subnet.name + ": interface name " +
                                      subnetPortName(subnet.name) + " is already used by subnet " +
                                      other.name + "; choose another name",
                                  "name");
    }
  }
  Vpc updated = current;
  Subnet added = subnet;
  added.seq = updated.subnets.empty() ? 1 : updated.subnets.back().seq + 1;
  updated.subnets.push_back(std::move(added));
  put(vpcs_, std::move(updated));
}

void DesiredState::apply(const change::DeleteSubnet& c) {
  subnet(c.ref);
  requireOwner("vpc", c.ref.vpc, vpc(c.ref.vpc).lab, c.lab);
  requireUnused(c.ref);
  Vpc updated = vpc(c.ref.vpc);
  std::erase_if(updated.subnets, [&](const Subnet& s) { return s.name == c.ref.subnet; });
  put(vpcs_, std::move(updated));
}

// --- peerings ---

void DesiredState::apply(const change::ExpirePeerings& c) {
  for (auto& [name, p] : peerings_) expire(p, c.now);
}

void DesiredState::apply(const change::RequestPeering& c) {
  Peering p = c.peering;
  refuseIfHeld("peering", p.name, "name");
  refuseIfHeld("vpc", p.vpc, "vpc");
  refuseIfHeld("vpc", p.peerVpc, "peer_vpc");
  auto lookup = [this](const std::string& name) { return findVpc(name); };
  if (const Peering* have = findPeering(p.name)) {
    requireOwner("peering", p.name, have->lab, p.lab);
    // Identical when it names the same VPCs and, with defaults filled in, the
    // same allow-lists; a re-run script then gets the peering it made.
    Peering probe = p;
    for (const auto* side : {&p.vpc, &p.peerVpc}) {
      if (!probe.allowed.count(*side) && findVpc(*side))
        probe.allowed[*side] = {findVpc(*side)->cidr};
    }
    if (have->vpc == probe.vpc && have->peerVpc == probe.peerVpc && have->allowed == probe.allowed)
      return;
    throw DomainError::conflict("peering " + p.name + " exists between " + have->vpc + " and " +
                                    have->peerVpc + " with other allowed cidrs",
                                "name");
  }
  checkPeering(p, lookup, peerings_);
  peerings_[p.name] = std::move(p);
}

Peering& DesiredState::pending(const std::string& name, const std::string& verb) {
  peering(name);
  Peering& p = peerings_.at(name);
  if (p.state != PeeringState::Pending) {
    throw DomainError::conflict("peering " + name + " is " + toString(p.state) +
                                "; only a pending-acceptance peering can be " + verb);
  }
  return p;
}

void DesiredState::apply(const change::AcceptPeering& c) {
  apply(change::ExpirePeerings{c.now});
  requireOwner("peering", c.name, peering(c.name).lab, c.lab);
  Peering& p = pending(c.name, "accepted");
  checkNoAmbiguousRoutes(p, peerings_);
  p.transitIndex = freeTransitIndex();
  p.state = PeeringState::Active;
  p.acceptedAt = c.now;
}

void DesiredState::apply(const change::RejectPeering& c) {
  apply(change::ExpirePeerings{c.now});
  requireOwner("peering", c.name, peering(c.name).lab, c.lab);
  Peering& p = pending(c.name, "rejected");
  p.state = PeeringState::Rejected;
  p.rejectedAt = c.now;
}

void DesiredState::apply(const change::DeletePeering& c) {
  requireOwner("peering", c.name, peering(c.name).lab, c.lab);
  requireUnimpaired(impairmentsOnPeering(c.name), "peering " + c.name);
  peerings_.erase(c.name);
}

// --- policies ---

// Targets become "vpc/subnet": a seed document may name a subnet by CIDR,
// which must match exactly one subnet across all VPCs.
void DesiredState::resolveTargets(Policy& p, bool list) const {
  for (size_t s = 0; s < p.sections.size(); ++s) {
    auto& targets = p.sections[s].appliesTo;
    for (size_t i = 0; i < targets.size(); ++i) {
      std::string field = targetField(p, list, s, i);
      if (auto cidr = Cidr::parse(targets[i])) {
        std::vector<std::string> matches;
        for (const auto& [name, v] : vpcs_) {
          for (const auto& sub : v->subnets) {
            if (sub.cidr == *cidr) matches.push_back(SubnetRef{name, sub.name}.str());
          }
        }
        if (matches.empty()) throw DomainError::notFound("no subnet has cidr " + targets[i], field);
        if (matches.size() > 1) {
          throw DomainError::conflict("cidr " + targets[i] + " matches subnets " + matches[0] +
                                          " and " + matches[1] + "; name the subnet as vpc/subnet",
                                      field);
        }
        targets[i] = matches[0];
        continue;
      }
      auto ref = SubnetRef::parse(targets[i]);
      if (ref && !findSubnet(*ref)) refuseIfHeld("vpc", ref->vpc, field);
      if (!ref || !findSubnet(*ref))
        throw DomainError::notFound("subnet " + targets[i] + " not found", field);
    }
  }
}

void DesiredState::apply(const change::PutPolicy& c) {
  Policy p = c.policy;
  refuseIfHeld("policy", p.name);
  resolveTargets(p, c.list);
  if (const Policy* have = findPolicy(p.name)) {
    requireOwner("policy", p.name, have->lab, p.lab);
    if (have->sections == p.sections) return;
    p.createdAt = have->createdAt;
  }
  put(policies_, std::move(p));
}

void DesiredState::apply(const change::DeletePolicy& c) {
  requireOwner("policy", c.name, policy(c.name).lab, c.lab);
  policies_.erase(c.name);
}

// --- labs ---

void DesiredState::apply(const change::Adopt& c) {
  requireLabel("lab", c.lab);
  auto take = [&](const std::string& owner) {
    if (!owner.empty() && owner != c.lab) requireOwner(c.kind, c.name, owner, c.lab);
  };
  // The object with the lab as its owner, put back as a new value.
  auto adopt = [&](auto object, auto& table) {
    take(object.lab);
    object.lab = c.lab;
    put(table, std::move(object));
  };
  if (c.kind == "vpc") {
    adopt(vpc(c.name), vpcs_);
  } else if (c.kind == "peering") {
    take(peering(c.name).lab);
    peerings_.at(c.name).lab = c.lab;
  } else if (c.kind == "policy") {
    adopt(policy(c.name), policies_);
  } else if (c.kind == "instance") {
    adopt(instance(c.name), instances_);
  } else if (c.kind == "port_forward") {
    adopt(portForward(c.name), forwards_);
  } else if (c.kind == "impairment") {
    adopt(impairment(c.name), impairments_);
  } else if (c.kind == "flow_log") {
    adopt(flowLog(c.name), flowLogs_);
  } else {
    throw DomainError::invalid("kind", "no object kind \"" + c.kind + "\" to adopt");
  }
}

void DesiredState::apply(const change::PutLab& c) {
  requireLabel("name", c.lab.name);
  refuseIfHeld("lab", c.lab.name, "name");
  Lab l = c.lab;
  if (const Lab* have = findLab(l.name)) l.createdAt = have->createdAt;
  put(labs_, std::move(l));
}

void DesiredState::apply(const change::DeleteLab& c) {
  lab(c.name);
  auto owned = ownedBy(c.name);
  if (!owned.empty()) {
    throw DomainError::conflict("lab " + c.name + " still owns " + joined(owned) +
                                "; they go first");
  }
  labs_.erase(c.name);
}

}  // namespace vpcd
