#pragma once
// Port forwards (DNAT) as values: traffic to a host address and port reaches
// a host in a VPC, the way a cloud's public IP reaches an instance.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "lib/model/cidr.h"

namespace vpcd {

struct PortForward {
  std::string name;
  std::string protocol = "tcp";  // tcp or udp
  uint16_t listenPort = 0;
  // Unset: every address of the host (its uplink's, whichever device that
  // is at the moment), as `docker run -p` listens on 0.0.0.0.
  std::optional<Ipv4> listenAddress;
  // As written: "prod/web" (a subnet's host), "api" (an instance's primary
  // NIC), "api/eth1" (one NIC) or "prod:10.10.2.10" (an address in a VPC).
  std::string target;
  uint16_t targetPort = 0;
  // What `target` resolved to when the forward was made (DesiredState::with).
  std::string vpc;
  std::string subnet;
  Ipv4 targetIp;
  std::string instance;  // the instance of a NIC target, else ""
  std::string nic;       // its NIC (eth<k>)
  int64_t createdAt = 0;
  std::string lab;  // the lab that owns it; "" when none

  uint8_t protocolNumber() const;  // IPPROTO_TCP or IPPROTO_UDP
  // "tcp/8080 on 192.0.2.10" or "tcp/8080 on every host address".
  std::string listenText() const;
  // Two forwards the host could not tell apart: one protocol and port, and
  // one address (or either on every address).
  bool clashesWith(const PortForward& o) const;
  bool operator==(const PortForward&) const = default;
};

// {"name", "protocol"?, "listen_port", "listen_address"?, "target",
// "target_port"?}: fields and syntax checked (400 naming the field); the
// target is resolved against the state by DesiredState::with. target_port
// defaults to listen_port, protocol to tcp.
PortForward parsePortForward(const nlohmann::json& body, int64_t now);

nlohmann::json toJson(const PortForward& f);
nlohmann::json toState(const PortForward& f);
PortForward fromPortForwardState(const nlohmann::json& state);

}  // namespace vpcd
