#pragma once
// Reachability from the model: can FROM open a connection to TO, by which
// hops, through which NAT, and if not, what stops it (docs/reachability.md).
// Pure: it reads the desired state, the same values the kernel picture is
// built from, and follows the rules vpcd programs (routes, peering
// allow-lists, the private subnets' egress drop, policies with first match,
// the bridge's anti-spoofing), so that a probe can check it with packets.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/model/desired_state.h"

namespace vpcd {

struct ReachQuery {
  std::string from, to;
  std::string proto = "tcp";          // tcp, udp, icmp
  bool protoGiven = false;            // else a port forward's own protocol
  int port = 0;                       // tcp and udp; a port forward's listen port by default
  std::optional<Ipv4> sourceAddress;  // send from this address (default: the source's own)
};

// "forward/NAME": TO is a port forward, FROM a client outside the host.
constexpr const char* kForwardPrefix = "forward/";
bool isForwardRef(const std::string& ref);

// One end of a question.
struct ReachEndpoint {
  enum class Kind { SubnetHost, Instance, Address, Internet } kind = Kind::Internet;
  std::string ref;  // as asked
  std::string ns;   // its namespace ("" outside vpcd)
  std::string nic;  // eth0, eth1 …
  Ipv4 address;
  std::string vpc, subnet;  // "" outside every VPC
  std::string instance;
  bool running = true;  // an instance's status
  nlohmann::json json() const;
};

struct ReachAnswer {
  ReachEndpoint from, to;
  std::string proto;  // as asked, or the port forward's
  int port = 0;
  Ipv4 source;  // the address the connection leaves with
  bool reachable = false;
  nlohmann::json path = nlohmann::json::array();  // hops: {namespace, step, detail}
  nlohmann::json nat = nlohmann::json::array();   // {where, kind, before, after}
  nlohmann::json blockedBy;                       // null when reachable
  nlohmann::json json() const;
};

// Parses and checks a question: {"from", "to", "port"?, "proto"?,
// "source_address"?, "probe"?}; DomainError naming the field.
ReachQuery parseReachQuery(const nlohmann::json& body);
// The endpoints as the state has them: NotFound naming "from" or "to".
ReachEndpoint resolveSource(const DesiredState& s, const std::string& ref);
ReachEndpoint resolveTarget(const DesiredState& s, const std::string& ref, const std::string& vpc);
// The model's answer. To a port forward (TO "forward/NAME"), from a client
// address outside every VPC: the host's and the router's DNAT, then the
// target subnet's ingress policy for the client's own address.
ReachAnswer modelReach(const DesiredState& s, const ReachQuery& q);

}  // namespace vpcd
