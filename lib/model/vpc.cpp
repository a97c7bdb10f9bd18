#include "lib/model/vpc.h"

#include <algorithm>
#include <set>

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"

namespace vpcd {
using nlohmann::json;

const Subnet* Vpc::findSubnet(const std::string& name) const {
  for (const auto& s : subnets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string toString(SubnetType type) {
  return type == SubnetType::Public ? "public" : "private";
}

Vpc parseVpcRequest(const json& body) {
  requireObject(body, {"name", "cidr", "mtu"});
  Vpc vpc;
  vpc.name = requireString(body, "name");
  requireLabel("name", vpc.name);
  vpc.cidr = requireNetwork(body, "cidr", 8, 28);
  if (auto it = body.find("mtu"); it != body.end()) {
    if (!it->is_number_integer()) throw DomainError::invalid("mtu", "must be an integer");
    auto mtu = it->get<int64_t>();
    if (mtu < kMinMtu || mtu > kMaxMtu) {
      throw DomainError::invalid("mtu", std::to_string(mtu) + " is outside " +
                                            std::to_string(kMinMtu) + "–" +
                                            std::to_string(kMaxMtu));
    }
    vpc.mtu = static_cast<int>(mtu);
  }
  return vpc;
}

Subnet parseSubnetRequest(const json& body) {
  requireObject(body, {"name", "cidr", "type"});
  Subnet subnet;
  subnet.name = requireString(body, "name");
  requireLabel("name", subnet.name);
  subnet.cidr = requireNetwork(body, "cidr", 8, 29);
  if (body.contains("type")) {
    std::string type = requireString(body, "type");
    if (type == "public") {
      subnet.type = SubnetType::Public;
    } else if (type != "private") {
      throw DomainError::invalid("type", "\"" + type + "\" is not one of public, private");
    }
  }
  return subnet;
}

void checkSubnetFits(const Vpc& vpc, const Subnet& subnet) {
  if (!vpc.cidr.contains(subnet.cidr)) {
    throw DomainError::unprocessable("subnet " + subnet.name + ": cidr " + subnet.cidr.str() +
                                         " is outside vpc " + vpc.name + " " + vpc.cidr.str(),
                                     "cidr");
  }
  for (const auto& other : vpc.subnets) {
    if (other.cidr.overlaps(subnet.cidr)) {
      throw DomainError::conflict("subnet " + subnet.name + ": cidr " + subnet.cidr.str() +
                                      " overlaps subnet " + other.name + " " + other.cidr.str(),
                                  "cidr");
    }
  }
}

Transit transitFor(const Cidr& pool, int index) {
  uint32_t base = pool.network().value + 4u * static_cast<uint32_t>(index);
  return Transit{Cidr{Ipv4{base + 1}, 30}, Cidr{Ipv4{base + 2}, 30}};
}

json toJson(const Subnet& subnet, const Vpc& vpc) {
  return json{{"name", subnet.name},
              {"vpc", vpc.name},
              {"cidr", subnet.cidr.str()},
              {"type", toString(subnet.type)},
              {"gateway", subnet.gateway().str()},
              {"address", subnet.address().str()},
              {"namespace", subnetNamespace(vpc.name, subnet.name)},
              {"lab", labJson(vpc.lab)}};
}

json toJson(const Vpc& vpc, const Cidr& transitPool) {
  json subnets = json::array();
  for (const auto& s : vpc.subnets) subnets.push_back(toJson(s, vpc));
  Transit transit = transitFor(transitPool, vpc.transitIndex);
  return json{{"name", vpc.name},
              {"cidr", vpc.cidr.str()},
              {"mtu", vpc.mtu},
              {"router_namespace", routerNamespace(vpc.name)},
              {"transit", {{"host", transit.hostEnd.str()}, {"router", transit.routerEnd.str()}}},
              {"subnets", subnets},
              {"lab", labJson(vpc.lab)}};
}

json toState(const Vpc& vpc) {
  json subnets = json::array();
  for (const auto& s : vpc.subnets) {
    subnets.push_back({{"name", s.name},
                       {"cidr", s.cidr.str()},
                       {"type", toString(s.type)},
                       {"gateway", s.gateway().str()},
                       {"address", s.address().str()},
                       {"namespace", subnetNamespace(vpc.name, s.name)},
                       {"seq", s.seq}});
  }
  json out{{"name", vpc.name},
           {"cidr", vpc.cidr.str()},
           {"mtu", vpc.mtu},
           {"transit_index", vpc.transitIndex},
           {"router_namespace", routerNamespace(vpc.name)},
           {"subnets", subnets}};
  if (!vpc.lab.empty()) out["lab"] = vpc.lab;
  return out;
}

Vpc fromState(const json& state) {
  // A state file is re-validated with the request rules: a hand-edited file
  // must not be able to create what the API would refuse.
  Vpc vpc = parseVpcRequest(
      json{{"name", state.at("name")}, {"cidr", state.at("cidr")}, {"mtu", state.at("mtu")}});
  vpc.transitIndex = requireInteger<int>(state, "transit_index");
  vpc.lab = labFrom(state);
  for (const auto& s : state.at("subnets")) {
    Subnet subnet = parseSubnetRequest(
        json{{"name", s.at("name")}, {"cidr", s.at("cidr")}, {"type", s.at("type")}});
    checkSubnetFits(vpc, subnet);
    subnet.seq = integerOr<uint64_t>(s, "seq", vpc.subnets.size() + 1);
    vpc.subnets.push_back(subnet);
  }
  // Creation order, as the API lists them; a file without "seq" (schema 1,
  // which kept them in order) keeps its position.
  std::stable_sort(vpc.subnets.begin(), vpc.subnets.end(),
                   [](const Subnet& a, const Subnet& b) { return a.seq < b.seq; });
  return vpc;
}

}  // namespace vpcd
