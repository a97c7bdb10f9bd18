// Firewall policies: create or replace, read, delete, and their counters.
#include <linux/netfilter.h>

#include "daemon/service.h"
#include "lib/model/names.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {

using nlohmann::json;

Reply PolicyService::list() const {
  json items = json::array();
  for (const auto& [name, p] : engine_.state().policies())
    items.push_back(engine_.withEnforcement(toJson(*p), vpcsOf(*p)));
  return {200, json{{"items", items}}};
}

Reply PolicyService::get(const std::string& name) const {
  const Policy& p = engine_.state().policy(name);
  return {200, engine_.withEnforcement(toJson(p), vpcsOf(p))};
}

Reply PolicyService::put(const std::string& name, const json& body) {
  Policy p = parsePolicy(name, body, nowSeconds());
  const DesiredState& current = engine_.state();
  bool created = current.findPolicy(name) == nullptr;
  // A policy that cannot be compiled (too many entries) is refused by the
  // commit before anything is written.
  engine_.commit(current.with(change::PutPolicy{p, body.is_array()}));
  const Policy& now = engine_.state().policy(name);
  return {created ? 201 : 200, engine_.withEnforcement(toJson(now), vpcsOf(now))};
}

Reply PolicyService::remove(const std::string& name) {
  json gone = toJson(engine_.state().policy(name));
  engine_.commit(engine_.state().with(change::DeletePolicy{name}));
  return {200, gone};
}

namespace {

struct Count {
  uint64_t packets = 0, bytes = 0;
};

// The default rule closes its chain (lib/plan/policy_compile.h).
std::optional<std::pair<Count, bool>> defaultCounter(const NftTable& t, const std::string& chain) {
  for (auto it = t.rules.rbegin(); it != t.rules.rend(); ++it) {
    if (it->chain != chain) continue;
    auto v = defaultVerdictOf(*it);
    if (!v) return std::nullopt;
    return std::pair{Count{v->packets, v->bytes}, v->drop};
  }
  return std::nullopt;
}

}  // namespace

Reply PolicyService::stats(const std::string& name) {
  const Policy& p = engine_.state().policy(name);
  std::map<std::string, Count> perRule;
  json defaults = json::array();
  std::string prefix = name + ":";
  for (const auto& vpc : vpcsOf(p)) {
    std::optional<NftTable> table = engine_.kernel().readTable(routerNamespace(vpc), NFPROTO_INET);
    if (!table) continue;
    for (const auto& set : table->sets) {
      for (const auto& el : set.elems) {
        if (el.comment.rfind(prefix, 0) != 0) continue;
        Count& c = perRule[el.comment.substr(prefix.size())];
        c.packets += el.packets;
        c.bytes += el.bytes;
      }
    }
    std::set<std::string> subnets;
    for (const auto& s : p.sections) {
      for (const auto& t : s.appliesTo) {
        if (t.substr(0, t.find('/')) == vpc) subnets.insert(t.substr(t.find('/') + 1));
      }
    }
    for (const auto& subnet : subnets) {
      for (Direction d : {Direction::Ingress, Direction::Egress}) {
        auto found = defaultCounter(*table, filterChain(d, subnet));
        if (!found) continue;
        defaults.push_back({{"subnet", vpc + "/" + subnet},
                            {"direction", toString(d)},
                            {"action", found->second ? "deny" : "allow"},
                            {"packets", found->first.packets},
                            {"bytes", found->first.bytes}});
      }
    }
  }
  json rules = json::array();
  for (size_t s = 0; s < p.sections.size(); ++s) {
    for (Direction d : {Direction::Ingress, Direction::Egress}) {
      const auto& list = p.sections[s].rules(d);
      for (size_t i = 0; i < list.size(); ++i) {
        std::string path = p.rulePath(s, d, i);
        Count c = perRule.count(path) ? perRule.at(path) : Count{};
        json r{{"rule", path},
               {"direction", toString(d)},
               {"priority", list[i].priority},
               {"action", toString(list[i].action)},
               {"packets", c.packets},
               {"bytes", c.bytes}};
        if (!list[i].description.empty()) r["description"] = list[i].description;
        rules.push_back(r);
      }
    }
  }
  return {200, json{{"name", name}, {"rules", rules}, {"defaults", defaults}}};
}

}  // namespace vpcd
