#include "lib/reconcile/reconciler.h"

#include <map>
#include <utility>

#include "lib/plan/diff.h"
#include "lib/plan/held.h"

namespace vpcd {

namespace {

bool isTableChange(const Action& a) {
  return a.op == Action::Op::ReplaceTable || a.op == Action::Op::UpdateSets;
}

PrimaryIndex primariesOf(const KernelState& desired) {
  PrimaryIndex out;
  for (const auto& [name, ns] : desired) {
    for (const auto& [ln, link] : ns.links) {
      if (link.kind == LinkKind::Veth && !link.isPeer)
        out[{link.peerNamespace, link.peerName}] = name;
    }
  }
  return out;
}

}  // namespace

Reconciler::Reconciler(Kernel& kernel) : kernel_(kernel) {}

KernelState Reconciler::observe(const KernelState& desired, const Scope& scope) {
  std::set<std::string> names = scope.namespaces;
  names.insert(kHostNamespace);
  if (scope.everything) {
    for (const auto& [name, ns] : desired) names.insert(name);
    for (const auto& name : kernel_.ownedNamespaces()) names.insert(name);
  }
  KernelState observed;
  for (const auto& name : names) {
    auto want = desired.find(name);
    observed[name] = kernel_.observe(name, want == desired.end() ? nullptr : &want->second);
  }
  return observed;
}

std::vector<std::pair<std::string, std::string>> Reconciler::settle(
    const std::vector<std::pair<std::string, std::string>>& links, bool force,
    std::vector<std::string>& applied) {
  std::vector<std::pair<std::string, std::string>> left;
  for (const auto& [ns, name] : links) {
    if (!kernel_.linkExists(ns, name)) continue;
    if (!force) {
      left.push_back({ns, name});
      continue;
    }
    Action del{.op = Action::Op::DeleteLink, .ns = ns, .link = {.name = name}};
    if (kernel_.apply(del)) applied.push_back(del.describe());
  }
  return left;
}

Plan Reconciler::plan(const KernelState& desired, const Scope& scope,
                      const PrimaryIndex* primaries) {
  if (beforePass_) beforePass_();
  KernelState observed = observe(desired, scope);
  // A veth pair is made from one end with the other born in its namespace,
  // and each end's addresses and routes are planned in its own namespace. So
  // when an end is missing in the scope, the namespace of the other end joins
  // it. Repeats until nothing is added; nothing else widens the scope, so a
  // subnet create still looks at two namespaces, not the whole VPC.
  PrimaryIndex computed;
  if (!primaries) computed = primariesOf(desired);
  const PrimaryIndex& primaryOf = primaries ? *primaries : computed;
  for (;;) {
    std::set<std::string> more;
    for (const auto& [name, have] : observed) {
      auto want = desired.find(name);
      if (want == desired.end()) continue;
      for (const auto& [ln, link] : want->second.links) {
        if (link.kind != LinkKind::Veth || (have.exists && have.links.count(ln))) continue;
        auto other = link.isPeer ? primaryOf.find({name, ln}) : primaryOf.end();
        const std::string& far =
            link.isPeer ? (other == primaryOf.end() ? name : other->second) : link.peerNamespace;
        if (!observed.count(far)) more.insert(far);
      }
    }
    if (more.empty()) {
      Plan p = diff(desired, observed);
      if (!hold_.empty()) dropHeld(p, hold_);
      return p;
    }
    for (const auto& name : more) {
      auto want = desired.find(name);
      observed[name] = kernel_.observe(name, want == desired.end() ? nullptr : &want->second);
    }
  }
}

ReconcileReport Reconciler::reconcile(const KernelState& desired, const Scope& scope,
                                      const PrimaryIndex* primaries) {
  auto start = std::chrono::steady_clock::now();
  ReconcileReport report;
  try {
    Plan p = plan(desired, scope, primaries);
    report.conflicts = p.conflicts;
    const auto& actions = p.actions;
    for (size_t i = 0; i < actions.size(); ++i) {
      if (isTableChange(actions[i])) {
        // Every table of one namespace in one nftables transaction.
        size_t j = i;
        while (j < actions.size() && isTableChange(actions[j]) && actions[j].ns == actions[i].ns)
          ++j;
        std::vector<Action> group(actions.begin() + static_cast<std::ptrdiff_t>(i),
                                  actions.begin() + static_cast<std::ptrdiff_t>(j));
        kernel_.changeTables(actions[i].ns, group);
        for (const auto& a : group) report.applied.push_back(a.describe());
        i = j - 1;
        continue;
      }
      if (kernel_.apply(actions[i])) report.applied.push_back(actions[i].describe());
    }
    // Not awaited here: the daemon answers once they are gone, without
    // holding its loop (Engine::settleVanishing).
    report.vanishing = p.vanishing;
  } catch (const KernelError& e) {
    report.error = e.what();
    report.failure = e;
  }
  report.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return report;
}

}  // namespace vpcd
