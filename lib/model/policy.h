#pragma once
// Firewall policies as values: the two accepted documents (vpcd's own format
// and the seed's VPCctl format), their validation with field-path errors, and
// the normalized form that is stored, shown and compiled (lib/plan/policy_compile).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

enum class PolicyAction { Allow, Deny };
enum class PolicyProtocol { All, Tcp, Udp, Icmp };
enum class Direction { Ingress, Egress };

struct PortRange {
  uint16_t first = 0, last = 65535;
  bool operator==(const PortRange&) const = default;
};

struct PolicyRule {
  int priority = 0;  // lower first
  PolicyAction action = PolicyAction::Allow;
  PolicyProtocol protocol = PolicyProtocol::All;
  std::vector<PortRange> ports;  // empty: every port
  std::vector<Cidr> peers;       // sources (ingress) or destinations (egress); empty: any
  std::string description;
  bool log = false;
  bool operator==(const PolicyRule&) const = default;
};

// Rules that apply together to a set of subnets. A vpcd document is one
// section; a seed document holding a list of subnets is one section each.
struct PolicySection {
  std::vector<std::string> appliesTo;  // "vpc/subnet"; a seed document may name a CIDR
  PolicyAction defaultIngress = PolicyAction::Deny;
  PolicyAction defaultEgress = PolicyAction::Allow;
  std::vector<PolicyRule> ingress, egress;
  const std::vector<PolicyRule>& rules(Direction d) const {
    return d == Direction::Ingress ? ingress : egress;
  }
  PolicyAction defaultFor(Direction d) const {
    return d == Direction::Ingress ? defaultIngress : defaultEgress;
  }
  bool operator==(const PolicySection&) const = default;
};

struct Policy {
  std::string name;
  std::string format;  // "vpcd" or "seed": how it was written
  std::vector<PolicySection> sections;
  int64_t createdAt = 0, updatedAt = 0;
  std::string lab;  // the lab that owns it; "" when none

  // The rule's path in the normalized document, as errors and statistics
  // name it: "ingress[1]", or "sections[2].egress[0]" when there are several.
  std::string rulePath(size_t section, Direction d, size_t index) const;
  bool operator==(const Policy&) const = default;
};

std::string toString(PolicyAction a);
std::string toString(PolicyProtocol p);
std::string toString(Direction d);
std::string toString(const PortRange& r);

// Parses a PUT body in either format (detected by its fields: a seed
// document has "subnet"; a list is always the seed format). `name` comes from
// the URL. Throws DomainError (Invalid) naming the path of the bad field.
Policy parsePolicy(const std::string& name, const nlohmann::json& body, int64_t now);

// The normalized document: the vpcd format, one section flattened.
nlohmann::json toJson(const Policy& p);
nlohmann::json toState(const Policy& p);
Policy fromPolicyState(const nlohmann::json& state);

}  // namespace vpcd
