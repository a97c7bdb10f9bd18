#pragma once
// Flow records (docs/operations.md, "Flow logs"): what conntrack and the
// firewall's drops say about a VPC's traffic, aggregated per window into
// lines of the AWS VPC Flow Logs default format, version 2:
//   version account-id interface-id srcaddr dstaddr srcport dstport protocol
//   packets bytes start end action log-status
// Pure: the daemon feeds it what it reads from the kernel
// (daemon/flow_collector.h).
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

class DesiredState;

// One IPv4 connection as conntrack holds it: its two tuples (the reply
// tuple shows where NAT sent it) and the packets and bytes of each way.
// Addresses and ports in host byte order; ports 0 for protocols without.
struct ConnectionCount {
  uint32_t id = 0;
  uint8_t proto = 0;
  uint32_t origSrc = 0, origDst = 0, replySrc = 0, replyDst = 0;
  uint16_t origSport = 0, origDport = 0, replySport = 0, replyDport = 0;
  uint64_t origPackets = 0, origBytes = 0, replyPackets = 0, replyBytes = 0;
  bool destroyed = false;  // from a destroy event: the final counts
  bool operator==(const ConnectionCount&) const = default;
};

// One way of a flow, as a record names it.
struct FlowKey {
  uint8_t proto = 0;
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  auto operator<=>(const FlowKey&) const = default;
};

// What a VPC's flow log writes and how it names interfaces, from the
// desired state: its subnets, their gateways (the router itself: its own
// traffic, such as DNS to the resolver, is not logged, as AWS leaves out
// the Amazon DNS server), the instance NICs in it, and the subnets the
// enabled flow logs cover.
struct FlowPlaces {
  std::string vpc;
  std::vector<std::pair<Cidr, std::string>> subnets;
  std::set<uint32_t> gateways;
  std::map<uint32_t, std::string> nics;  // address -> "instance/eth<k>"
  bool wholeVpc = false;
  std::set<std::string> covered;  // subnets covered when !wholeVpc
  int aggregationS = 60;          // the shortest of the enabled flow logs'

  // Nullopt when the VPC has no enabled flow log.
  static std::optional<FlowPlaces> of(const DesiredState& state, const std::string& vpc);
  std::string subnetOf(uint32_t addr) const;  // "" outside the VPC
  bool inScope(const std::string& subnet) const {
    return !subnet.empty() && (wholeVpc || covered.count(subnet) > 0);
  }
  // The NIC with the address ("api/eth1"), else the subnet ("prod/web").
  std::string interfaceOf(uint32_t addr) const;
  bool operator==(const FlowPlaces&) const = default;
};

class FlowWindow {
 public:
  // A connection from a dump or an end event: what it carried since it was
  // last seen counts in this window.
  void observe(const ConnectionCount& c);
  // Whether the connection `id` carried nothing since it was last seen.
  bool unchanged(uint32_t id, uint64_t origPackets, uint64_t replyPackets) const {
    auto it = seen_.find(id);
    return it != seen_.end() && it->second.last.origPackets == origPackets &&
           it->second.last.replyPackets == replyPackets;
  }
  // After a dump: connections not in it for two dumps running are
  // forgotten (their end event was lost).
  void dumped(const std::set<uint32_t>& ids);
  // A packet the firewall dropped (its IPv4 total length).
  void rejected(const FlowKey& k, uint64_t bytes);
  // Some events or drops were lost (a receive queue overflowed): the
  // window's records are incomplete, and say so (log-status SKIPDATA).
  void lost() { lost_ = true; }

  // The window's records, [start, end) in unix seconds, and a new window.
  std::vector<std::string> close(int64_t start, int64_t end, const FlowPlaces& places);

 private:
  struct Count {
    uint64_t packets = 0, bytes = 0;
  };
  struct Seen {
    ConnectionCount last;
    int missing = 0;  // dumps running it was not in
  };
  std::map<uint32_t, Seen> seen_;
  std::map<std::pair<FlowKey, bool>, Count> window_;  // (key, accepted)
  bool lost_ = false;
};

// The flow of an IPv4 packet a firewall dropped, from its first bytes (an
// NFLOG copy), and its total length; nullopt when it is not IPv4.
struct DroppedPacket {
  FlowKey key;
  uint64_t bytes = 0;
};
std::optional<DroppedPacket> droppedPacket(const uint8_t* p, size_t len);

// "10.10.1.5" from host byte order.
std::string dotted(uint32_t addr);

}  // namespace vpcd
