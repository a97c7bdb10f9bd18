#pragma once
// Topology -> the kernel objects that should exist. Pure.
#include <string>
#include <vector>

#include "lib/model/instance.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

struct Topology {
  std::vector<Vpc> vpcs;
  std::vector<Peering> peerings;  // only active ones are programmed
  std::string uplink;             // host device toward the outside world
  Cidr transitPool;
  std::vector<Policy> policies;  // targets resolved to "vpc/subnet"
  std::vector<Instance> instances;
};

// Fixed names inside namespaces vpcd owns.
inline constexpr const char* kBridge = "br0";
inline constexpr const char* kRouterUplink = "uplink";
inline constexpr const char* kSubnetNic = "eth0";

std::string transitLinkName(const std::string& vpc);      // t-<vpc>, host side
std::string subnetPortName(const std::string& subnet);    // s-<subnet>, in router
std::string peerLinkName(const std::string& peerVpc);     // p-<peer>, in a router
std::string forwardingSysctl(const std::string& device);  // net/ipv4/conf/<dev>/forwarding
std::string subnetMac(const std::string& vpc, const std::string& subnet);  // of its eth0

// Policy routing of an instance's NIC eth<k>: a rule from its address to a
// table of its own, so replies leave by the NIC they came in on.
inline constexpr uint32_t kNicTableBase = 100;      // table 100 + k
inline constexpr uint32_t kNicRulePriority = 1000;  // pref 1000 + k

KernelState desiredState(const Topology& topology);

// The namespace holding the far end of a vpcd veth, read from its alias
// ("vpcd:transit:<vpc>" -> vpc-<vpc>, "vpcd:port:<vpc>/<subnet>" ->
// vpc-<vpc>.<subnet>, "vpcd:vmport:<instance>/<nic>" -> vm-<instance>); ""
// when the alias names no such end.
std::string peerNamespaceOf(const std::string& alias);

}  // namespace vpcd
