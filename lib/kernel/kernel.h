#pragma once
// The one narrow interface to the kernel. The real implementation speaks
// netlink (libnl-route-3, libnftnl/libmnl); the fake keeps everything in
// memory for unit tests and `vpcd --dry-run`.
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/plan/kernel_model.h"

namespace vpcd {

// A failed kernel operation: what was attempted, on which object, and the
// kernel's own words (extended ack where the kernel gave one).
class KernelError : public std::runtime_error {
 public:
  KernelError(std::string op, std::string object, std::string message, int code = 0)
      : std::runtime_error(op + " " + object + ": " + message),
        op_(std::move(op)),
        object_(std::move(object)),
        message_(std::move(message)),
        code_(code) {}
  const std::string& op() const { return op_; }
  const std::string& object() const { return object_; }
  const std::string& kernelMessage() const { return message_; }
  int code() const { return code_; }  // errno, when the kernel gave one

 private:
  std::string op_, object_, message_;
  int code_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // Namespaces in the netns directory that carry vpcd's marker.
  virtual std::vector<std::string> ownedNamespaces() = 0;

  // What exists of namespace `ns` (kHostNamespace for our own) that vpcd owns:
  // marked links, their addresses, routes with vpcd's protocol, and the `vpcd`
  // tables; the sysctls read are those `want` names (want may be null).
  virtual Namespace observe(const std::string& ns, const Namespace* want) = 0;

  // Performs one action. Returns false when there was nothing to do (the
  // object was already gone), true when the kernel was changed.
  virtual bool apply(const Action& action) = 0;

  // The device of the default route in the daemon's namespace, or "".
  virtual std::string defaultRouteDevice() = 0;

  // The table actions (ReplaceTable, UpdateSets) of one namespace in one
  // transaction: all of them happen or none does (design.md: one nftables
  // batch per namespace).
  virtual void changeTables(const std::string& ns, const std::vector<Action>& actions) {
    (void)ns;
    for (const auto& a : actions) apply(a);
  }

  // The `vpcd` table of `family` in `ns` with its counters, if it exists
  // (read-only; for statistics).
  virtual std::optional<NftTable> readTable(const std::string& ns, uint32_t family) = 0;
  // Whether link `name` exists in namespace `ns` (read-only).
  virtual bool linkExists(const std::string& ns, const std::string& name) = 0;

  // Something other than vpcd changed these namespaces (kHostNamespace for
  // the host): whatever an implementation keeps about them (observations,
  // sockets) is dropped, and their next observation asks the kernel.
  virtual void invalidate(const std::set<std::string>& namespaces) { (void)namespaces; }

  // Coexistence with other firewalls in the host namespace (docs/service.md).
  // Base chains of other tables on the forward hook that drop by policy.
  virtual std::vector<std::string> forwardBlockers() { return {}; }
  // Base chains of other tables on the forward hook in namespace `ns`,
  // whatever their policy: where packets the model allows may stop.
  virtual std::vector<std::string> foreignForwardChains(const std::string& ns) {
    (void)ns;
    return {};
  }
  // In another tool's chain (host namespace), the rules marked with
  // `comment` become `rules`, at the chain's start; none removes them.
  // False when there is no such chain.
  virtual bool syncMarkedRules(const NftChainRef& chain, const std::string& comment,
                               const std::vector<NftRule>& rules) {
    (void)chain, (void)comment, (void)rules;
    return false;
  }

  // Whether this kernel has the qdisc `kind` (netem is a module some
  // kernels lack): asked before an impairment is accepted, so that nothing
  // is stored that the kernel cannot enforce.
  virtual bool hasQdisc(const std::string& kind) {
    (void)kind;
    return true;
  }

  // Mutating requests sent to the kernel since start (netlink messages that
  // create, change or delete, nftables batches, sysctl writes, mounts).
  virtual uint64_t mutatingCalls() const { return mutatingCalls_; }

  // Told of each mutating call right after it reached the kernel, with the
  // count so far: the seam below this interface where a crash test's fault
  // goes (lib/kernel/crash_after.h), between the calls of one action (a link
  // created, not yet marked). None unless asked for.
  using MutationHook = std::function<void(uint64_t count)>;
  void setMutationHook(MutationHook hook) { hook_ = std::move(hook); }

 protected:
  // Called right after each mutating call reached the kernel.
  void countMutation() {
    ++mutatingCalls_;
    if (hook_) hook_(mutatingCalls_);
  }

 private:
  uint64_t mutatingCalls_ = 0;
  MutationHook hook_;
};

}  // namespace vpcd
