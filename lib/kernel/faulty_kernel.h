#pragma once
// A kernel that refuses on request: wraps another one and makes chosen
// mutating calls fail with a chosen errno before they reach it, as the kernel
// does when it is out of memory (ENOMEM), busy (EBUSY) or says no (EPERM).
// For tests of what vpcd says and keeps when the kernel refuses midway.
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "lib/kernel/kernel.h"
#include "lib/model/names.h"

namespace vpcd {

class FaultyKernel : public Kernel {
 public:
  // Which calls fail: those in namespace `ns` (any when empty) doing `op`
  // (any when unset), the next `times` of them (forever when negative).
  struct Fault {
    std::string ns;
    std::optional<Action::Op> op;
    int error = ENOMEM;
    int times = 1;
  };

  explicit FaultyKernel(Kernel& inner) : inner_(inner) {}

  void inject(Fault f) { faults_.push_back(std::move(f)); }
  void clear() { faults_.clear(); }
  // Calls refused so far.
  uint64_t refused() const { return refused_; }

  std::vector<std::string> ownedNamespaces() override { return inner_.ownedNamespaces(); }
  Namespace observe(const std::string& ns, const Namespace* want) override {
    return inner_.observe(ns, want);
  }
  bool apply(const Action& a) override {
    refuseIf(a);
    return inner_.apply(a);
  }
  void changeTables(const std::string& ns, const std::vector<Action>& actions) override {
    // One transaction: refused whole, as the kernel aborts a batch.
    for (const auto& a : actions) refuseIf(a);
    inner_.changeTables(ns, actions);
  }
  std::string defaultRouteDevice() override { return inner_.defaultRouteDevice(); }
  std::optional<NftTable> readTable(const std::string& ns, uint32_t family) override {
    return inner_.readTable(ns, family);
  }
  bool linkExists(const std::string& ns, const std::string& name) override {
    return inner_.linkExists(ns, name);
  }
  void invalidate(const std::set<std::string>& namespaces) override {
    inner_.invalidate(namespaces);
  }
  std::vector<std::string> forwardBlockers() override { return inner_.forwardBlockers(); }
  std::vector<std::string> foreignForwardChains(const std::string& ns) override {
    return inner_.foreignForwardChains(ns);
  }
  bool syncMarkedRules(const NftChainRef& chain, const std::string& comment,
                       const std::vector<NftRule>& rules) override {
    return inner_.syncMarkedRules(chain, comment, rules);
  }
  uint64_t mutatingCalls() const override { return inner_.mutatingCalls(); }

 private:
  void refuseIf(const Action& a) {
    for (auto& f : faults_) {
      if (f.times == 0 || (!f.ns.empty() && f.ns != a.ns) || (f.op && *f.op != a.op)) continue;
      if (f.times > 0) --f.times;
      ++refused_;
      throw KernelError("apply", a.describe(), std::strerror(f.error), f.error);
    }
  }

  Kernel& inner_;
  std::vector<Fault> faults_;
  uint64_t refused_ = 0;
};

}  // namespace vpcd
