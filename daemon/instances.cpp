// The instance half of VpcService: create, read, delete, NICs, addresses,
// hosts files. Lifecycle and commands are in instance_lifecycle.cpp.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "daemon/service.h"
#include "lib/ipam/ipam.h"
#include "lib/model/api_error.h"
#include "lib/model/names.h"

namespace vpcd {

using nlohmann::json;

namespace {

// "env=lab" -> the instance has label env with value lab; "env" -> has env.
bool hasLabel(const Instance& i, const std::string& selector) {
  size_t eq = selector.find('=');
  auto it = i.labels.find(selector.substr(0, eq));
  return it != i.labels.end() && (eq == std::string::npos || it->second == selector.substr(eq + 1));
}

}  // namespace

Instance& VpcService::requireInstance(const std::string& name) {
  auto it = instances_.find(name);
  if (it == instances_.end()) throw ApiError::notFound("instance " + name + " not found");
  return it->second;
}

const Instance& VpcService::requireInstance(const std::string& name) const {
  auto it = instances_.find(name);
  if (it == instances_.end()) throw ApiError::notFound("instance " + name + " not found");
  return it->second;
}

std::set<std::string> VpcService::vpcsOf(const Instance& i) {
  std::set<std::string> out;
  for (const auto& n : i.nics) out.insert(n.vpc);
  return out;
}

std::vector<std::string> VpcService::instancesIn(const std::string& vpc,
                                                 const std::string& subnet) const {
  std::vector<std::string> out;
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i.nics) {
      if (n.vpc == vpc && (subnet.empty() || n.subnet == subnet)) {
        out.push_back(name + "/" + n.name);
      }
    }
  }
  return out;
}

Nic VpcService::allocateNic(const NicRequest& r, const std::string& instance,
                            const std::string& nicName) const {
  std::string field = r.field.empty() ? "subnet" : r.field + ".subnet";
  auto vpc = vpcs_.find(r.vpc);
  const Subnet* subnet = vpc == vpcs_.end() ? nullptr : vpc->second.findSubnet(r.subnet);
  if (!subnet)
    throw ApiError(404, "NOT_FOUND", "subnet " + r.vpc + "/" + r.subnet + " not found", field);
  SubnetIpam ipam(subnet->cidr);
  std::map<uint32_t, std::string> holders;
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i.nics) {
      if (n.vpc == r.vpc && n.subnet == r.subnet) {
        ipam.markUsed(n.ip);
        holders[n.ip.value] = name + "/" + n.name;
      }
    }
  }
  std::string ipField = r.field.empty() ? "ip" : r.field + ".ip";
  if (r.ip) {
    if (!subnet->cidr.contains(*r.ip))
      throw ApiError::conflict(r.ip->str() + " is outside subnet " + r.vpc + "/" + r.subnet + " (" +
                                   subnet->cidr.str() + ")",
                               ipField);
    if (ipam.isReserved(*r.ip))
      throw ApiError::conflict(r.ip->str() + " is reserved in " + subnet->cidr.str() +
                                   " (network, gateway .1, subnet host .2, broadcast)",
                               ipField);
    if (ipam.inUse(*r.ip))
      throw ApiError::conflict(r.ip->str() + " is in use by " + holders.at(r.ip->value), ipField);
  }
  std::string why;
  auto ip = ipam.allocate(r.ip, &why);
  if (!ip) throw ApiError::conflict(why, field);
  return Nic{.name = nicName,
             .vpc = r.vpc,
             .subnet = r.subnet,
             .subnetCidr = subnet->cidr,
             .ip = *ip,
             .mac = macFor(instance + "/" + nicName)};
}

void VpcService::applyInstance(const Instance& i, const std::set<std::string>& extraVpcs) {
  store_.saveInstance(i);
  instances_[i.name] = i;
  std::set<std::string> vpcs = vpcsOf(i);
  vpcs.insert(extraVpcs.begin(), extraVpcs.end());
  Scope scope = routersOf(vpcs);
  scope.namespaces.insert(instanceNamespace(i.name));
  writeHostsFiles();
  converge(vpcs, scope);
}

Reply VpcService::listInstances(const Query& q) const {
  json items = json::array();
  for (const auto& [name, i] : instances_) {
    if (q.count("label") && !hasLabel(i, q.at("label"))) continue;
    if (q.count("vpc") && !vpcsOf(i).count(q.at("vpc"))) continue;
    items.push_back(toJson(i, commandRunning(i)));
  }
  return {200, json{{"items", items}}};
}

Reply VpcService::getInstance(const std::string& name) const {
  const Instance& i = requireInstance(name);
  return {200, toJson(i, commandRunning(i))};
}

Reply VpcService::createInstance(const json& body) {
  InstanceRequest req = parseInstanceRequest(body);
  Instance i = req.instance;
  if (instances_.count(i.name)) throw ApiError::conflict("instance " + i.name + " exists", "name");
  for (const auto& [name, other] : instances_) {
    if (instancePortName(name, "eth0") == instancePortName(i.name, "eth0"))
      throw ApiError::conflict("instance " + i.name + ": interface names would collide with " +
                                   "instance " + name + "; choose another name",
                               "name");
  }
  // The request has at most one NIC per subnet (checked when parsed), so
  // no NIC of it competes with another for an address.
  for (size_t k = 0; k < req.nics.size(); ++k)
    i.nics.push_back(allocateNic(req.nics[k], i.name, "eth" + std::to_string(k)));
  requireFreeNamespace(instanceNamespace(i.name));
  i.createdAt = now();
  i.status = InstanceStatus::Provisioning;
  applyInstance(i);
  Instance& live = instances_.at(i.name);
  live.status = InstanceStatus::Running;
  live.lastStartAt = now();
  startCommand(live);
  store_.saveInstance(live);
  return {201, toJson(live, commandRunning(live))};
}

Reply VpcService::deleteInstance(const std::string& name) {
  Instance i = requireInstance(name);
  stopCommand(i);
  store_.removeInstance(name);
  instances_.erase(name);
  Scope scope = routersOf(vpcsOf(i));
  scope.namespaces.insert(instanceNamespace(name));
  writeHostsFiles();
  ::unlink((config_.etcNetnsDir + "/" + instanceNamespace(name) + "/hosts").c_str());
  ::rmdir((config_.etcNetnsDir + "/" + instanceNamespace(name)).c_str());
  ::unlink(store_.serialPath(name).c_str());
  converge(vpcsOf(i), scope);
  i.status = InstanceStatus::Stopped;
  return {200, toJson(i, false)};
}

Reply VpcService::addNic(const std::string& name, const json& body) {
  Instance i = requireInstance(name);
  NicRequest r = parseNicRequest(body, "");
  for (const auto& n : i.nics) {
    if (n.vpc == r.vpc && n.subnet == r.subnet)
      throw ApiError::invalid("subnet", "instance " + name + " already has " + n.name + " in " +
                                            n.target() + "; one NIC per subnet");
  }
  std::set<int> used;
  for (const auto& n : i.nics) used.insert(std::stoi(n.name.substr(3)));
  int k = *lowestFreeIndex(used, 1 << 16);
  i.nics.push_back(allocateNic(r, name, "eth" + std::to_string(k)));
  applyInstance(i);
  return {201, toJson(i.nics.back(), false)};
}

Reply VpcService::removeNic(const std::string& name, const std::string& nic) {
  Instance i = requireInstance(name);
  auto it = std::find_if(i.nics.begin(), i.nics.end(), [&](const Nic& n) { return n.name == nic; });
  if (it == i.nics.end()) throw ApiError::notFound("instance " + name + " has no NIC " + nic);
  if (it == i.nics.begin())
    throw ApiError::conflict("eth0 is the primary NIC of " + name +
                             "; it goes only with the instance");
  Nic removed = *it;
  i.nics.erase(it);
  applyInstance(i, {removed.vpc});
  return {200, toJson(removed, false)};
}

Reply VpcService::availableIps(const std::string& vpc, const std::string& subnet,
                               const Query& q) const {
  const Vpc& v = requireVpc(vpc);
  const Subnet* s = v.findSubnet(subnet);
  if (!s) throw ApiError::notFound("subnet " + subnet + " not found in vpc " + vpc);
  size_t limit = 50;
  if (q.count("limit")) {
    const std::string& text = q.at("limit");
    bool digits =
        !text.empty() && text.size() <= 5 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(text) < 1 || std::stoul(text) > 4096)
      throw ApiError::invalid("limit", "must be a number from 1 to 4096");
    limit = std::stoul(text);
  }
  SubnetIpam ipam(s->cidr);
  for (const auto& [name, i] : instances_) {
    for (const auto& n : i.nics) {
      if (n.vpc == vpc && n.subnet == subnet) ipam.markUsed(n.ip);
    }
  }
  json items = json::array();
  for (const auto& ip : ipam.available(limit)) items.push_back(ip.str());
  return {200, json{{"items", items}}};
}

// /etc/netns/vm-<name>/hosts: every instance and subnet host of the
// instance's VPCs by name. Written in place, not renamed, so a command that
// has the file bind-mounted on /etc/hosts sees the new content.
void VpcService::writeHostsFiles() const {
  if (config_.dryRun) return;
  ::mkdir(config_.etcNetnsDir.c_str(), 0755);
  for (const auto& [name, i] : instances_) {
    std::set<std::string> vpcs = vpcsOf(i);
    std::string text = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
    for (const auto& vpc : vpcs) {
      auto v = vpcs_.find(vpc);
      if (v == vpcs_.end()) continue;
      for (const auto& s : v->second.subnets)
        text += s.address().str() + "\t" + s.name + "." + vpc + "\n";
    }
    for (const auto& [otherName, other] : instances_) {
      for (size_t k = 0; k < other.nics.size(); ++k) {
        const Nic& n = other.nics[k];
        if (!vpcs.count(n.vpc)) continue;
        text +=
            n.ip.str() + "\t" + (k == 0 ? otherName + " " : "") + otherName + "-" + n.name + "\n";
      }
    }
    std::string dir = config_.etcNetnsDir + "/" + instanceNamespace(name);
    ::mkdir(dir.c_str(), 0755);
    std::ofstream(dir + "/hosts", std::ios::trunc) << text;
  }
}

}  // namespace vpcd
