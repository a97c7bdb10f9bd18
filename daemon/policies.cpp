// The firewall-policy half of VpcService: create/replace, read, delete, stats.
#include <iostream>

#include "daemon/service.h"
#include "lib/model/api_error.h"
#include "lib/model/names.h"

namespace vpcd {

using nlohmann::json;

namespace {

// Where a target was written, for errors: the document's own path.
std::string targetField(const Policy& p, bool list, size_t section, size_t i) {
  if (p.format == "seed") return list ? "[" + std::to_string(section) + "].subnet" : "subnet";
  std::string field = "applies_to[" + std::to_string(i) + "]";
  return p.sections.size() == 1 && !list ? field
                                         : "sections[" + std::to_string(section) + "]." + field;
}

}  // namespace

// Targets become "vpc/subnet": a seed document may name a subnet by CIDR,
// which must match exactly one subnet across all VPCs.
void VpcService::resolveTargets(Policy& p, bool list) const {
  for (size_t s = 0; s < p.sections.size(); ++s) {
    auto& targets = p.sections[s].appliesTo;
    for (size_t i = 0; i < targets.size(); ++i) {
      std::string field = targetField(p, list, s, i);
      if (auto cidr = Cidr::parse(targets[i])) {
        std::vector<std::string> matches;
        for (const auto& [name, vpc] : vpcs_) {
          for (const auto& sub : vpc.subnets) {
            if (sub.cidr == *cidr) matches.push_back(name + "/" + sub.name);
          }
        }
        if (matches.empty())
          throw ApiError(404, "NOT_FOUND", "no subnet has cidr " + targets[i], field);
        if (matches.size() > 1) {
          throw ApiError::conflict("cidr " + targets[i] + " matches subnets " + matches[0] +
                                       " and " + matches[1] + "; name the subnet as vpc/subnet",
                                   field);
        }
        targets[i] = matches[0];
        continue;
      }
      size_t slash = targets[i].find('/');
      const Vpc* vpc = vpcs_.count(targets[i].substr(0, slash))
                           ? &vpcs_.at(targets[i].substr(0, slash))
                           : nullptr;
      if (!vpc || !vpc->findSubnet(targets[i].substr(slash + 1)))
        throw ApiError(404, "NOT_FOUND", "subnet " + targets[i] + " not found", field);
    }
  }
}

std::set<std::string> VpcService::vpcsOf(const Policy& p) {
  std::set<std::string> out;
  for (const auto& s : p.sections) {
    for (const auto& t : s.appliesTo) out.insert(t.substr(0, t.find('/')));
  }
  return out;
}

Scope VpcService::routersOf(const std::set<std::string>& vpcs) {
  std::set<std::string> routers;
  for (const auto& vpc : vpcs) routers.insert(routerNamespace(vpc));
  return Scope::of(routers);
}

std::vector<std::string> VpcService::policiesOn(const std::string& vpc,
                                                const std::string& subnet) const {
  std::vector<std::string> out;
  for (const auto& [name, p] : policies_) {
    for (const auto& s : p.sections) {
      bool hit = std::any_of(s.appliesTo.begin(), s.appliesTo.end(), [&](const std::string& t) {
        return subnet.empty() ? t.substr(0, t.find('/')) == vpc : t == vpc + "/" + subnet;
      });
      if (hit) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

Reply VpcService::listPolicies() const {
  json items = json::array();
  for (const auto& [name, p] : policies_) items.push_back(toJson(p));
  return {200, json{{"items", items}}};
}

const Policy& VpcService::requirePolicy(const std::string& name) const {
  auto it = policies_.find(name);
  if (it == policies_.end()) throw ApiError::notFound("policy " + name + " not found");
  return it->second;
}

Reply VpcService::getPolicy(const std::string& name) const {
  return {200, toJson(requirePolicy(name))};
}

Reply VpcService::putPolicy(const std::string& name, const json& body) {
  Policy p = parsePolicy(name, body, now());
  resolveTargets(p, body.is_array());
  auto it = policies_.find(name);
  bool created = it == policies_.end();
  if (!created) {
    if (it->second.sections == p.sections) return {200, toJson(it->second)};
    p.createdAt = it->second.createdAt;
  }
  std::set<std::string> affected = vpcsOf(p);
  if (!created) {
    auto before = vpcsOf(it->second);
    affected.insert(before.begin(), before.end());
  }
  // The kernel state with `p` in place is built before anything is written,
  // so a policy that cannot be compiled (too many entries) is refused with
  // nothing changed; the same state is then applied, not compiled again.
  std::swap(policies_[name], p);
  KernelState desired;
  try {
    desired = desiredState(topology());
    store_.savePolicy(policies_[name]);
  } catch (...) {
    if (created) {
      policies_.erase(name);
    } else {
      std::swap(policies_[name], p);
    }
    throw;
  }
  converge(affected, desired, routersOf(affected));
  return {created ? 201 : 200, toJson(policies_[name])};
}

Reply VpcService::deletePolicy(const std::string& name) {
  Policy p = requirePolicy(name);
  store_.removePolicy(name);
  policies_.erase(name);
  std::set<std::string> affected = vpcsOf(p);
  converge(affected, routersOf(affected));
  return {200, toJson(p)};
}

}  // namespace vpcd
