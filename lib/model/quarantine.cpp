#include "lib/model/quarantine.h"

#include <algorithm>
#include <type_traits>

#include "lib/model/desired_state.h"
#include "lib/model/error.h"

namespace vpcd {

const std::string* Quarantine::reason(const std::string& kind, const std::string& name) const {
  if (!all.empty()) return &all;
  auto it = held.find({kind, name});
  return it == held.end() ? nullptr : &it->second;
}

std::set<std::string> Quarantine::names(const std::string& kind) const {
  std::set<std::string> out;
  for (const auto& [key, why] : held) {
    if (key.first == kind) out.insert(key.second);
  }
  return out;
}

void Quarantine::refuse(const std::string& kind, const std::string& name,
                        const std::string& field) const {
  const char* until = "until the file is repaired and vpcd restarted";
  if (!all.empty()) {
    throw DomainError::conflict(
        "vpcd holds every object: " + all + "; it changes nothing in the kernel " + until, field);
  }
  const std::string* why = reason(kind, name);
  throw DomainError::conflict(kind + " " + name +
                                  " is held: " + (why ? *why : "its state file could not be read") +
                                  "; vpcd leaves its kernel objects as they are " + until,
                              field);
}

namespace {

// Every string of a document, wherever it is.
void stringsOf(const nlohmann::json& doc, std::vector<std::string>& out) {
  if (doc.is_string()) {
    out.push_back(doc.get<std::string>());
  } else if (doc.is_structured()) {
    for (const auto& item : doc) stringsOf(item, out);
  }
}

// The VPCs among `known` a damaged document may mean: a string equal to a
// VPC's name or starting "<vpc>/" (a subnet reference). Holding a VPC the
// document only mentions (in a description) is the safe mistake.
std::set<std::string> vpcsNamedBy(const nlohmann::json& doc, const std::set<std::string>& known) {
  std::vector<std::string> strings;
  stringsOf(doc, strings);
  std::set<std::string> out;
  for (const auto& s : strings) {
    std::string head = s.substr(0, s.find('/'));
    if (known.count(head)) out.insert(head);
  }
  return out;
}

template <typename T, typename Touches>
void holdTouching(std::vector<T>& objects, const std::string& kind, Quarantine& q,
                  std::set<std::string>& vpcs, bool& grew, Touches&& touches) {
  for (auto it = objects.begin(); it != objects.end();) {
    std::set<std::string> of = touches(*it);
    auto heldVpc = std::find_if(of.begin(), of.end(), [&](const auto& v) { return vpcs.count(v); });
    if (heldVpc == of.end()) {
      ++it;
      continue;
    }
    q.held[{kind, it->name}] =
        "it uses vpc " + *heldVpc + ", which is held (" + *q.reason("vpc", *heldVpc) + ")";
    for (const auto& v : of) {
      if (vpcs.insert(v).second) {
        q.held[{"vpc", v}] = kind + " " + it->name + " joins it to vpc " + *heldVpc +
                             ", which is held (" + *q.reason("vpc", *heldVpc) + ")";
      }
    }
    if constexpr (std::is_same_v<T, Peering>) {
      if (it->state == PeeringState::Active) q.transitIndexes.insert(it->transitIndex);
    }
    it = objects.erase(it);
    grew = true;
  }
}

}  // namespace

Quarantine quarantine(std::vector<StateDamage> damage, std::vector<Vpc>& vpcs,
                      std::vector<Peering>& peerings, std::vector<Policy>& policies,
                      std::vector<Instance>& instances, std::vector<Lab>& labs,
                      std::vector<PortForward>* forwards) {
  Quarantine q;
  std::set<std::string> known;
  for (const auto& v : vpcs) known.insert(v.name);
  for (const auto& d : damage) {
    if (d.kind == "vpc") known.insert(d.name);
  }
  std::set<std::string> heldVpcs;
  for (const auto& d : damage) {
    std::string why = "state file " + d.error;
    if (!q.held.count({d.kind, d.name})) q.held[{d.kind, d.name}] = why;
    if (d.kind == "vpc") heldVpcs.insert(d.name);
    if (d.kind == "vpc" || d.kind == "lab") continue;
    if (!d.doc) {
      // Not JSON: which VPCs it meant cannot be told.
      if (q.all.empty()) q.all = why + " (it is not JSON, so everything is held)";
      continue;
    }
    for (const auto& v : vpcsNamedBy(*d.doc, known)) {
      if (heldVpcs.insert(v).second)
        q.held[{"vpc", v}] = "the damaged " + d.kind + " " + d.name + " names it (" + why + ")";
    }
  }
  for (bool grew = true; grew;) {
    grew = false;
    holdTouching(peerings, "peering", q, heldVpcs, grew, [](const Peering& p) {
      return std::set<std::string>{p.vpc, p.peerVpc};
    });
    holdTouching(policies, "policy", q, heldVpcs, grew, [](const Policy& p) { return vpcsOf(p); });
    holdTouching(instances, "instance", q, heldVpcs, grew,
                 [](const Instance& i) { return vpcsOf(i); });
    if (forwards) {
      holdTouching(*forwards, "port_forward", q, heldVpcs, grew,
                   [](const PortForward& f) { return std::set<std::string>{f.vpc}; });
    }
  }
  std::erase_if(vpcs, [&](const Vpc& v) {
    if (!heldVpcs.count(v.name)) return false;
    q.transitIndexes.insert(v.transitIndex);
    return true;
  });
  std::erase_if(labs, [&](const Lab& l) { return q.held.count({"lab", l.name}) > 0; });
  q.damage = std::move(damage);
  return q;
}

}  // namespace vpcd
