#include "daemon/api.h"

#include <linux/netfilter.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "lib/kernel/fake_kernel.h"
#include "lib/plan/desired.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;
using vpcd::test::RootApi;

namespace {

// A kernel whose dumps fail, as a netlink error would make them.
class BrokenKernel : public FakeKernel {
 public:
  Namespace observe(const std::string& ns, const Namespace* want) override {
    if (broken) throw KernelError("dump links", displayName(ns), "Operation not permitted", EPERM);
    return FakeKernel::observe(ns, want);
  }
  bool apply(const Action& a) override {
    if (refuseLinks && a.op == Action::Op::CreateLink)
      throw KernelError("create link", a.link.name + " in " + displayName(a.ns),
                        "File exists (a link of that name is in the way)", EEXIST);
    return FakeKernel::apply(a);
  }
  bool broken = false;
  bool refuseLinks = false;
};

}  // namespace

TEST_CASE("peering link names cannot collide: such VPC names already collide as transit links") {
  Daemon d;
  RootApi& api = d.api;
  // FNV-1a-24 of these two names collides. p- and t- names keep the same
  // prefix and hash, so the second VPC is refused before it could ever be
  // peered with a router that already has the first one's link.
  REQUIRE(peerLinkName("shared-vpc-18919") == peerLinkName("shared-vpc-20664"));
  REQUIRE(transitLinkName("shared-vpc-18919") == transitLinkName("shared-vpc-20664"));
  CHECK(api.handle({"POST", "/v1/vpcs", R"({"name":"shared-vpc-18919","cidr":"10.2.0.0/16"})"})
            .status == 201);
  auto clash =
      api.handle({"POST", "/v1/vpcs", R"({"name":"shared-vpc-20664","cidr":"10.3.0.0/16"})"});
  CHECK(clash.status == 409);
  CHECK(clash.body.find("is already used by vpc shared-vpc-18919") != std::string::npos);
}

TEST_CASE("API answers through the service, and a kernel failure is a 500, not a crash") {
  Daemon<BrokenKernel> d(true);
  RootApi& api = d.api;
  BrokenKernel& kernel = d.kernel;

  auto created = api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"});
  CHECK(created.status == 201);
  CHECK(api.handle({"GET", "/v1/vpcs/prod", ""}).status == 200);
  CHECK(api.handle({"PATCH", "/v1/vpcs/prod", ""}).status == 405);
  CHECK(api.handle({"GET", "/v2/vpcs", ""}).status == 404);

  kernel.broken = true;
  auto plan = api.handle({"GET", "/v1/plan", ""});
  CHECK(plan.status == 500);
  CHECK(plan.body.find("Operation not permitted") != std::string::npos);
  auto create = api.handle({"POST", "/v1/vpcs", R"({"name":"next","cidr":"10.20.0.0/16"})"});
  CHECK(create.status == 500);
  CHECK(create.body.find("\"status\":\"INTERNAL\"") != std::string::npos);
  kernel.broken = false;
  CHECK(api.handle({"GET", "/v1/health", ""}).status == 200);

  // A kernel failure carries its operation, object, errno and the kernel's
  // words up to the answer, as fields a client can act on.
  auto details = [](const HttpResponse& r) {
    return nlohmann::json::parse(r.body)["error"]["details"];
  };
  kernel.broken = true;
  auto failed = details(api.handle({"GET", "/v1/plan", ""}));
  CHECK(failed["operation"] == "dump links");
  CHECK(failed["errno"] == EPERM);
  CHECK(failed["errno_name"] == "EPERM");
  kernel.broken = false;
  kernel.refuseLinks = true;
  auto refused =
      api.handle({"POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24"})"});
  CHECK(refused.status == 500);
  auto k = details(refused);
  CHECK(k["operation"] == "create link");
  CHECK(k["object"] == "s-web in vpc-prod");
  CHECK(k["errno"] == EEXIST);
  CHECK(k["errno_name"] == "EEXIST");
  CHECK(k["kernel_message"] == "File exists (a link of that name is in the way)");
  kernel.refuseLinks = false;
}

TEST_CASE("a policy too large to compile is a 422 that changes nothing, even as a replacement") {
  Daemon d;
  RootApi& api = d.api;
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"}).status ==
          201);
  REQUIRE(api.handle({"POST", "/v1/vpcs/prod/subnets", R"({"name":"db","cidr":"10.10.2.0/24"})"})
              .status == 201);
  const std::string small =
      R"({"applies_to":["prod/db"],"ingress":[{"priority":1,"action":"allow","ports":["5432"]}]})";
  REQUIRE(api.handle({"PUT", "/v1/policies/db", small}).status == 201);

  // Distinct ports on every address under distinct /24 sources: ~600 x 600
  // disjoint entries, past the compile limit.
  nlohmann::json rules = nlohmann::json::array();
  for (int i = 0; i < 600; ++i) {
    rules.push_back({{"priority", 1},
                     {"action", "deny"},
                     {"protocol", "tcp"},
                     {"ports", {std::to_string(10 + 2 * i)}}});
    rules.push_back(
        {{"priority", 2},
         {"action", "allow"},
         {"protocol", "tcp"},
         {"sources", {"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24"}}});
  }
  const std::string big = nlohmann::json{{"applies_to", {"prod/db"}}, {"ingress", rules}}.dump();
  auto before = d.kernel.readTable("vpc-prod", NFPROTO_INET);
  REQUIRE(before);
  std::string stored = api.handle({"GET", "/v1/policies/db", ""}).body;

  auto replaced = api.handle({"PUT", "/v1/policies/db", big});
  CHECK(replaced.status == 422);
  CHECK(replaced.body.find("disjoint entries") != std::string::npos);
  CHECK(api.handle({"GET", "/v1/policies/db", ""}).body == stored);
  CHECK(d.kernel.readTable("vpc-prod", NFPROTO_INET) == before);

  CHECK(api.handle({"PUT", "/v1/policies/other", big}).status == 422);
  CHECK(api.handle({"GET", "/v1/policies/other", ""}).status == 404);
  CHECK_FALSE(std::filesystem::exists(d.path / "policies" / "other.json"));
  CHECK(d.kernel.readTable("vpc-prod", NFPROTO_INET) == before);

  // What is on disk is still the first policy: a restart brings it back.
  Services again(d.config, d.store, d.kernel, d.reconciler);
  again.start();
  // (The enforcement's `since` is the new daemon's first pass.)
  auto policyOf = [](const std::string& body) {
    auto doc = nlohmann::json::parse(body);
    doc.erase("enforcement");
    return doc;
  };
  CHECK(policyOf(RootApi(again).handle({"GET", "/v1/policies/db", ""}).body) == policyOf(stored));
}

TEST_CASE("instances through the API on the fake kernel: addresses, refusals, lifecycle, guards") {
  Daemon d;
  RootApi& api = d.api;
  auto call = [&](const std::string& m, const std::string& path, const std::string& body = "") {
    return api.handle({m, path, body});
  };
  REQUIRE(call("POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})").status == 201);
  REQUIRE(call("POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24"})").status ==
          201);
  auto a = call("POST", "/v1/instances", R"({"name":"a","subnet":"prod/web"})");
  REQUIRE(a.status == 201);
  CHECK(nlohmann::json::parse(a.body)["nics"][0]["ip"] == "10.10.1.3");
  CHECK(d.kernel.state().count("vm-a"));
  CHECK(d.kernel.state().at("vm-a").rules.size() == 1);

  // Refusals change nothing: no state file, no namespace.
  auto taken =
      call("POST", "/v1/instances", R"({"name":"b","subnet":"prod/web","ip":"10.10.1.3"})");
  CHECK(taken.status == 409);
  CHECK(taken.body.find("in use by a/eth0") != std::string::npos);
  CHECK(call("POST", "/v1/instances", R"({"name":"b","subnet":"prod/web","ip":"10.10.1.2"})")
            .status == 409);
  CHECK(
      call("POST", "/v1/instances", R"({"name":"b","subnet":"prod/web","ip":"10.9.0.1"})").status ==
      409);
  CHECK(call("POST", "/v1/instances", R"({"name":"a","subnet":"prod/web"})").status == 409);
  CHECK_FALSE(d.kernel.state().count("vm-b"));
  CHECK_FALSE(std::filesystem::exists(d.path / "instances" / "b.json"));

  auto ips = call("GET", "/v1/vpcs/prod/subnets/web/available-ips?limit=2");
  CHECK(nlohmann::json::parse(ips.body)["items"] == nlohmann::json{"10.10.1.4", "10.10.1.5"});
  CHECK(call("GET", "/v1/vpcs/prod/subnets/web/available-ips?limit=0").status == 400);

  CHECK(call("POST", "/v1/instances/a/start").status == 409);
  CHECK(call("POST", "/v1/instances/a/stop").status == 200);
  CHECK_FALSE(d.kernel.state().at("vm-a").links.at("eth0").up);
  CHECK(call("POST", "/v1/instances/a/reset").body.find("is STOPPED; cannot reset it") !=
        std::string::npos);
  CHECK(call("POST", "/v1/instances/a/start").status == 200);

  auto guard = call("DELETE", "/v1/vpcs/prod/subnets/web");
  CHECK(guard.status == 409);
  CHECK(guard.body.find("a/eth0") != std::string::npos);
  CHECK(call("DELETE", "/v1/instances/a").status == 200);
  CHECK_FALSE(d.kernel.state().count("vm-a"));
  CHECK(call("DELETE", "/v1/vpcs/prod/subnets/web").status == 200);
}

TEST_CASE("every change the API offers has a resource:verb permission; reads need none") {
  CHECK(Authorizer::permissionFor("GET", {"v1", "vpcs", "prod"}).empty());
  CHECK(Authorizer::permissionFor("POST", {"v1", "vpcs"}) == "vpc:create");
  CHECK(Authorizer::permissionFor("DELETE", {"v1", "vpcs", "prod"}) == "vpc:delete");
  CHECK(Authorizer::permissionFor("POST", {"v1", "vpcs", "prod", "subnets"}) == "subnet:create");
  CHECK(Authorizer::permissionFor("DELETE", {"v1", "vpcs", "prod", "subnets", "web"}) ==
        "subnet:delete");
  CHECK(Authorizer::permissionFor("POST", {"v1", "peerings"}) == "peering:create");
  CHECK(Authorizer::permissionFor("POST", {"v1", "peerings", "p", "accept"}) == "peering:accept");
  CHECK(Authorizer::permissionFor("POST", {"v1", "peerings", "p", "reject"}) == "peering:reject");
  CHECK(Authorizer::permissionFor("PUT", {"v1", "policies", "web"}) == "policy:write");
  CHECK(Authorizer::permissionFor("DELETE", {"v1", "policies", "web"}) == "policy:delete");
  CHECK(Authorizer::permissionFor("POST", {"v1", "instances"}) == "instance:create");
  CHECK(Authorizer::permissionFor("POST", {"v1", "instances", "a", "stop"}) == "instance:stop");
  CHECK(Authorizer::permissionFor("POST", {"v1", "instances", "a", "nics"}) == "instance:attach");
  CHECK(Authorizer::permissionFor("DELETE", {"v1", "instances", "a", "nics", "eth1"}) ==
        "instance:detach");
  // A denied caller: the check names the permission (root is always allowed).
  Authorizer none("no-such-group-here", "", false);
  CHECK(none.check({.uid = 0, .gid = 0, .pid = 1}, "vpc:delete").empty());
  CHECK(none.check({.uid = 4242, .gid = 4242, .pid = 1}, "vpc:delete").find("may not vpc:delete") !=
        std::string::npos);
}

TEST_CASE("a malformed body or a number out of range is a 400 naming the field") {
  Daemon d;
  RootApi& api = d.api;
  auto fieldOf = [&](const std::string& path, const std::string& body) {
    auto r = api.handle({"POST", path, body});
    auto e = nlohmann::json::parse(r.body)["error"];
    return std::to_string(r.status) + " " + e.value("field", std::string("-"));
  };
  CHECK(fieldOf("/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16","mtu":1e309})") == "400 mtu");
  CHECK(fieldOf("/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16","mtu":-1e309})") == "400 mtu");
  CHECK(fieldOf("/v1/vpcs", R"({"name":"prod", "cidr": )") == "400 cidr");
  CHECK(fieldOf("/v1/vpcs", R"({"name":"prod", "tags": [1, 2, 3e999]})") == "400 tags[2]");
  CHECK(fieldOf("/v1/vpcs", R"({"a": {"b": [{"c": 1}, {"d": 1e400}]}})") == "400 a.b[1].d");
  CHECK(fieldOf("/v1/vpcs", "{nope") == "400 -");
  auto r = api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16","mtu":1e309})"});
  CHECK(r.body.find("\"mtu: a number out of range") != std::string::npos);  // the field once
  CHECK(nlohmann::json::parse(api.handle({"GET", "/v1/vpcs", ""}).body)["items"].empty());
}
