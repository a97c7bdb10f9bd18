#pragma once
// VPC peerings as values: the request, its validation, its life cycle.
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/model/vpc.h"

namespace vpcd {

enum class PeeringState { Pending, Active, Rejected, Expired };
std::string toString(PeeringState state);

struct Peering {
  std::string name;
  std::string vpc;      // the requesting side
  std::string peerVpc;  // the accepting side
  // What each side lets the other reach, by VPC name. Filled with the VPC's
  // whole CIDR when the request leaves a side out.
  std::map<std::string, std::vector<Cidr>> allowed;
  PeeringState state = PeeringState::Pending;
  int64_t createdAt = 0;  // unix seconds; 0 = never
  int64_t acceptedAt = 0;
  int64_t rejectedAt = 0;
  int64_t expiresAt = 0;
  int transitIndex = -1;  // the /30 of the link, while active
  std::string lab;        // the lab that owns it; "" when none

  const std::string& other(const std::string& side) const { return side == vpc ? peerVpc : vpc; }
  bool live() const { return state == PeeringState::Pending || state == PeeringState::Active; }
  bool operator==(const Peering&) const = default;
};

// Parses a request; checks names, fields and CIDR syntax (400). Lookups that
// need the VPCs (404, 409, 422) are checkPeering's.
Peering parsePeeringRequest(const nlohmann::json& body, int64_t now);

// Checks a new peering against the VPCs and the other peerings: both VPCs
// exist (404); not a VPC with itself, no second live peering between the same
// two, no overlapping VPC CIDRs, no route ambiguity with another active peer
// of either side (409); every allowed CIDR inside its VPC (422). Fills in the
// default allow-lists.
using VpcLookup = std::function<const Vpc*(const std::string&)>;
void checkPeering(Peering& p, const VpcLookup& vpcs,
                  const std::map<std::string, Peering>& peerings);
void checkPeering(Peering& p, const std::map<std::string, Vpc>& vpcs,
                  const std::map<std::string, Peering>& peerings);

// The route-ambiguity check alone, for accepting: `p` against the other
// active peerings.
void checkNoAmbiguousRoutes(const Peering& p, const std::map<std::string, Peering>& peerings);

// A pending request past its expiry becomes Expired. Returns true if changed.
bool expire(Peering& p, int64_t now);

nlohmann::json toJson(const Peering& p, const Cidr& transitPool);
nlohmann::json toState(const Peering& p);
Peering fromPeeringState(const nlohmann::json& state);

}  // namespace vpcd
