#pragma once
#include <functional>
#include <map>
#include <memory>

#include "lib/kernel/kernel.h"
#include "lib/kernel/netns.h"
#include "lib/kernel/nft_kernel.h"
#include "lib/kernel/nl_route.h"
#include "lib/kernel/observation_cache.h"

namespace vpcd {

class RealKernel : public Kernel {
 public:
  explicit RealKernel(std::string netnsDir);

  std::vector<std::string> ownedNamespaces() override;
  Namespace observe(const std::string& ns, const Namespace* want) override;
  bool apply(const Action& action) override;
  std::string defaultRouteDevice() override;
  bool linkExists(const std::string& ns, const std::string& name) override;
  std::optional<NftTable> readTable(const std::string& ns, uint32_t family) override {
    return nft(ns).dump(family, kTableName);
  }
  void changeTables(const std::string& ns, const std::vector<Action>& actions) override;
  // See NetnsDir::setMountNamespace.
  void setMountNamespace(std::string mountNs) { dir_.setMountNamespace(std::move(mountNs)); }
  std::vector<std::string> forwardBlockers() override;
  std::vector<std::string> foreignForwardChains(const std::string& ns) override;
  bool syncMarkedRules(const NftChainRef& chain, const std::string& comment,
                       const std::vector<NftRule>& rules) override;
  void invalidate(const std::set<std::string>& namespaces) override;
  // Tried once per kind, in a namespace of a thread of its own that dies
  // with it (nothing of the host's is touched), and remembered.
  bool hasQdisc(const std::string& kind) override;

  // Called before vpcd deletes a namespace, so whoever holds a socket in it
  // (the drift watch) lets go and the kernel can destroy it.
  void setBeforeNamespaceDelete(std::function<void(const std::string&)> hook) {
    beforeNamespaceDelete_ = std::move(hook);
  }

 private:
  // Sockets bound to one namespace, opened on first use and kept while vpcd
  // manages it: closing an nftables socket makes the kernel finish the
  // destruction of what its transactions replaced (an RCU grace period, ~10
  // ms), and a pass per API request would pay that every time. Dropped when
  // the namespace is deleted, replaced or found not to be ours.
  struct Handles {
    Fd fd;
    std::unique_ptr<RouteSocket> route;
    std::unique_ptr<NftSocket> nft;
  };
  Handles& handles(const std::string& ns);
  RouteSocket& route(const std::string& ns);
  NftSocket& nft(const std::string& ns);
  void dropStaleHandles(const std::string& ns);
  void forgetIndexes();
  Namespace dump(const std::string& ns, const Namespace* want, std::set<std::string>& allLinks);
  bool applyToKernel(const Action& action);
  std::string readSysctl(const std::string& ns, const std::string& key);
  void writeSysctl(const std::string& ns, const std::string& key, const std::string& value);
  bool createNamespace(const std::string& ns);
  bool createLink(const Action& a);

  NetnsDir dir_;
  std::map<std::string, Handles> handles_;
  ObservationCache seen_;
  std::function<void(const std::string&)> beforeNamespaceDelete_;
  std::map<std::string, bool> qdiscKinds_;
};

}  // namespace vpcd
