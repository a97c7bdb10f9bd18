#include "lib/model/peering.h"

#include <catch2/catch.hpp>

#include "daemon/http_error.h"
#include "lib/kernel/fake_kernel.h"
#include "lib/model/error.h"
#include "lib/plan/desired.h"
#include "lib/reconcile/reconciler.h"

using namespace vpcd;
using nlohmann::json;

namespace {

Vpc vpc(const std::string& name, const char* cidr, int index) {
  Vpc v = parseVpcRequest({{"name", name}, {"cidr", cidr}});
  v.transitIndex = index;
  v.subnets.push_back(
      parseSubnetRequest({{"name", "pub"}, {"cidr", v.cidr.host(256).str() + "/24"}}));
  return v;
}

std::map<std::string, Vpc> vpcs() {
  return {{"a", vpc("a", "10.10.0.0/16", 0)},
          {"b", vpc("b", "10.20.0.0/16", 1)},
          {"c", vpc("c", "10.30.0.0/16", 2)},
          {"d", vpc("d", "10.10.0.0/16", 3)},
          {"e", vpc("e", "10.20.0.0/16", 4)}};
}

int codeOf(json body, std::map<std::string, Peering> existing = {}) {
  try {
    Peering p = parsePeeringRequest(body, 100);
    checkPeering(p, vpcs(), existing);
  } catch (const DomainError& e) {
    return httpStatusOf(e.kind()).code;
  }
  return 0;
}

Peering active(const char* name, const char* a, const char* b, int index) {
  Peering p = parsePeeringRequest({{"name", name}, {"vpc", a}, {"peer_vpc", b}}, 100);
  checkPeering(p, vpcs(), {});
  p.state = PeeringState::Active;
  p.transitIndex = index;
  return p;
}

}  // namespace

TEST_CASE("peering requests are validated") {
  CHECK(codeOf({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}}) == 0);
  CHECK(codeOf({{"name", "AB"}, {"vpc", "a"}, {"peer_vpc", "b"}}) == 400);
  CHECK(codeOf({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}, {"x", 1}}) == 400);
  CHECK(codeOf({{"name", "ab"},
                {"vpc", "a"},
                {"peer_vpc", "b"},
                {"allowed_cidrs", {{"c", {"10.30.0.0/16"}}}}}) == 400);
  CHECK(codeOf({{"name", "ab"},
                {"vpc", "a"},
                {"peer_vpc", "b"},
                {"allowed_cidrs", {{"a", json::array()}}}}) == 400);
  CHECK(codeOf({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}, {"expires_in_s", 0}}) == 400);
  CHECK(codeOf({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "zz"}}) == 404);
  CHECK(codeOf({{"name", "aa"}, {"vpc", "a"}, {"peer_vpc", "a"}}) == 409);
  CHECK(codeOf({{"name", "ad"}, {"vpc", "a"}, {"peer_vpc", "d"}}) == 409);  // overlapping CIDRs
  CHECK(codeOf({{"name", "ab"},
                {"vpc", "a"},
                {"peer_vpc", "b"},
                {"allowed_cidrs", {{"a", {"10.99.0.0/16"}}}}}) == 422);
}

TEST_CASE("a bad allow-list entry is named by its path") {
  try {
    parsePeeringRequest({{"name", "ab"},
                         {"vpc", "a"},
                         {"peer_vpc", "b"},
                         {"allowed_cidrs", {{"a", {"10.10.1.0/24", "10.10.2.1/24"}}}}},
                        0);
    FAIL("accepted");
  } catch (const DomainError& e) {
    CHECK(e.field() == "allowed_cidrs.a[1]");
  }
}

TEST_CASE("no second live peering between the same two VPCs, in either direction") {
  std::map<std::string, Peering> existing{{"ab", active("ab", "a", "b", 5)}};
  CHECK(codeOf({{"name", "ba"}, {"vpc", "b"}, {"peer_vpc", "a"}}, existing) == 409);
  existing.at("ab").state = PeeringState::Rejected;  // kept for listing only
  CHECK(codeOf({{"name", "ba"}, {"vpc", "b"}, {"peer_vpc", "a"}}, existing) == 0);
}

TEST_CASE("a VPC may not route one CIDR to two peers") {
  std::map<std::string, Peering> existing{{"ab", active("ab", "a", "b", 5)}};
  CHECK(codeOf({{"name", "ae"}, {"vpc", "a"}, {"peer_vpc", "e"}}, existing) == 409);
  CHECK(codeOf({{"name", "ac"}, {"vpc", "a"}, {"peer_vpc", "c"}}, existing) == 0);
}

TEST_CASE("defaults, expiry and state round trip") {
  Peering p = parsePeeringRequest(
      {{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}, {"expires_in_s", 60}}, 1000);
  checkPeering(p, vpcs(), {});
  CHECK(p.allowed.at("a") == std::vector<Cidr>{*Cidr::parse("10.10.0.0/16")});
  CHECK(p.state == PeeringState::Pending);
  CHECK_FALSE(expire(p, 1059));
  CHECK(expire(p, 1060));
  CHECK(toString(p.state) == "expired");
  CHECK(fromPeeringState(toState(p)) == p);
}

TEST_CASE("an active peering: a veth between routers, routes for the allow-lists only") {
  auto all = vpcs();
  Peering p = active("ab", "a", "b", 5);
  p.allowed["a"] = {*Cidr::parse("10.10.1.0/24")};
  Topology t{{all.at("a"), all.at("b")}, {p}, "eth0", *Cidr::parse("169.254.64.0/18")};
  KernelState want = desiredState(t);
  const Namespace& ra = want.at("vpc-a");
  const Namespace& rb = want.at("vpc-b");
  CHECK(ra.links.at("p-b").peerNamespace == "vpc-b");
  CHECK(rb.links.at("p-a").isPeer);
  CHECK(ra.addresses.count({"p-b", *Cidr::parse("169.254.64.21/30")}));
  CHECK(ra.routes.count({*Cidr::parse("10.20.0.0/16"), *Ipv4::parse("169.254.64.22"), "p-b"}));
  CHECK(rb.routes.count({*Cidr::parse("10.10.1.0/24"), *Ipv4::parse("169.254.64.21"), "p-a"}));
  CHECK(rb.routes.size() == 2);  // its uplink default and the one allowed /24
  const NftTable& table = ra.tables.at("inet vpcd");
  CHECK(std::count_if(table.sets.begin(), table.sets.end(),
                      [](const NftSet& s) { return s.name.rfind("ab-", 0) == 0; }) == 2);
  CHECK(table.rules.size() == 4 + 4);

  // Pending or rejected: nothing in the kernel.
  t.peerings[0].state = PeeringState::Pending;
  KernelState none = desiredState(t);
  CHECK_FALSE(none.at("vpc-a").links.count("p-b"));

  // Applied twice: no kernel call the second time.
  t.peerings[0].state = PeeringState::Active;
  FakeKernel kernel;
  Reconciler r(kernel);
  REQUIRE(r.reconcile(want, Scope::all()).ok());
  uint64_t calls = kernel.mutatingCalls();
  CHECK(r.reconcile(want, Scope::all()).applied.empty());
  CHECK(kernel.mutatingCalls() == calls);

  // The link deleted by hand, repaired from a scope holding only one router:
  // the other router joins the scope, so its end gets its address and routes.
  kernel.apply({.op = Action::Op::DeleteLink, .ns = "vpc-a", .link = {.name = "p-b"}});
  auto repaired = r.reconcile(want, Scope::of({"vpc-a"}));
  INFO(repaired.error);
  REQUIRE(repaired.ok());
  CHECK(r.plan(want, Scope::all()).empty());
}
