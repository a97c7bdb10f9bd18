#pragma once
// An in-memory kernel with the same rules the real one enforces where vpcd
// relies on them: a veth pair lives and dies as a unit, deleting a namespace
// destroys every link in it (and the far ends of its veths), links take their
// addresses and routes with them.
#include <map>
#include <utility>

#include "lib/kernel/kernel.h"

namespace vpcd {

class FakeKernel : public Kernel {
 public:
  FakeKernel();

  std::vector<std::string> ownedNamespaces() override;
  Namespace observe(const std::string& ns, const Namespace* want) override;
  bool apply(const Action& action) override;
  void changeTables(const std::string& ns, const std::vector<Action>& actions) override;
  std::string defaultRouteDevice() override { return defaultDev_; }
  std::optional<NftTable> readTable(const std::string& ns, uint32_t family) override;
  bool linkExists(const std::string& ns, const std::string& name) override {
    auto it = state_.find(ns);
    return it != state_.end() && it->second.links.count(name) > 0;
  }

  // Direct access, for tests that simulate hand-made changes.
  KernelState& state() { return state_; }
  void setDefaultRouteDevice(std::string dev) { defaultDev_ = std::move(dev); }

 private:
  using LinkRef = std::pair<std::string, std::string>;  // namespace, link
  Namespace& require(const std::string& ns, const char* op);
  void removeLink(const std::string& ns, const std::string& name);
  bool createLink(const Action& a);
  void applyTables(const std::string& ns, const std::vector<Action>& actions);

  KernelState state_;
  std::map<LinkRef, LinkRef> peers_;
  std::string defaultDev_ = "eth0";
};

}  // namespace vpcd
