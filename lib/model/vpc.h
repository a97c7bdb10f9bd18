#pragma once
// VPCs and subnets as values, with the validation of API requests and state
// files. Every rejection is an DomainError naming the offending field.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

inline constexpr int kDefaultMtu = 1500;
inline constexpr int kMinMtu = 1280;
inline constexpr int kMaxMtu = 9000;

enum class SubnetType { Public, Private };

struct Subnet {
  std::string name;
  Cidr cidr;
  SubnetType type = SubnetType::Private;
  // Creation order within its VPC, kept in its state file: subnets are
  // stored one file each, and listed in the order they were made.
  uint64_t seq = 0;

  Ipv4 gateway() const { return cidr.host(1); }
  // The subnet namespace's own address (eth0).
  Ipv4 address() const { return cidr.host(2); }
  // The subnet as asked for; `seq` only orders it.
  bool operator==(const Subnet& o) const {
    return name == o.name && cidr == o.cidr && type == o.type;
  }
};

struct Vpc {
  std::string name;
  Cidr cidr;
  int mtu = kDefaultMtu;
  // Which /30 of the transit pool this VPC's uplink uses; fixed at creation so
  // addresses survive restarts.
  int transitIndex = -1;
  std::vector<Subnet> subnets;  // in creation order (Subnet::seq)
  // The lab that owns the VPC and its subnets; "" when made outside any lab.
  std::string lab;

  const Subnet* findSubnet(const std::string& name) const;
  bool operator==(const Vpc&) const = default;
};

std::string toString(SubnetType type);

// API requests. `body` must be a JSON object; unknown fields are rejected.
Vpc parseVpcRequest(const nlohmann::json& body);
Subnet parseSubnetRequest(const nlohmann::json& body);

// The subnet must fit its VPC and not overlap a sibling (422 / 409).
void checkSubnetFits(const Vpc& vpc, const Subnet& subnet);

// The transit /30 of a VPC and its two ends.
struct Transit {
  Cidr hostEnd;    // e.g. 169.254.64.1/30, on t-<vpc> in the host namespace
  Cidr routerEnd;  // e.g. 169.254.64.2/30, on `uplink` in the router namespace
};
Transit transitFor(const Cidr& pool, int index);

// The API representation (and, with the transit index, the state file body).
nlohmann::json toJson(const Subnet& subnet, const Vpc& vpc);
nlohmann::json toJson(const Vpc& vpc, const Cidr& transitPool);

// State files: the VPC with the fields needed to rebuild it exactly.
nlohmann::json toState(const Vpc& vpc);
Vpc fromState(const nlohmann::json& state);

}  // namespace vpcd
