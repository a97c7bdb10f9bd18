#pragma once
// observe -> keep what is ours -> diff -> plan -> apply -> report.
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/kernel/kernel.h"
#include "lib/model/quarantine.h"
#include "lib/plan/kernel_model.h"
#include "lib/plan/picture.h"

namespace vpcd {

struct ReconcileReport {
  std::vector<std::string> applied;    // what changed the kernel, in order
  std::vector<std::string> conflicts;  // namespaces taken by someone else
  std::string error;                   // the failure that stopped the apply, if any
  std::optional<KernelError> failure;  // the same, with its operation, object and errno
  std::chrono::microseconds duration{0};
  // Links (namespace, name) that die with a namespace the pass deleted: the
  // kernel removes them on its own, a moment later (Reconciler::settle).
  std::vector<std::pair<std::string, std::string>> vanishing;
  bool ok() const { return error.empty() && conflicts.empty(); }
};

// Which namespaces a pass looks at. Everything: the host, every desired
// namespace and every namespace carrying vpcd's marker (start-up). Otherwise
// the host plus the named namespaces (after one API mutation).
struct Scope {
  bool everything = false;
  std::set<std::string> namespaces;
  static Scope all() { return Scope{true, {}}; }
  static Scope of(std::set<std::string> names) { return Scope{false, std::move(names)}; }
};

class Reconciler {
 public:
  explicit Reconciler(Kernel& kernel);

  // `primaries` (KernelPicture keeps one) says where the primary end of each
  // veth lives; without it, the pass works it out from all of `desired`.
  Plan plan(const KernelState& desired, const Scope& scope,
            const PrimaryIndex* primaries = nullptr);
  ReconcileReport reconcile(const KernelState& desired, const Scope& scope,
                            const PrimaryIndex* primaries = nullptr);

  // Of `links` (a report's vanishing ones), those still there. With
  // `force`, those are deleted explicitly (a namespace a process keeps alive
  // keeps its links); their deletions are added to `applied`.
  std::vector<std::pair<std::string, std::string>> settle(
      const std::vector<std::pair<std::string, std::string>>& links, bool force,
      std::vector<std::string>& applied);
  // Runs first in every pass: the daemon hands the kernel adapter the
  // namespaces changed since the last look (kernel notifications not yet
  // handled), so what it keeps of them is not trusted.
  void setBeforePass(std::function<void()> hook) { beforePass_ = std::move(hook); }
  // What start-up held back: no pass changes or deletes its kernel objects.
  void setHold(Quarantine hold) { hold_ = std::move(hold); }

 private:
  KernelState observe(const KernelState& desired, const Scope& scope);

  Kernel& kernel_;
  std::function<void()> beforePass_;
  Quarantine hold_;
};

}  // namespace vpcd
