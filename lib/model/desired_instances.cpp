// Instances in the desired state (declared in desired_state.h): their NICs'
// addresses, their life cycle, NICs added and removed.
#include <algorithm>

#include "lib/ipam/ipam.h"
#include "lib/model/desired_helpers.h"

namespace vpcd {

using desired::put;
using desired::requireNoForwards;

Nic DesiredState::allocateNic(const NicRequest& r, const std::string& instance, int index) const {
  std::string field = r.field.empty() ? "subnet" : r.field + ".subnet";
  SubnetRef ref{r.vpc, r.subnet};
  const Subnet* subnet = findSubnet(ref);
  if (!subnet) refuseIfHeld("vpc", ref.vpc, field);
  if (!subnet) throw DomainError::notFound("subnet " + ref.str() + " not found", field);
  SubnetIpam ipam(subnet->cidr);
  std::map<uint32_t, std::string> holders;
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i->nics) {
      if (n.vpc == r.vpc && n.subnet == r.subnet) {
        ipam.markUsed(n.ip);
        holders[n.ip.value] = name + "/" + n.name;
      }
    }
  }
  std::string ipField = r.field.empty() ? "ip" : r.field + ".ip";
  if (r.ip) {
    if (!subnet->cidr.contains(*r.ip))
      throw DomainError::conflict(
          r.ip->str() + " is outside subnet " + ref.str() + " (" + subnet->cidr.str() + ")",
          ipField);
    if (ipam.isReserved(*r.ip))
      throw DomainError::conflict(r.ip->str() + " is reserved in " + subnet->cidr.str() +
                                      " (network, gateway .1, subnet host .2, broadcast)",
                                  ipField);
    if (ipam.inUse(*r.ip))
      throw DomainError::conflict(r.ip->str() + " is in use by " + holders.at(r.ip->value),
                                  ipField);
  }
  std::string why;
  auto ip = ipam.allocate(r.ip, &why);
  if (!ip) throw DomainError::conflict(why, field);
  std::string name = nicName(index);
  return Nic{.name = name,
             .vpc = r.vpc,
             .subnet = r.subnet,
             .subnetCidr = subnet->cidr,
             .ip = *ip,
             .mac = macFor(instance + "/" + name)};
}

void DesiredState::apply(const change::CreateInstance& c) {
  Instance i = c.request.instance;
  refuseIfHeld("instance", i.name, "name");
  if (const Instance* have = findInstance(i.name)) {
    requireOwner("instance", i.name, have->lab, i.lab);
    throw DomainError::conflict("instance " + i.name + " exists", "name");
  }
  for (const auto& [name, other] : instances_) {
    if (instancePortName(name, nicName(0)) == instancePortName(i.name, nicName(0)))
      throw DomainError::conflict("instance " + i.name + ": interface names would collide with " +
                                      "instance " + name + "; choose another name",
                                  "name");
  }
  // The request has at most one NIC per subnet (checked when parsed), so
  // no NIC of it competes with another for an address.
  for (size_t k = 0; k < c.request.nics.size(); ++k)
    i.nics.push_back(allocateNic(c.request.nics[k], i.name, static_cast<int>(k)));
  i.createdAt = c.now;
  i.status = InstanceStatus::Running;
  i.lastStartAt = c.now;
  put(instances_, std::move(i));
}

void DesiredState::apply(const change::DeleteInstance& c) {
  requireOwner("instance", c.name, instance(c.name).lab, c.lab);
  requireNoForwards(forwardsTo(c.name, ""), "instance " + c.name);
  requireUnimpaired(impairmentsOnNic(c.name, ""), "instance " + c.name);
  instances_.erase(c.name);
}

void DesiredState::apply(const change::UpdateInstance& c) {
  const Instance& have = instance(c.instance.name);
  if (have.lab != c.instance.lab) {
    throw DomainError::invalid("lab", "an instance's lab changes only by adopting it");
  }
  if (have.nics != c.instance.nics) {
    throw DomainError::invalid("nics", "an instance's NICs change only by adding or removing one");
  }
  put(instances_, c.instance);
}

void DesiredState::apply(const change::AddNic& c) {
  Instance i = instance(c.instance);
  requireOwner("instance", i.name, i.lab, c.lab);
  for (const auto& n : i.nics) {
    if (n.vpc == c.nic.vpc && n.subnet == c.nic.subnet)
      throw DomainError::invalid("subnet", "instance " + i.name + " already has " + n.name +
                                               " in " + n.target() + "; one NIC per subnet");
  }
  std::set<int> used;
  for (const auto& n : i.nics) used.insert(nicIndex(n.name));
  int k = *lowestFreeIndex(used, 1 << 16);
  i.nics.push_back(allocateNic(c.nic, i.name, k));
  put(instances_, std::move(i));
}

void DesiredState::apply(const change::RemoveNic& c) {
  Instance i = instance(c.instance);
  requireOwner("instance", i.name, i.lab, c.lab);
  auto it =
      std::find_if(i.nics.begin(), i.nics.end(), [&](const Nic& n) { return n.name == c.nic; });
  if (it == i.nics.end())
    throw DomainError::notFound("instance " + i.name + " has no NIC " + c.nic);
  if (it == i.nics.begin())
    throw DomainError::conflict("eth0 is the primary NIC of " + i.name +
                                "; it goes only with the instance");
  requireNoForwards(forwardsTo(i.name, c.nic), "NIC " + i.name + "/" + c.nic);
  requireUnimpaired(impairmentsOnNic(i.name, c.nic), "NIC " + i.name + "/" + c.nic);
  i.nics.erase(it);
  put(instances_, std::move(i));
}

}  // namespace vpcd
