#include "lib/kernel/observation_cache.h"

namespace vpcd {

const Namespace* ObservationCache::find(const std::string& ns, const Namespace* want) const {
  auto it = entries_.find(ns);
  if (it == entries_.end() || !it->second.seen.exists) return nullptr;
  const Entry& e = it->second;
  if (want && e.seen.owned) {
    for (const auto& [name, link] : want->links) {
      if (!e.seen.links.count(name) && e.allLinks.count(name)) return nullptr;
    }
  }
  return &e.seen;
}

void ObservationCache::store(const Namespace& seen, std::set<std::string> allLinks) {
  Entry e{seen, std::move(allLinks)};
  e.seen.sysctls.clear();
  entries_[seen.name] = std::move(e);
}

void ObservationCache::addLink(const std::string& ns, const Link& link) {
  auto it = entries_.find(ns);
  if (it == entries_.end()) return;
  it->second.seen.links[link.name] = link.asObserved();
  it->second.allLinks.insert(link.name);
}

void ObservationCache::applied(const Action& a) {
  using Op = Action::Op;
  auto it = entries_.find(a.ns);
  Namespace* ns = it == entries_.end() ? nullptr : &it->second.seen;
  switch (a.op) {
    case Op::CreateNamespace: {
      Namespace fresh;
      fresh.name = a.ns;
      fresh.links["lo"] = markedLoopback(a.ns);
      entries_[a.ns] = Entry{fresh, {"lo"}};
      return;
    }
    case Op::DeleteNamespace:
    case Op::DeleteLink:
      // The far ends of veths go too, wherever they are.
      clear();
      return;
    case Op::SetLink:
    case Op::DeleteAddress:
    case Op::DeleteRoute:
    case Op::DeleteRule:
      // The kernel may drop more with it: a link set down loses its routes,
      // so do routes through a deleted address.
      invalidate(a.ns);
      return;
    case Op::CreateLink:
      addLink(a.ns, a.link);
      if (a.link.kind == LinkKind::Veth) addLink(a.link.peerNamespace, a.peer);
      return;
    default:
      break;
  }
  if (!ns) return;
  switch (a.op) {
    case Op::AddAddress:
      ns->addresses.insert(a.address);
      break;
    case Op::AddRoute:
      ns->routes.insert(a.route);
      break;
    case Op::AddRule:
      ns->rules.insert(a.rule);
      break;
    case Op::ReplaceTable:
    case Op::UpdateSets:
      ns->tables[a.table.key()] = a.table;
      break;
    case Op::DeleteTable:
      ns->tables.erase(a.table.key());
      break;
    case Op::SetQdisc:
      ns->qdiscs[a.link.name] = a.netem;
      break;
    case Op::DeleteQdisc:
      ns->qdiscs.erase(a.link.name);
      break;
    default:  // sysctls are read on every observation
      break;
  }
}

}  // namespace vpcd
