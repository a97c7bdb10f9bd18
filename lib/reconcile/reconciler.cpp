#include "lib/reconcile/reconciler.h"

#include <thread>

#include "lib/plan/diff.h"

namespace vpcd {

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

void Reconciler::awaitVanishing(const Plan& p, ReconcileReport& report) {
  // A DELETE answers only once nothing of the object remains, and a create
  // that follows at once must not meet the old veth end still being torn down.
  auto deadline = std::chrono::steady_clock::now() + vanishTimeout_;
  for (const auto& [ns, name] : p.vanishing) {
    while (kernel_.linkExists(ns, name)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        Action del{.op = Action::Op::DeleteLink, .ns = ns, .link = {.name = name}};
        if (kernel_.apply(del)) report.applied.push_back(del.describe());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

Plan Reconciler::plan(const KernelState& desired, const Scope& scope) {
  Plan p = diff(desired, observe(desired, scope));
  kernel_.releaseHandles();
  return p;
}

ReconcileReport Reconciler::reconcile(const KernelState& desired, const Scope& scope) {
  auto start = std::chrono::steady_clock::now();
  ReconcileReport report;
  try {
    Plan p = diff(desired, observe(desired, scope));
    report.conflicts = p.conflicts;
    const auto& actions = p.actions;
    for (size_t i = 0; i < actions.size(); ++i) {
      if (actions[i].op == Action::Op::ReplaceTable) {
        // Every table of one namespace in one nftables transaction.
        std::vector<NftTable> tables;
        size_t j = i;
        for (; j < actions.size() && actions[j].op == Action::Op::ReplaceTable &&
               actions[j].ns == actions[i].ns;
             ++j) {
          tables.push_back(actions[j].table);
        }
        kernel_.replaceTables(actions[i].ns, tables);
        for (size_t k = i; k < j; ++k) report.applied.push_back(actions[k].describe());
        i = j - 1;
        continue;
      }
      if (kernel_.apply(actions[i])) report.applied.push_back(actions[i].describe());
    }
    awaitVanishing(p, report);
  } catch (const KernelError& e) {
    report.error = e.what();
  }
  kernel_.releaseHandles();
  report.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return report;
}

}  // namespace vpcd
