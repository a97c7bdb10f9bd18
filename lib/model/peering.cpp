#include "lib/model/peering.h"

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

using nlohmann::json;

json timeOrNull(int64_t t) {
  return t ? json(isoTime(t)) : json(nullptr);
}

std::vector<Cidr> parseCidrList(const json& list, const std::string& field) {
  if (!list.is_array() || list.empty())
    throw DomainError::invalid(field, "must be a non-empty list of CIDRs");
  std::vector<Cidr> out;
  for (size_t i = 0; i < list.size(); ++i) {
    out.push_back(parseNetwork(list[i], field + "[" + std::to_string(i) + "]", 0, 32));
  }
  return out;
}

// Whether any CIDR of `a` overlaps any of `b`; names the first pair found.
bool overlapping(const std::vector<Cidr>& a, const std::vector<Cidr>& b, std::string* pair) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.overlaps(y)) {
        *pair = x.str() + " and " + y.str();
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::string toString(PeeringState state) {
  switch (state) {
    case PeeringState::Pending:
      return "pending-acceptance";
    case PeeringState::Active:
      return "active";
    case PeeringState::Rejected:
      return "rejected";
    case PeeringState::Expired:
      return "expired";
  }
  return "?";
}

Peering parsePeeringRequest(const json& body, int64_t now) {
  requireObject(body, {"name", "vpc", "peer_vpc", "allowed_cidrs", "expires_in_s"});
  Peering p;
  p.name = requireString(body, "name");
  requireLabel("name", p.name);
  p.vpc = requireString(body, "vpc");
  requireLabel("vpc", p.vpc);
  p.peerVpc = requireString(body, "peer_vpc");
  requireLabel("peer_vpc", p.peerVpc);
  if (auto it = body.find("allowed_cidrs"); it != body.end()) {
    if (!it->is_object())
      throw DomainError::invalid("allowed_cidrs", "must be an object keyed by VPC name");
    for (const auto& [side, list] : it->items()) {
      std::string field = "allowed_cidrs." + side;
      if (side != p.vpc && side != p.peerVpc) {
        throw DomainError::invalid(field, "\"" + side + "\" is neither vpc nor peer_vpc");
      }
      p.allowed[side] = parseCidrList(list, field);
    }
  }
  if (auto it = body.find("expires_in_s"); it != body.end()) {
    // Bounded so that now + it cannot overflow (an int64 near its end would).
    constexpr int64_t kMaxExpiry = int64_t{100} * 365 * 24 * 3600;
    if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > kMaxExpiry) {
      throw DomainError::invalid("expires_in_s",
                                 "must be a positive integer of seconds, at most 100 years");
    }
    p.expiresAt = now + it->get<int64_t>();
  }
  p.createdAt = now;
  return p;
}

void checkNoAmbiguousRoutes(const Peering& p, const std::map<std::string, Peering>& peerings) {
  for (const auto& [name, other] : peerings) {
    if (name == p.name || other.state != PeeringState::Active) continue;
    for (const auto& side : {p.vpc, p.peerVpc}) {
      if (other.vpc != side && other.peerVpc != side) continue;
      // `side` would route both p's far side and other's far side.
      std::string pair;
      if (overlapping(p.allowed.at(p.other(side)), other.allowed.at(other.other(side)), &pair)) {
        throw DomainError::conflict("peering " + p.name + ": vpc " + side + " would route " + pair +
                                    " both to " + p.other(side) + " and to " + other.other(side) +
                                    " (peering " + name + ")");
      }
    }
  }
}

void checkPeering(Peering& p, const std::map<std::string, Vpc>& vpcs,
                  const std::map<std::string, Peering>& peerings) {
  checkPeering(
      p,
      [&](const std::string& name) {
        auto it = vpcs.find(name);
        return it == vpcs.end() ? nullptr : &it->second;
      },
      peerings);
}

void checkPeering(Peering& p, const VpcLookup& vpcs,
                  const std::map<std::string, Peering>& peerings) {
  for (const auto* side : {&p.vpc, &p.peerVpc}) {
    if (!vpcs(*side)) throw DomainError::notFound("vpc " + *side + " not found");
  }
  if (p.vpc == p.peerVpc) {
    throw DomainError::conflict("peering " + p.name + ": a VPC cannot peer with itself",
                                "peer_vpc");
  }
  const Vpc& a = *vpcs(p.vpc);
  const Vpc& b = *vpcs(p.peerVpc);
  if (a.cidr.overlaps(b.cidr)) {
    throw DomainError::conflict("peering " + p.name + ": vpc " + a.name + " " + a.cidr.str() +
                                    " overlaps vpc " + b.name + " " + b.cidr.str(),
                                "peer_vpc");
  }
  for (const auto& [name, other] : peerings) {
    bool samePair = (other.vpc == p.vpc && other.peerVpc == p.peerVpc) ||
                    (other.vpc == p.peerVpc && other.peerVpc == p.vpc);
    if (samePair && other.live() && name != p.name) {
      throw DomainError::conflict("peering " + p.name + ": vpcs " + p.vpc + " and " + p.peerVpc +
                                      " are already peered by " + name + " (" +
                                      toString(other.state) + ")",
                                  "peer_vpc");
    }
  }
  for (const Vpc* v : {&a, &b}) {
    auto& list = p.allowed[v->name];
    if (list.empty()) list.push_back(v->cidr);
    for (const auto& c : list) {
      if (!v->cidr.contains(c)) {
        throw DomainError::unprocessable("peering " + p.name + ": allowed cidr " + c.str() +
                                             " is outside vpc " + v->name + " " + v->cidr.str(),
                                         "allowed_cidrs." + v->name);
      }
    }
  }
  checkNoAmbiguousRoutes(p, peerings);
}

bool expire(Peering& p, int64_t now) {
  if (p.state != PeeringState::Pending || p.expiresAt == 0 || now < p.expiresAt) return false;
  p.state = PeeringState::Expired;
  return true;
}

json toJson(const Peering& p, const Cidr& transitPool) {
  json allowed = json::object();
  for (const auto& [side, list] : p.allowed) {
    allowed[side] = json::array();
    for (const auto& c : list) allowed[side].push_back(c.str());
  }
  json out{{"name", p.name},
           {"vpc", p.vpc},
           {"peer_vpc", p.peerVpc},
           {"state", toString(p.state)},
           {"allowed_cidrs", allowed},
           {"created_at", timeOrNull(p.createdAt)},
           {"accepted_at", timeOrNull(p.acceptedAt)},
           {"rejected_at", timeOrNull(p.rejectedAt)},
           {"expires_at", timeOrNull(p.expiresAt)},
           {"lab", labJson(p.lab)}};
  if (p.state == PeeringState::Active && p.transitIndex >= 0) {
    Transit t = transitFor(transitPool, p.transitIndex);
    out["link"] = {
        {p.vpc, {{"interface", interfaceName("p-", p.peerVpc)}, {"address", t.hostEnd.str()}}},
        {p.peerVpc, {{"interface", interfaceName("p-", p.vpc)}, {"address", t.routerEnd.str()}}}};
  }
  return out;
}

json toState(const Peering& p) {
  json out = toJson(p, Cidr{});
  out.erase("link");
  out["created_at"] = p.createdAt;
  out["accepted_at"] = p.acceptedAt;
  out["rejected_at"] = p.rejectedAt;
  out["expires_at"] = p.expiresAt;
  out["transit_index"] = p.transitIndex;
  if (p.lab.empty()) out.erase("lab");
  return out;
}

Peering fromPeeringState(const json& s) {
  Peering p = parsePeeringRequest(json{{"name", s.at("name")},
                                       {"vpc", s.at("vpc")},
                                       {"peer_vpc", s.at("peer_vpc")},
                                       {"allowed_cidrs", s.at("allowed_cidrs")}},
                                  requireInteger<int64_t>(s, "created_at"));
  std::string state = s.at("state").get<std::string>();
  for (auto st : {PeeringState::Pending, PeeringState::Active, PeeringState::Rejected,
                  PeeringState::Expired}) {
    if (toString(st) == state) p.state = st;
  }
  if (toString(p.state) != state)
    throw DomainError::invalid("state", "unknown peering state \"" + state + "\"");
  p.acceptedAt = requireInteger<int64_t>(s, "accepted_at");
  p.rejectedAt = requireInteger<int64_t>(s, "rejected_at");
  p.expiresAt = requireInteger<int64_t>(s, "expires_at");
  p.transitIndex = requireInteger<int>(s, "transit_index");
  p.lab = labFrom(s);
  return p;
}

}  // namespace vpcd
