#include "lib/kernel/fake_kernel.h"

#include <algorithm>

namespace vpcd {
namespace {

bool marked(const Link& link) {
  return link.alias.rfind(kAliasPrefix, 0) == 0;
}

// As the kernel applies them: the table's sets change element by element.
void applyDeltas(NftTable& t, const std::vector<NftSetDelta>& deltas) {
  for (const auto& d : deltas) {
    auto set = std::find_if(t.sets.begin(), t.sets.end(),
                            [&](const NftSet& s) { return s.name == d.set; });
    if (set == t.sets.end()) throw KernelError("update set", d.set, "No such file or directory");
    if (d.flush) set->elems.clear();
    std::erase_if(set->elems, [&](const NftSetElem& e) {
      return std::find(d.remove.begin(), d.remove.end(), e) != d.remove.end();
    });
    for (const auto& e : d.add) {
      if (std::find(set->elems.begin(), set->elems.end(), e) == set->elems.end())
        set->elems.push_back(e);
    }
  }
  t.canonicalize();
}

}  // namespace

FakeKernel::FakeKernel() {
  state_[kHostNamespace].name = kHostNamespace;
}

Namespace& FakeKernel::require(const std::string& ns, const char* op) {
  auto it = state_.find(ns);
  if (it == state_.end()) throw KernelError(op, "netns " + ns, "No such file or directory");
  return it->second;
}

std::vector<std::string> FakeKernel::ownedNamespaces() {
  std::vector<std::string> out;
  for (const auto& [name, ns] : state_) {
    if (name != kHostNamespace && ns.owned) out.push_back(name);
  }
  return out;
}

Namespace FakeKernel::observe(const std::string& name, const Namespace* want) {
  auto it = state_.find(name);
  if (it == state_.end()) {
    Namespace missing;
    missing.name = name;
    missing.exists = false;
    return missing;
  }
  const Namespace& ns = it->second;
  Namespace out;
  out.name = name;
  out.owned = ns.owned;
  for (const auto& [n, link] : ns.links) {
    // As the real kernel adapter: marked links, the loopback of a namespace,
    // and in a namespace of ours the links it wants (a crash between creating
    // and marking one leaves it unmarked).
    bool adopted = name != kHostNamespace && want && want->links.count(n);
    if (marked(link) || adopted || (link.kind == LinkKind::Loopback && name != kHostNamespace)) {
      out.links[n] = link.asObserved();
    }
  }
  for (const auto& a : ns.addresses) {
    if (out.links.count(a.link) && a.link != "lo") out.addresses.insert(a);
  }
  out.routes = ns.routes;
  out.rules = ns.rules;
  for (const auto& [link, q] : ns.qdiscs) {
    if (out.links.count(link)) out.qdiscs[link] = q;  // as the real one: on links it reports
  }
  for (const auto& [key, table] : ns.tables) {
    if (table.name == kTableName) out.tables[key] = table;
  }
  if (want) {
    for (const auto& [key, value] : want->sysctls) {
      auto s = ns.sysctls.find(key);
      out.sysctls[key] = s == ns.sysctls.end() ? "0" : s->second;
    }
  }
  return out;
}

void FakeKernel::removeLink(const std::string& ns, const std::string& name) {
  auto& n = state_[ns];
  n.links.erase(name);
  std::erase_if(n.addresses, [&](const Address& a) { return a.link == name; });
  std::erase_if(n.routes, [&](const Route& r) { return r.dev == name; });
  n.qdiscs.erase(name);
  for (auto& [linkName, link] : n.links) {
    if (link.master == name) link.master.clear();
  }
}

bool FakeKernel::createLink(const Action& a) {
  Namespace& ns = require(a.ns, "create link");
  if (ns.links.count(a.link.name)) throw KernelError("create link", a.link.name, "File exists");
  ns.links[a.link.name] = a.link.asObserved();
  if (a.link.kind == LinkKind::Veth) {
    Namespace& peerNs = require(a.link.peerNamespace, "create link");
    if (peerNs.links.count(a.peer.name))
      throw KernelError("create link", a.peer.name, "File exists");
    peerNs.links[a.peer.name] = a.peer;
    LinkRef here{a.ns, a.link.name}, there{a.link.peerNamespace, a.peer.name};
    peers_[here] = there;
    peers_[there] = here;
  }
  return true;
}

std::optional<NftTable> FakeKernel::readTable(const std::string& ns, uint32_t family) {
  auto it = state_.find(ns);
  if (it == state_.end()) return std::nullopt;
  for (const auto& [key, table] : it->second.tables) {
    if (table.family == family && table.name == kTableName) return table;
  }
  return std::nullopt;
}

void FakeKernel::changeTables(const std::string& ns, const std::vector<Action>& actions) {
  applyTables(ns, actions);
  countMutation();  // one transaction
}

void FakeKernel::applyTables(const std::string& ns, const std::vector<Action>& actions) {
  Namespace& n = require(ns, "change tables");
  std::map<std::string, NftTable> tables = n.tables;  // all or nothing, as a transaction
  for (const auto& a : actions) {
    if (a.op == Action::Op::ReplaceTable) {
      tables[a.table.key()] = a.table;
    } else {
      auto it = tables.find(a.table.key());
      if (it == tables.end())
        throw KernelError("update sets", a.table.key(), "No such file or directory");
      applyDeltas(it->second, a.setDeltas);
    }
  }
  n.tables = std::move(tables);
}

bool FakeKernel::apply(const Action& a) {
  using Op = Action::Op;
  countMutation();
  switch (a.op) {
    case Op::CreateNamespace: {
      if (state_.count(a.ns)) throw KernelError("create netns", a.ns, "File exists");
      Namespace& ns = state_[a.ns];
      ns.name = a.ns;
      ns.links["lo"] = markedLoopback(a.ns);
      return true;
    }
    case Op::DeleteNamespace: {
      if (!state_.count(a.ns)) return false;
      for (auto it = peers_.begin(); it != peers_.end();) {
        if (it->first.first == a.ns) {
          if (it->second.first != a.ns) removeLink(it->second.first, it->second.second);
          it = peers_.erase(it);
        } else {
          it = it->second.first == a.ns ? peers_.erase(it) : std::next(it);
        }
      }
      state_.erase(a.ns);
      return true;
    }
    case Op::CreateLink:
      return createLink(a);
    case Op::DeleteLink: {
      Namespace& ns = require(a.ns, "delete link");
      if (!ns.links.count(a.link.name)) return false;
      removeLink(a.ns, a.link.name);
      auto peer = peers_.find({a.ns, a.link.name});
      if (peer != peers_.end()) {
        LinkRef there = peer->second;
        removeLink(there.first, there.second);
        peers_.erase(there);
        peers_.erase(peer);
      }
      return true;
    }
    case Op::SetLink: {
      Namespace& ns = require(a.ns, "set link");
      auto it = ns.links.find(a.link.name);
      if (it == ns.links.end()) throw KernelError("set link", a.link.name, "No such device");
      it->second.alias = a.link.alias;
      it->second.master = a.link.master;
      it->second.up = a.link.up;
      if (a.link.mtu) it->second.mtu = a.link.mtu;
      if (!a.link.mac.empty()) it->second.mac = a.link.mac;
      return true;
    }
    case Op::AddAddress: {
      Namespace& ns = require(a.ns, "add address");
      if (!ns.links.count(a.address.link))
        throw KernelError("add address", a.address.link, "No such device");
      return ns.addresses.insert(a.address).second;
    }
    case Op::DeleteAddress:
      return require(a.ns, "delete address").addresses.erase(a.address) > 0;
    case Op::AddRoute: {
      Namespace& ns = require(a.ns, "add route");
      if (!ns.links.count(a.route.dev))
        throw KernelError("add route", a.route.dev, "No such device");
      return ns.routes.insert(a.route).second;
    }
    case Op::DeleteRoute:
      return require(a.ns, "delete route").routes.erase(a.route) > 0;
    case Op::AddRule:
      return require(a.ns, "add rule").rules.insert(a.rule).second;
    case Op::DeleteRule:
      return require(a.ns, "delete rule").rules.erase(a.rule) > 0;
    case Op::SetSysctl:
      require(a.ns, "set sysctl").sysctls[a.key] = a.value;
      return true;
    case Op::ReplaceTable:
    case Op::UpdateSets:
      applyTables(a.ns, {a});
      return true;
    case Op::DeleteTable:
      return require(a.ns, "delete table").tables.erase(a.table.key()) > 0;
    case Op::SetQdisc: {
      Namespace& ns = require(a.ns, "set qdisc");
      if (!ns.links.count(a.link.name))
        throw KernelError("set qdisc", a.link.name, "No such device");
      ns.qdiscs[a.link.name] = a.netem;
      return true;
    }
    case Op::DeleteQdisc:
      return require(a.ns, "delete qdisc").qdiscs.erase(a.link.name) > 0;
  }
  return false;
}

}  // namespace vpcd
