// Port forwards in the desired state (declared in desired_state.h): where a
// forward's target leads, and what it may not share with another forward.
#include <algorithm>

#include "lib/model/desired_state.h"
#include "lib/model/error.h"

namespace vpcd {

std::vector<std::string> DesiredState::forwardsInto(const SubnetRef& ref) const {
  std::vector<std::string> out;
  for (const auto& [name, f] : forwards_) {
    if (f->vpc == ref.vpc && (ref.subnet.empty() || f->subnet == ref.subnet)) out.push_back(name);
  }
  return out;
}

std::vector<std::string> DesiredState::forwardsTo(const std::string& instance,
                                                  const std::string& nic) const {
  std::vector<std::string> out;
  for (const auto& [name, f] : forwards_) {
    if (f->instance == instance && (nic.empty() || f->nic == nic)) out.push_back(name);
  }
  return out;
}

// "prod:10.10.2.10" is an address in a VPC (any subnet's, not its router's
// or a subnet's reserved ones: a forward to a gateway would reach the router
// itself); "prod/web" a subnet's host, else an instance NIC ("api/eth1");
// "api" an instance's primary NIC. Each resolves once, when the forward is
// made: a forward to an instance follows that NIC's address, which does not
// change for the NIC's life.
void DesiredState::resolveTarget(PortForward& f) const {
  const std::string& t = f.target;
  if (auto colon = t.find(':'); colon != std::string::npos) {
    std::string vpcName = t.substr(0, colon);
    auto ip = Ipv4::parse(t.substr(colon + 1));
    if (!isLabel(vpcName) || !ip)
      throw DomainError::invalid("target", "\"" + t + "\" is not vpc:address");
    const Vpc* v = findVpc(vpcName);
    if (!v) refuseIfHeld("vpc", vpcName, "target");
    if (!v) throw DomainError::notFound("vpc " + vpcName + " not found", "target");
    auto in = std::find_if(v->subnets.begin(), v->subnets.end(),
                           [&](const Subnet& s) { return s.cidr.contains(*ip); });
    if (in == v->subnets.end()) {
      throw DomainError::unprocessable(
          ip->str() + " is in no subnet of vpc " + vpcName + " (" + v->cidr.str() + ")", "target");
    }
    if (*ip == in->cidr.network() || *ip == in->gateway() || *ip == in->cidr.broadcast()) {
      throw DomainError::unprocessable(ip->str() +
                                           " is the network, gateway or broadcast address of " +
                                           vpcName + "/" + in->name,
                                       "target");
    }
    f.vpc = vpcName;
    f.subnet = in->name;
    f.targetIp = *ip;
    return;
  }
  if (auto ref = SubnetRef::parse(t)) {
    if (const Subnet* s = findSubnet(*ref)) {
      f.vpc = ref->vpc;
      f.subnet = s->name;
      f.targetIp = s->address();
      return;
    }
  }
  auto slash = t.find('/');
  std::string name = t.substr(0, slash);
  const Instance* i = isLabel(name) ? findInstance(name) : nullptr;
  if (!i) {
    if (isLabel(name)) refuseIfHeld("instance", name, "target");
    throw DomainError::notFound("target " + t + " is neither a subnet (vpc/subnet) nor an instance",
                                "target");
  }
  const Nic* nic = &i->nics.front();
  if (slash != std::string::npos) {
    std::string want = t.substr(slash + 1);
    auto it =
        std::find_if(i->nics.begin(), i->nics.end(), [&](const Nic& n) { return n.name == want; });
    if (it == i->nics.end())
      throw DomainError::notFound("instance " + name + " has no NIC " + want, "target");
    nic = &*it;
  }
  f.vpc = nic->vpc;
  f.subnet = nic->subnet;
  f.targetIp = nic->ip;
  f.instance = i->name;
  f.nic = nic->name;
}

void DesiredState::apply(const change::CreatePortForward& c) {
  PortForward f = c.forward;
  refuseIfHeld("port_forward", f.name, "name");
  resolveTarget(f);
  refuseIfHeld("vpc", f.vpc, "target");
  if (const PortForward* have = findPortForward(f.name)) {
    requireOwner("port_forward", f.name, have->lab, f.lab);
    PortForward probe = f;
    probe.createdAt = have->createdAt;
    if (probe == *have) return;  // the same again: nothing
    throw DomainError::conflict("port forward " + f.name + " exists: " + have->listenText() +
                                    " to " + have->target + " port " +
                                    std::to_string(have->targetPort),
                                "name");
  }
  for (const auto& [name, other] : forwards_) {
    if (f.clashesWith(*other)) {
      throw DomainError::conflict("port forward " + name + " already takes " + other->listenText(),
                                  "listen_port");
    }
    // The router tells forwards apart by protocol and port alone (its side
    // has no listen address), so one VPC takes each port once.
    if (other->vpc == f.vpc && other->protocol == f.protocol && other->listenPort == f.listenPort) {
      throw DomainError::conflict("port forward " + name + " already leads " + f.protocol + "/" +
                                      std::to_string(f.listenPort) + " into vpc " + f.vpc +
                                      "; use another listen_port",
                                  "listen_port");
    }
  }
  std::string name = f.name;
  forwards_[name] = std::make_shared<const PortForward>(std::move(f));
}

void DesiredState::apply(const change::DeletePortForward& c) {
  requireOwner("port_forward", c.name, portForward(c.name).lab, c.lab);
  forwards_.erase(c.name);
}

}  // namespace vpcd
