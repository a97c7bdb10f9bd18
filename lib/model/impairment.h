#pragma once
// Impairments as values: delay, jitter, loss, duplication, corruption,
// reordering, a rate limit, or the link set down, on one link vpcd owns — a
// subnet host's, an instance NIC's, or the link between two peered routers
// (docs/impairments.md). The kernel side is a netem qdisc (and a tbf under
// it for a rate) on the end(s) of that link the direction names.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vpcd {

struct Impairment {
  enum class Kind { Subnet, Nic, Peering };
  std::string name;
  // As written: "prod/web" (a subnet's host), "api/eth1" (an instance's
  // NIC) or "peering/prod-shared".
  std::string target;
  // What `target` resolved to when the impairment was put (DesiredState::with).
  Kind kind = Kind::Subnet;
  std::string vpc, subnet;    // Subnet; a NIC's VPC and subnet too
  std::string instance, nic;  // Nic
  std::string peering;        // Peering, between its vpc and peerVpc
  std::string peerVpc;
  // "both", "in" (toward the subnet host or NIC; for a peering, from its
  // peer_vpc to its vpc) or "out" (the other way).
  std::string direction = "both";
  double delayMs = 0, jitterMs = 0;
  double lossPercent = 0, duplicatePercent = 0, corruptPercent = 0, reorderPercent = 0;
  uint64_t rateKbit = 0;  // 0: no limit
  bool down = false;      // the link down on purpose, whatever the rest says
  bool enabled = true;    // false: no effect in the kernel, values kept
  // Seconds it stays enabled after being switched on (0: until switched
  // off); `enabledAt` is when it was last switched on (unix seconds).
  int64_t durationS = 0;
  int64_t enabledAt = 0;
  int64_t createdAt = 0;
  std::string lab;  // the lab that owns it; "" when none

  // Whether it shapes packets (anything but `down`).
  bool shapes() const;
  // Unix seconds at which a timed impairment switches itself off; 0: never.
  int64_t endsAt() const { return enabled && durationS > 0 ? enabledAt + durationS : 0; }
  bool inbound() const { return direction != "out"; }
  bool outbound() const { return direction != "in"; }
  // The same effect: every field a user sets, not its times or owner.
  bool sameEffect(const Impairment& o) const;
  bool operator==(const Impairment&) const = default;
};

// The request body of PUT /v1/impairments/{name} (the name from the path
// when the body has none): fields and ranges checked, DomainError naming
// the field; the target is resolved by DesiredState::with.
Impairment parseImpairment(const nlohmann::json& body, const std::string& name, int64_t now);

nlohmann::json toJson(const Impairment& i);
nlohmann::json toState(const Impairment& i);
Impairment fromImpairmentState(const nlohmann::json& state);
// The request body that makes `i` again (a lab document's entry).
nlohmann::json toRequest(const Impairment& i);

}  // namespace vpcd
