// GET /v1/metrics: the Prometheus text format, with values that move as the
// daemon works (the netns test metrics checks it with promtool and traffic).
#include "daemon/metrics.h"

#include <catch2/catch.hpp>
#include <regex>

#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;

namespace {

std::string scrape(test::RootApi& api) {
  auto r = api.handle({"GET", "/v1/metrics", ""});
  REQUIRE(r.status == 200);
  CHECK(r.contentType.rfind("text/plain; version=0.0.4", 0) == 0);
  return r.body;
}

// The value of one series ("name{labels}" exactly as exposed), or -1.
double value(const std::string& text, const std::string& series) {
  std::regex line("(^|\n)" +
                  std::regex_replace(series, std::regex(R"([{}\[\]().+*?^$|\\])"), R"(\$&)") +
                  " ([^\n]+)");
  std::smatch m;
  if (!std::regex_search(text, m, line)) return -1;
  return std::stod(m[2]);
}

void ok(test::RootApi& api, const std::string& method, const std::string& path,
        const std::string& body) {
  auto r = api.handle({method, path, body});
  INFO(method << " " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status < 300);
}

}  // namespace

TEST_CASE("a route label names collections and hides object names") {
  CHECK(routeOf("/v1/vpcs") == "/v1/vpcs");
  CHECK(routeOf("/v1/vpcs/prod") == "/v1/vpcs/{}");
  CHECK(routeOf("/v1/vpcs/prod/subnets/web?x=1") == "/v1/vpcs/{}/subnets/{}");
  CHECK(routeOf("/v1/instances/api/stop") == "/v1/instances/{}/stop");
  CHECK(routeOf("/compute/v1/projects/p/zones/z/instances") ==
        "/compute/v1/projects/{}/zones/{}/instances");
  CHECK(routeOf("/compute/health") == "/compute/health");
  CHECK(routeOf("/etc/passwd") == "other");
  CHECK(routeOf("/v1/a/b/c/d/e/f/g/h/i") == "other");
}

TEST_CASE("metrics count objects, requests, passes, repairs and policy rule packets") {
  Daemon d;
  ok(d.api, "POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})");
  ok(d.api, "POST", "/v1/vpcs/prod/subnets",
     R"({"name":"web","cidr":"10.10.1.0/24","type":"public"})");
  ok(d.api, "POST", "/v1/vpcs/prod/subnets", R"({"name":"db","cidr":"10.10.2.0/24"})");
  ok(d.api, "PUT", "/v1/policies/db-in",
     R"({"applies_to":["prod/db"],"ingress":[{"priority":100,"action":"allow","protocol":"tcp","ports":["5432"]}]})");
  ok(d.api, "POST", "/v1/instances", R"({"name":"api","subnet":"prod/web"})");
  CHECK(d.api.handle({"GET", "/v1/vpcs/nope", ""}).status == 404);

  std::string m = scrape(d.api);
  CHECK(value(m, "vpcd_vpcs") == 1);
  CHECK(value(m, R"(vpcd_subnets{type="public"})") == 1);
  CHECK(value(m, R"(vpcd_subnets{type="private"})") == 1);
  CHECK(value(m, R"(vpcd_instances{status="running"})") == 1);
  CHECK(value(m, R"(vpcd_peerings{state="active"})") == 0);
  CHECK(value(m, "vpcd_policies") == 1);
  CHECK(value(m,
              R"(vpcd_api_requests_total{code="201",method="POST",route="/v1/vpcs/{}/subnets"})") ==
        2);
  CHECK(value(m, R"(vpcd_api_requests_total{code="404",method="GET",route="/v1/vpcs/{}"})") == 1);
  CHECK(value(m, R"(vpcd_api_request_duration_seconds_count{method="POST",route="/v1/vpcs"})") ==
        1);
  CHECK(value(m, R"(vpcd_reconcile_passes_total{result="ok",trigger="start"})") == 1);
  CHECK(value(m, R"(vpcd_reconcile_passes_total{result="ok",trigger="request"})") == 5);
  CHECK(value(m, "vpcd_kernel_mutations_total") == double(d.kernel.mutatingCalls()));
  CHECK(value(m, "vpcd_uplink_up") == 1);
  CHECK(value(m, R"(vpcd_drift_repairs_total{kind="subnet"})") == 0);
  CHECK(value(m, R"(vpcd_policy_rule_packets_total{policy="db-in",rule="ingress[0]"})") == 0);

  // A route deleted by hand and repaired: one subnet repair. A packet
  // counted by the rule's entry in the router: the counter says so.
  REQUIRE(!d.kernel.state().at("vpc-prod.db").routes.empty());
  d.kernel.state().at("vpc-prod.db").routes.clear();
  CHECK(d.service.engine.repairDrift({"vpc-prod.db"}));
  for (auto& [key, table] : d.kernel.state().at("vpc-prod").tables) {
    for (auto& set : table.sets) {
      for (auto& el : set.elems) {
        if (el.comment == "db-in:ingress[0]") {
          el.packets = 3;
          el.bytes = 180;
        }
      }
    }
  }
  m = scrape(d.api);
  CHECK(value(m, R"(vpcd_drift_repairs_total{kind="subnet"})") == 1);
  CHECK(value(m, R"(vpcd_reconcile_passes_total{result="ok",trigger="drift"})") == 1);
  CHECK(value(m, R"(vpcd_policy_rule_packets_total{policy="db-in",rule="ingress[0]"})") == 3);
  CHECK(value(m, R"(vpcd_policy_rule_bytes_total{policy="db-in",rule="ingress[0]"})") == 180);
  CHECK(value(m, R"(vpcd_api_requests_total{code="200",method="GET",route="/v1/metrics"})") == 1);
}
