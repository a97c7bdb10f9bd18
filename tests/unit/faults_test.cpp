// The kernel refusing midway (through the fault decorator): the API says
// what failed, no object claims to be in force that the kernel does not
// enforce, the previous rules stay in force, and repeating the request
// retries the kernel.
#include <linux/netfilter.h>

#include <catch2/catch.hpp>

#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::Daemon;
using vpcd::test::RefusingKernel;

namespace {

json body(const HttpResponse& r) {
  return json::parse(r.body);
}

std::string policy(const std::string& port) {
  return R"({"applies_to":["prod/web"],"default_ingress":"deny","ingress":[{"priority":100,)"
         R"("action":"allow","protocol":"tcp","ports":[")" +
         port + R"("],"sources":["10.0.0.0/8"]}]})";
}

}  // namespace

TEST_CASE("a refused kernel change: not shown as enforced, old rules kept, retried on repeat") {
  Daemon<RefusingKernel> d;
  auto& api = d.api;
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"}).status ==
          201);
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"dev","cidr":"10.20.0.0/16"})"}).status ==
          201);
  REQUIRE(api.handle({"POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24"})"})
              .status == 201);
  auto first = api.handle({"PUT", "/v1/policies/web-in", policy("80")});
  REQUIRE(first.status == 201);
  CHECK(body(first)["enforced"] == true);
  CHECK(body(first)["enforcement"].contains("since"));
  std::optional<NftTable> before = d.kernel.fake.readTable("vpc-prod", NFPROTO_INET);
  REQUIRE(before);

  for (int err : {ENOMEM, EBUSY, EPERM}) {
    d.kernel.inject({.ns = "vpc-prod", .error = err, .times = -1});
    uint64_t refused = d.kernel.refused();
    auto put = api.handle({"PUT", "/v1/policies/web-in", policy("8080")});
    CHECK(put.status == 500);
    CHECK(body(put)["error"]["details"]["errno"] == err);
    CHECK(d.kernel.refused() > refused);  // the kernel was asked again each time

    // The state keeps the request, and says the kernel does not hold it.
    json shown = body(api.handle({"GET", "/v1/policies/web-in", ""}));
    CHECK(shown["ingress"][0]["ports"][0] == "8080");
    CHECK(shown["enforced"] == false);
    CHECK(shown["enforcement"]["error"].get<std::string>().find(std::strerror(err)) !=
          std::string::npos);
    CHECK(body(api.handle({"GET", "/v1/vpcs/prod/subnets/web", ""}))["enforced"] == false);
    CHECK(body(api.handle({"GET", "/v1/vpcs/prod", ""}))["enforced"] == false);
    CHECK(body(api.handle({"GET", "/v1/policies", ""}))["items"][0]["enforced"] == false);
    CHECK(body(api.handle({"GET", "/v1/vpcs/dev", ""}))["enforced"] == true);
    // Fail closed: what the kernel enforces is the previous policy, whole.
    CHECK(d.kernel.fake.readTable("vpc-prod", NFPROTO_INET) == before);
    d.kernel.clear();
  }

  // The identical request once the kernel takes it again: applied.
  auto again = api.handle({"PUT", "/v1/policies/web-in", policy("8080")});
  CHECK(again.status == 200);
  CHECK(body(again)["enforced"] == true);
  CHECK(d.kernel.fake.readTable("vpc-prod", NFPROTO_INET) != before);
  CHECK(body(api.handle({"GET", "/v1/vpcs/prod/subnets/web", ""}))["enforced"] == true);
  CHECK(body(api.handle({"GET", "/v1/plan", ""}))["converged"] == true);
}

TEST_CASE("a refused subnet create: the subnet is kept, shown unenforced, and built on retry") {
  Daemon<RefusingKernel> d;
  auto& api = d.api;
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"}).status ==
          201);
  d.kernel.inject({.ns = "vpc-prod.web", .op = Action::Op::CreateNamespace, .error = ENOMEM});
  const std::string subnet = R"({"name":"web","cidr":"10.10.1.0/24"})";
  auto refused = api.handle({"POST", "/v1/vpcs/prod/subnets", subnet});
  CHECK(refused.status == 500);
  CHECK(body(refused)["error"]["details"]["errno_name"] == "ENOMEM");
  json shown = body(api.handle({"GET", "/v1/vpcs/prod/subnets/web", ""}));
  CHECK(shown["enforced"] == false);
  CHECK(body(api.handle({"GET", "/v1/plan", ""}))["converged"] == false);
  // The fault was for one call: the same request now builds it.
  auto retried = api.handle({"POST", "/v1/vpcs/prod/subnets", subnet});
  CHECK(retried.status == 200);
  CHECK(body(retried)["enforced"] == true);
  CHECK(d.kernel.fake.linkExists("vpc-prod", "s-web"));
  CHECK(body(api.handle({"GET", "/v1/plan", ""}))["converged"] == true);
}
