#include "lib/kernel/real_kernel.h"

#include <fcntl.h>
#include <linux/netfilter.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include "lib/kernel/xtables.h"

namespace vpcd {
namespace {

bool marked(const std::string& alias) {
  return alias.rfind(kAliasPrefix, 0) == 0;
}

// Tables vpcd may own; looked for in every namespace so orphans are found.
constexpr uint32_t kFamilies[] = {NFPROTO_INET, NFPROTO_IPV4, NFPROTO_BRIDGE};

// A table action as the nftables adapter takes it: the whole table, or its
// set element changes.
NftSocket::TableChange tableChange(const Action& a) {
  return {&a.table, a.op == Action::Op::UpdateSets ? &a.setDeltas : nullptr};
}

}  // namespace

RealKernel::RealKernel(std::string netnsDir) : dir_(std::move(netnsDir)) {}

RealKernel::Handles& RealKernel::handles(const std::string& ns) {
  auto it = handles_.find(ns);
  if (it != handles_.end()) return it->second;
  Handles h;
  h.fd = dir_.open(ns);
  return handles_.emplace(ns, std::move(h)).first->second;
}

RouteSocket& RealKernel::route(const std::string& ns) {
  Handles& h = handles(ns);
  if (!h.route) h.route = std::make_unique<RouteSocket>(h.fd.get(), ns);
  return *h.route;
}

NftSocket& RealKernel::nft(const std::string& ns) {
  Handles& h = handles(ns);
  if (!h.nft) h.nft = std::make_unique<NftSocket>(h.fd.get(), ns);
  return *h.nft;
}

std::vector<std::string> RealKernel::ownedNamespaces() {
  std::vector<std::string> out;
  for (const auto& name : dir_.list()) {
    try {
      if (marked(route(name).loopbackAlias())) {
        out.push_back(name);
      } else {
        handles_.erase(name);  // not ours: hold nothing that keeps it alive
      }
    } catch (const KernelError&) {
      // A stale file or one that is not a namespace: not ours, ignoring.
      handles_.erase(name);
    }
  }
  return out;
}

std::string RealKernel::readSysctl(const std::string& ns, const std::string& key) {
  NetnsGuard in(ns.empty() ? -1 : handles(ns).fd.get());
  Fd f(::open(("/proc/sys/" + key).c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return "";
  char buf[64] = {};
  ssize_t n = ::read(f.get(), buf, sizeof buf - 1);
  std::string value(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

void RealKernel::writeSysctl(const std::string& ns, const std::string& key,
                             const std::string& value) {
  // /proc/sys/net resolves to the namespace of the thread that opens it.
  NetnsGuard in(ns.empty() ? -1 : handles(ns).fd.get());
  Fd f(::open(("/proc/sys/" + key).c_str(), O_WRONLY | O_CLOEXEC));
  if (!f || ::write(f.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    throw KernelError("set sysctl", key + " in " + displayName(ns), std::strerror(errno));
  }
}

void RealKernel::dropStaleHandles(const std::string& ns) {
  // A namespace deleted and made again under the same name by someone else.
  auto it = handles_.find(ns);
  if (it != handles_.end() && !dir_.holds(ns, it->second.fd.get())) handles_.erase(it);
}

Namespace RealKernel::dump(const std::string& ns, const Namespace* want,
                           std::set<std::string>& allLinks) {
  Namespace out;
  out.name = ns;
  std::set<std::string> adopt;  // wanted names in a namespace of ours
  if (!ns.empty() && want) {
    for (const auto& [name, link] : want->links) adopt.insert(name);
  }
  route(ns).observe(out, !ns.empty(), adopt, &allLinks);
  if (!ns.empty()) {
    auto lo = out.links.find("lo");
    out.owned = lo != out.links.end() && marked(lo->second.alias);
    if (!out.owned) {
      // Someone else's namespace under one of our names: report it, touch
      // nothing, hold no socket that would keep it alive.
      handles_.erase(ns);
      return Namespace{.name = ns, .owned = false};
    }
  }
  out.tables = nft(ns).snapshot({std::begin(kFamilies), std::end(kFamilies)}, kTableName);
  return out;
}

Namespace RealKernel::observe(const std::string& ns, const Namespace* want) {
  if (!ns.empty() && !dir_.exists(ns)) {
    handles_.erase(ns);
    seen_.invalidate(ns);
    return Namespace{.name = ns, .exists = false};
  }
  Namespace out;
  if (const Namespace* kept = seen_.find(ns, want)) {
    out = *kept;
  } else {
    if (!ns.empty()) dropStaleHandles(ns);
    std::set<std::string> allLinks;
    out = dump(ns, want, allLinks);
    seen_.store(out, std::move(allLinks));
  }
  if (want && out.owned) {
    // Not kept: nothing notifies vpcd of a sysctl written by hand.
    for (const auto& [key, value] : want->sysctls) {
      std::string seen = readSysctl(ns, key);
      // No br_netfilter in this kernel: bridged frames never see the IP hooks.
      if (seen.empty() && key == kBridgeCallsIptables) seen = value;
      out.sysctls[key] = seen;
    }
  }
  return out;
}

bool RealKernel::createNamespace(const std::string& ns) {
  // The loopback is marked while the namespace has no name yet: a namespace
  // that appears in the netns directory is always marked, whatever moment a
  // crash picks.
  dir_.create(ns, [&] {
    RouteSocket(-1, ns).setLink(markedLoopback(ns));
    countMutation();
  });
  countMutation();
  return true;
}

bool RealKernel::createLink(const Action& a) {
  // The kernel takes no alias at creation (rtnl_newlink ignores
  // IFLA_IFALIAS), so each end is marked right after. A crash in between
  // leaves an unmarked link with a wanted name in a namespace of ours, which
  // observe() adopts; pairs reaching the host are created from our side.
  if (a.link.kind == LinkKind::Veth) {
    route(a.ns).createLink(a.link, &a.peer, handles(a.link.peerNamespace).fd.get());
    countMutation();
    route(a.link.peerNamespace).setLink(a.peer);
    countMutation();
  } else {
    route(a.ns).createLink(a.link, nullptr, -1);
    countMutation();
  }
  route(a.ns).setLink(a.link);
  countMutation();
  return true;
}

bool RealKernel::apply(const Action& a) {
  try {
    bool changed = applyToKernel(a);
    seen_.applied(a);
    // Veth ends die with their peers, wherever those are.
    if (a.op == Action::Op::DeleteNamespace || a.op == Action::Op::DeleteLink) forgetIndexes();
    return changed;
  } catch (const KernelError&) {
    seen_.clear();  // how far it got is unknown
    forgetIndexes();
    throw;
  }
}

void RealKernel::forgetIndexes() {
  for (auto& [ns, h] : handles_) {
    if (h.route) h.route->forgetIndexes();
  }
}

bool RealKernel::applyToKernel(const Action& a) {
  using Op = Action::Op;
  bool changed = true;
  switch (a.op) {
    case Op::CreateNamespace:
      handles_.erase(a.ns);  // one left from a namespace of that name deleted by hand
      return createNamespace(a.ns);
    case Op::CreateLink:
      return createLink(a);
    case Op::DeleteNamespace:
      handles_.erase(a.ns);  // our sockets would keep the namespace alive
      if (beforeNamespaceDelete_) beforeNamespaceDelete_(a.ns);
      changed = dir_.remove(a.ns);
      break;
    case Op::DeleteLink:
      changed = route(a.ns).deleteLink(a.link.name);
      break;
    case Op::SetLink:
      route(a.ns).setLink(a.link);
      break;
    case Op::AddAddress:
      changed = route(a.ns).address(a.address, true);
      break;
    case Op::DeleteAddress:
      changed = route(a.ns).address(a.address, false);
      break;
    case Op::AddRoute:
      changed = route(a.ns).route(a.route, true);
      break;
    case Op::DeleteRoute:
      changed = route(a.ns).route(a.route, false);
      break;
    case Op::AddRule:
      changed = route(a.ns).rule(a.rule, true);
      break;
    case Op::DeleteRule:
      changed = route(a.ns).rule(a.rule, false);
      break;
    case Op::SetSysctl:
      writeSysctl(a.ns, a.key, a.value);
      break;
    case Op::ReplaceTable:
    case Op::UpdateSets:
      nft(a.ns).change({tableChange(a)});
      break;
    case Op::DeleteTable:
      changed = nft(a.ns).remove(a.table.family, a.table.name);
      break;
    case Op::SetQdisc:
      route(a.ns).setQdisc(a.link.name, a.netem);
      break;
    case Op::DeleteQdisc:
      changed = route(a.ns).deleteQdisc(a.link.name);
      break;
  }
  countMutation();
  return changed;
}

void RealKernel::changeTables(const std::string& ns, const std::vector<Action>& actions) {
  std::vector<NftSocket::TableChange> changes;
  for (const auto& a : actions) changes.push_back(tableChange(a));
  try {
    nft(ns).change(changes);
  } catch (const KernelError&) {
    seen_.invalidate(ns);
    throw;
  }
  countMutation();
  for (const auto& a : actions) seen_.applied(a);
}

void RealKernel::invalidate(const std::set<std::string>& namespaces) {
  for (const auto& ns : namespaces) {
    seen_.invalidate(ns);
    if (!ns.empty()) handles_.erase(ns);
  }
}

bool RealKernel::hasQdisc(const std::string& kind) {
  auto it = qdiscKinds_.find(kind);
  if (it != qdiscKinds_.end()) return it->second;
  // Unknown (no namespace to try it in) counts as present: the kernel's own
  // error then says what is wrong, rather than a guess.
  bool has = true;
  // A network namespace belongs to the thread that unshares it: this one
  // ends, and the namespace with it.
  std::thread probe([&] {
    if (::unshare(CLONE_NEWNET) != 0) return;
    try {
      has = RouteSocket(-1, "qdisc probe").canMakeQdisc(kind);
    } catch (const KernelError&) {
      // No socket in the new namespace: as unknown.
    }
  });
  probe.join();
  return qdiscKinds_[kind] = has;
}

bool RealKernel::linkExists(const std::string& ns, const std::string& name) {
  if (!ns.empty() && !dir_.exists(ns)) return false;
  return route(ns).hasLink(name);
}

std::string RealKernel::defaultRouteDevice() {
  return route(kHostNamespace).defaultRouteDevice();
}

std::vector<std::string> RealKernel::forwardBlockers() {
  // nftables (iptables-nft and firewalld included), then legacy iptables,
  // which no nftables dump shows. The daemon runs in the host namespace.
  std::vector<std::string> out = nft(kHostNamespace).forwardDropChains(true);
  for (auto& b : legacyForwardBlockers()) out.push_back(std::move(b));
  return out;
}

std::vector<std::string> RealKernel::foreignForwardChains(const std::string& ns) {
  if (!ns.empty() && !dir_.exists(ns)) return {};
  return nft(ns).forwardDropChains(false);
}

bool RealKernel::syncMarkedRules(const NftChainRef& chain, const std::string& comment,
                                 const std::vector<NftRule>& rules) {
  auto result =
      nft(kHostNamespace).syncMarkedRules(chain.family, chain.table, chain.chain, comment, rules);
  if (result == NftSocket::Sync::Changed) countMutation();
  return result != NftSocket::Sync::NoChain;
}

}  // namespace vpcd
