#include "lib/plan/diff.h"

#include <set>
#include <utility>

#include "lib/plan/desired.h"

namespace vpcd {
namespace {

using Op = Action::Op;

// The device of a per-device sysctl (net/ipv4/conf/<dev>/...): it goes with
// the device, so a recreated device needs it set again.
std::string deviceOf(const std::string& key) {
  const std::string prefix = "net/ipv4/conf/";
  if (key.rfind(prefix, 0) != 0) return "";
  return key.substr(prefix.size(), key.find('/', prefix.size()) - prefix.size());
}

// Whether the qdisc `have` must go before `want` can be made (see removeStale).
bool replaced(const Netem& have, const Netem& want) {
  return have.needsNetem() != want.needsNetem() || (have.corrupt && !want.corrupt);
}

struct Builder {
  const KernelState& desired;
  const KernelState& observed;
  std::vector<Action> deletes, namespaces, bridges, veths, settings, addresses, sysctls, routes,
      qdiscs, tables;
  std::vector<std::string> conflicts;
  // Links deleted and created again: their addresses and routes went with them.
  std::set<std::pair<std::string, std::string>> recreated;
  std::vector<std::pair<std::string, std::string>> vanishing;

  const Namespace* seen(const std::string& ns) const {
    auto it = observed.find(ns);
    return it == observed.end() ? nullptr : &it->second;
  }
  // True when `ns` was observed and vpcd may act in it (or will create it).
  bool workable(const std::string& ns) const {
    const Namespace* o = seen(ns);
    return o && (!o->exists || o->owned);
  }
  const Link* seenLink(const std::string& ns, const std::string& name) const {
    const Namespace* o = seen(ns);
    if (!o || !o->exists) return nullptr;
    auto it = o->links.find(name);
    return it == o->links.end() ? nullptr : &it->second;
  }

  void add(std::vector<Action>& into, Action a) { into.push_back(std::move(a)); }
  // The namespace is deleted by this plan or already gone.
  bool dying(const std::string& ns) const {
    if (ns.empty()) return false;
    const Namespace* o = seen(ns);
    return o && (!o->exists || (o->owned && !desired.count(ns)));
  }
  bool fresh(const std::string& ns, const std::string& link) const {
    return recreated.count({ns, link}) > 0;
  }

  void removeStale(const Namespace& want, const Namespace& have) {
    for (const auto& [key, table] : have.tables) {
      if (!want.tables.count(key))
        add(deletes, {.op = Op::DeleteTable, .ns = want.name, .table = table});
    }
    for (const auto& r : have.routes) {
      if (!want.routes.count(r)) add(deletes, {.op = Op::DeleteRoute, .ns = want.name, .route = r});
    }
    for (const auto& r : have.rules) {
      if (!want.rules.count(r)) add(deletes, {.op = Op::DeleteRule, .ns = want.name, .rule = r});
    }
    for (const auto& [link, netem] : have.qdiscs) {
      auto it = want.qdiscs.find(link);
      // The kernel changes a qdisc's kind only by replacing it (netem and a
      // tbf alone share vpcd's handle), and netem keeps a corruption rate
      // that a change leaves out (libnl sends that attribute only when it
      // is not zero): either takes a new qdisc. A link that goes takes its
      // qdisc with it.
      bool stale = it == want.qdiscs.end() || replaced(netem, it->second);
      if (stale && want.links.count(link)) {
        add(deletes, {.op = Op::DeleteQdisc, .ns = want.name, .link = Link{.name = link}});
      }
    }
    for (const auto& a : have.addresses) {
      if (!want.addresses.count(a) && want.links.count(a.link)) {
        add(deletes, {.op = Op::DeleteAddress, .ns = want.name, .address = a});
      }
    }
    for (const auto& [name, link] : have.links) {
      auto it = want.links.find(name);
      bool wrongKind = it != want.links.end() && it->second.kind != link.kind;
      if (it == want.links.end() && dying(peerNamespaceOf(link.alias))) {
        vanishing.push_back({want.name, name});  // goes with its peer's namespace
        continue;
      }
      if ((it == want.links.end() || wrongKind) && link.kind != LinkKind::Loopback) {
        add(deletes, {.op = Op::DeleteLink, .ns = want.name, .link = link});
      }
    }
  }

  // A veth pair is whole or absent; when one end is missing, the other is
  // removed and the pair is created again.
  void ensureVeth(const Namespace& want, const Link& link, const Link* have) {
    const Link* peerHave = seenLink(link.peerNamespace, link.peerName);
    const Namespace* peerNs = seen(link.peerNamespace);
    bool peerObserved = peerNs != nullptr;
    if (have && have->kind == link.kind && (peerHave || !peerObserved)) {
      // A port whose bridge is being recreated lost its master with it.
      bool masterFresh = !link.master.empty() && fresh(want.name, link.master);
      if (!link.sameSettings(*have) || masterFresh) {
        add(settings, {.op = Op::SetLink, .ns = want.name, .link = link});
      }
      if (peerHave) ensurePeerSettings(link);
      return;
    }
    if (have && have->kind == link.kind) {
      add(deletes, {.op = Op::DeleteLink, .ns = want.name, .link = *have});
    }
    if (peerHave) add(deletes, {.op = Op::DeleteLink, .ns = link.peerNamespace, .link = *peerHave});
    recreated.insert({want.name, link.name});
    recreated.insert({link.peerNamespace, link.peerName});
    const Link& peerWant = desired.at(link.peerNamespace).links.at(link.peerName);
    add(veths, {.op = Op::CreateLink, .ns = want.name, .link = link, .peer = peerWant});
  }

  void ensurePeerSettings(const Link& primary) {
    if (!workable(primary.peerNamespace)) return;
    const Link& peerWant = desired.at(primary.peerNamespace).links.at(primary.peerName);
    const Link* peerHave = seenLink(primary.peerNamespace, primary.peerName);
    if (peerHave && !peerWant.sameSettings(*peerHave)) {
      add(settings, {.op = Op::SetLink, .ns = primary.peerNamespace, .link = peerWant});
    }
  }

  void ensureLinks(const Namespace& want, const Namespace* have) {
    for (const auto& [name, link] : want.links) {
      const Link* cur = have ? seenLink(want.name, name) : nullptr;
      if (link.isPeer) continue;  // created and tuned from its primary end
      if (link.kind == LinkKind::Veth) {
        // Every veth that is not a peer end names its peer (the host's key is "").
        if (workable(link.peerNamespace)) ensureVeth(want, link, cur);
        continue;
      }
      if (link.kind == LinkKind::Bridge && (!cur || cur->kind != link.kind)) {
        recreated.insert({want.name, link.name});
        add(bridges, {.op = Op::CreateLink, .ns = want.name, .link = link});
      } else if (link.kind == LinkKind::Loopback && !have) {
        // A namespace is created with its loopback marked and up.
      } else if (!cur || !link.sameSettings(*cur)) {
        // The loopback always exists; other links were matched above.
        add(settings, {.op = Op::SetLink, .ns = want.name, .link = link});
      }
    }
  }

  void ensureRest(const Namespace& want, const Namespace* have) {
    for (const auto& a : want.addresses) {
      if (!have || !have->addresses.count(a) || fresh(want.name, a.link))
        add(addresses, {.op = Op::AddAddress, .ns = want.name, .address = a});
    }
    for (const auto& [key, value] : want.sysctls) {
      auto it = have ? have->sysctls.find(key) : want.sysctls.end();
      if (!have || it == have->sysctls.end() || it->second != value ||
          fresh(want.name, deviceOf(key))) {
        add(sysctls, {.op = Op::SetSysctl, .ns = want.name, .key = key, .value = value});
      }
    }
    for (const auto& r : want.routes) {
      if (!have || !have->routes.count(r) || fresh(want.name, r.dev))
        add(routes, {.op = Op::AddRoute, .ns = want.name, .route = r});
    }
    for (const auto& r : want.rules) {
      if (!have || !have->rules.count(r))
        add(routes, {.op = Op::AddRule, .ns = want.name, .rule = r});
    }
    for (const auto& [link, netem] : want.qdiscs) {
      auto it = have ? have->qdiscs.find(link) : want.qdiscs.end();
      bool same = have && it != have->qdiscs.end() && it->second.sameAs(netem) &&
                  !replaced(it->second, netem);
      if (!same || fresh(want.name, link)) {
        add(qdiscs,
            {.op = Op::SetQdisc, .ns = want.name, .link = Link{.name = link}, .netem = netem});
      }
    }
    for (const auto& [key, table] : want.tables) {
      auto it = have ? have->tables.find(key) : want.tables.end();
      if (have && it != have->tables.end()) {
        if (it->second == table) continue;
        // Most changes (a subnet, a port, a policy rule's addresses) only
        // touch set elements: those are sent instead of the whole table.
        if (auto deltas = setDeltas(it->second, table)) {
          add(tables,
              {.op = Op::UpdateSets, .ns = want.name, .table = table, .setDeltas = *deltas});
          continue;
        }
      }
      add(tables, {.op = Op::ReplaceTable, .ns = want.name, .table = table});
    }
  }

  void run() {
    for (const auto& [name, have] : observed) {
      if (have.exists && have.owned && !desired.count(name) && name != kHostNamespace) {
        add(deletes, {.op = Op::DeleteNamespace, .ns = name});
      }
    }
    // Walked by what was observed (the scope), in the same name order as the
    // desired map: a pass costs its scope, not every namespace vpcd wants.
    for (const auto& [name, observedNs] : observed) {
      auto it = desired.find(name);
      if (it == desired.end()) continue;
      const Namespace& want = it->second;
      const Namespace* have = &observedNs;
      if (have->exists && !have->owned) {
        conflicts.push_back(name);
        continue;
      }
      if (!have->exists) add(namespaces, {.op = Op::CreateNamespace, .ns = name});
      const Namespace* current = have->exists ? have : nullptr;
      if (current) removeStale(want, *current);
      ensureLinks(want, current);
    }
    // Second pass: a veth created from one namespace recreates its far end in
    // another, which must be known before that namespace's addresses are planned.
    for (const auto& [name, observedNs] : observed) {
      auto it = desired.find(name);
      const Namespace* have = &observedNs;
      if (it == desired.end() || (have->exists && !have->owned)) continue;
      ensureRest(it->second, have->exists ? have : nullptr);
    }
  }
};

}  // namespace

Plan diff(const KernelState& desired, const KernelState& observed) {
  Builder b{desired, observed, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  b.run();
  Plan plan;
  plan.conflicts = std::move(b.conflicts);
  plan.vanishing = std::move(b.vanishing);
  for (auto* phase : {&b.deletes, &b.namespaces, &b.bridges, &b.veths, &b.settings, &b.addresses,
                      &b.sysctls, &b.routes, &b.qdiscs, &b.tables}) {
    for (auto& a : *phase) plan.actions.push_back(std::move(a));
  }
  return plan;
}

}  // namespace vpcd
