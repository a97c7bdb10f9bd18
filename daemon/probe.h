#pragma once
// Real packets for a reachability question (docs/reachability.md): a TCP
// handshake, UDP datagrams or ICMP echoes sent from inside the source's
// namespace. Where nothing listens at a destination inside vpcd, vpcd
// listens there itself for the probe's duration, so that "reached" does not
// depend on a service; a service that listens is never disturbed. Probes
// go only to the address asked about, and run together: many finish in one
// timeout.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

struct ProbeSpec {
  std::string srcNs;
  Ipv4 source;
  std::string dstNs;  // "" outside vpcd: no listener of ours
  Ipv4 dest;
  std::string proto;  // tcp, udp, icmp
  int port = 0;
};

struct ProbeResult {
  int sent = 0, received = 0;
  double rttMs = -1;
  bool ourListener = false;  // vpcd answered at the destination
  std::string outcome;       // "connected", "refused", "timed out", an error
  nlohmann::json json() const;
};

class Prober {
 public:
  explicit Prober(std::string netnsDir) : netnsDir_(std::move(netnsDir)) {}
  std::vector<ProbeResult> run(const std::vector<ProbeSpec>& probes,
                               std::chrono::milliseconds timeout) const;

 private:
  std::string netnsDir_;
};

}  // namespace vpcd
