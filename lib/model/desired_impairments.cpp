// Impairments in the desired state (declared in desired_state.h): what a
// target names, one effect per link and direction, and timed ones ending.
#include <algorithm>

#include "lib/model/desired_helpers.h"

namespace vpcd {

namespace {

template <typename Pred>
std::vector<std::string> impairmentsWhere(const Table<Impairment>& all, Pred pred) {
  std::vector<std::string> out;
  for (const auto& [name, i] : all) {
    if (pred(*i)) out.push_back(name);
  }
  return out;
}

// The link an impairment acts on, as one string: two impairments with the
// same one act on the same qdisc.
std::string linkOf(const Impairment& i) {
  switch (i.kind) {
    case Impairment::Kind::Nic:
      return "nic " + i.instance + "/" + i.nic;
    case Impairment::Kind::Peering:
      return "peering " + i.peering;
    case Impairment::Kind::Subnet:
      break;
  }
  return "subnet " + i.vpc + "/" + i.subnet;
}

}  // namespace

std::vector<std::string> DesiredState::impairmentsOn(const SubnetRef& ref) const {
  return impairmentsWhere(impairments_, [&](const Impairment& i) {
    return i.kind == Impairment::Kind::Subnet && i.vpc == ref.vpc &&
           (ref.subnet.empty() || i.subnet == ref.subnet);
  });
}

std::vector<std::string> DesiredState::impairmentsOnNic(const std::string& instance,
                                                        const std::string& nic) const {
  return impairmentsWhere(impairments_, [&](const Impairment& i) {
    return i.kind == Impairment::Kind::Nic && i.instance == instance &&
           (nic.empty() || i.nic == nic);
  });
}

std::vector<std::string> DesiredState::impairmentsOnPeering(const std::string& peering) const {
  return impairmentsWhere(impairments_, [&](const Impairment& i) {
    return i.kind == Impairment::Kind::Peering && i.peering == peering;
  });
}

void DesiredState::requireUnimpaired(const std::vector<std::string>& names,
                                     const std::string& what) {
  if (names.empty()) return;
  throw DomainError::conflict(what + " is the target of impairments (" + desired::joined(names) +
                              "); delete them first");
}

// "peering/NAME" a peering; "vpc/subnet" a subnet's host; "instance/eth<k>"
// one NIC of an instance. A name that reads both ways (a VPC and an
// instance of one name, a subnet called eth1) is refused rather than guessed.
void DesiredState::resolveTarget(Impairment& i) const {
  const std::string& t = i.target;
  auto slash = t.find('/');
  std::string first = t.substr(0, slash);
  std::string second = slash == std::string::npos ? "" : t.substr(slash + 1);
  if (slash == std::string::npos || !isLabel(first) || !isLabel(second)) {
    throw DomainError::invalid("target", "\"" + t +
                                             "\" is not vpc/subnet, instance/eth<k> or "
                                             "peering/name");
  }
  const Peering* peer = first == "peering" ? findPeering(second) : nullptr;
  const Subnet* subnet = findSubnet({first, second});
  const Instance* inst = findInstance(first);
  const Nic* nic = nullptr;
  if (inst) {
    auto it = std::find_if(inst->nics.begin(), inst->nics.end(),
                           [&](const Nic& n) { return n.name == second; });
    if (it != inst->nics.end()) nic = &*it;
  }
  if (int(peer != nullptr) + int(subnet != nullptr) + int(nic != nullptr) > 1) {
    throw DomainError::conflict("target " + t +
                                    " names more than one link (a subnet, a NIC or a peering); "
                                    "rename one of them",
                                "target");
  }
  if (peer) {
    refuseIfHeld("peering", peer->name, "target");
    i.kind = Impairment::Kind::Peering;
    i.peering = peer->name;
    i.vpc = peer->vpc;
    i.peerVpc = peer->peerVpc;
  } else if (subnet) {
    refuseIfHeld("vpc", first, "target");
    i.kind = Impairment::Kind::Subnet;
    i.vpc = first;
    i.subnet = second;
  } else if (nic) {
    refuseIfHeld("instance", first, "target");
    i.kind = Impairment::Kind::Nic;
    i.instance = inst->name;
    i.nic = nic->name;
    i.vpc = nic->vpc;
    i.subnet = nic->subnet;
  } else if (first == "peering") {
    refuseIfHeld("peering", second, "target");
    throw DomainError::notFound("peering " + second + " not found", "target");
  } else if (inst) {
    throw DomainError::notFound("instance " + first + " has no NIC " + second, "target");
  } else {
    refuseIfHeld("vpc", first, "target");
    refuseIfHeld("instance", first, "target");
    throw DomainError::notFound("target " + t + " is neither a subnet nor an instance NIC",
                                "target");
  }
}

void DesiredState::requireOnlyImpairment(const Impairment& i) const {
  for (const auto& [name, other] : impairments_) {
    if (name == i.name || !other->enabled || linkOf(*other) != linkOf(i)) continue;
    if ((i.inbound() && other->inbound()) || (i.outbound() && other->outbound())) {
      throw DomainError::conflict("impairment " + name + " already acts on " + linkOf(i) +
                                      " (direction " + other->direction +
                                      "); disable or delete it first",
                                  "target");
    }
  }
}

void DesiredState::apply(const change::PutImpairment& c) {
  Impairment i = c.impairment;
  refuseIfHeld("impairment", i.name, "name");
  resolveTarget(i);
  if (const Impairment* have = findImpairment(i.name)) {
    requireOwner("impairment", i.name, have->lab, i.lab);
    i.createdAt = have->createdAt;
    // The same values again keep their clock: a re-applied lab must not
    // extend a timed fault, nor change anything.
    if (i.sameEffect(*have)) i.enabledAt = have->enabledAt;
    if (i == *have) return;
  }
  if (i.enabled) requireOnlyImpairment(i);
  desired::put(impairments_, std::move(i));
}

void DesiredState::apply(const change::DeleteImpairment& c) {
  requireOwner("impairment", c.name, impairment(c.name).lab, c.lab);
  impairments_.erase(c.name);
}

void DesiredState::apply(const change::ExpireImpairments& c) {
  for (auto& [name, i] : impairments_) {
    if (!i->endsAt() || i->endsAt() > c.now) continue;
    Impairment off = *i;
    off.enabled = false;
    i = std::make_shared<const Impairment>(std::move(off));
  }
}

}  // namespace vpcd
