// The uplink follows the host's default route unless pinned: the host's NAT
// and forwarding move with it, status and reach say where it is.
#include <catch2/catch.hpp>

#include "lib/kernel/event_source.h"
#include "lib/plan/desired.h"
#include "lib/plan/nft_rules.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;
using json = nlohmann::json;

namespace {

const std::set<std::string> kRouteMoved{kHostNamespace, EventSource::kUplinkKey};

void buildProd(test::RootApi& api) {
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"}).status ==
          201);
  REQUIRE(api.handle({"POST", "/v1/vpcs/prod/subnets",
                      R"({"name":"web","cidr":"10.10.1.0/24","type":"public"})"})
              .status == 201);
}

const Namespace& host(FakeKernel& k) {
  return k.state().at(kHostNamespace);
}

// The host's table is what the uplink asks for: the masquerade on it, or none.
void requireHostTableFor(FakeKernel& k, const DaemonConfig& config, const std::string& uplink) {
  NftTable want = hostTable(config.transitPool, uplink);
  REQUIRE(host(k).tables.count(want.key()));
  CHECK(host(k).tables.at(want.key()) == want);
}

json status(test::RootApi& api) {
  return json::parse(api.handle({"GET", "/v1/status", ""}).body);
}

json reachInternet(test::RootApi& api) {
  auto r = api.handle({"POST", "/v1/reachability",
                       R"({"from":"prod/web","to":"198.51.100.1","port":80,"probe":false})"});
  INFO(r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("the uplink follows the default route: NAT and forwarding move, status says so") {
  Daemon d;
  buildProd(d.api);
  requireHostTableFor(d.kernel, d.config, "eth0");

  d.kernel.setDefaultRouteDevice("wlan0");
  CHECK(d.service.engine.repairDrift(kRouteMoved));
  requireHostTableFor(d.kernel, d.config, "wlan0");
  CHECK(host(d.kernel).sysctls.at(forwardingSysctl("wlan0")) == "1");
  json s = status(d.api);
  CHECK(s["uplink"] == "wlan0");
  CHECK(s["uplink_state"] == "up");
  CHECK(s["uplink_moves"] == 1);
  CHECK(s["uplink_pinned"] == false);
  CHECK(d.service.engine.plan()["converged"] == true);

  // A host event that moved nothing changes nothing.
  uint64_t calls = d.kernel.mutatingCalls();
  CHECK(d.service.engine.repairDrift(kRouteMoved));
  CHECK(d.kernel.mutatingCalls() == calls);
  CHECK(status(d.api)["uplink_moves"] == 1);
}

TEST_CASE("with no default route nothing is masqueraded, reach says no_uplink, and it resumes") {
  Daemon d;
  buildProd(d.api);
  CHECK(reachInternet(d.api)["verdict"] == "reachable");

  d.kernel.setDefaultRouteDevice("");
  CHECK(d.service.engine.repairDrift(kRouteMoved));
  requireHostTableFor(d.kernel, d.config, "");
  json s = status(d.api);
  CHECK(s["uplink"] == "");
  CHECK(s["uplink_state"] == "no default route");
  json r = reachInternet(d.api);
  CHECK(r["verdict"] == "unreachable");
  CHECK(r["blocked_by"]["kind"] == "no_uplink");

  d.kernel.setDefaultRouteDevice("eth0");
  CHECK(d.service.engine.repairDrift(kRouteMoved));
  requireHostTableFor(d.kernel, d.config, "eth0");
  CHECK(reachInternet(d.api)["verdict"] == "reachable");
  CHECK(status(d.api)["uplink_moves"] == 2);
}

TEST_CASE("a pinned uplink stays where it was named") {
  Daemon d;
  buildProd(d.api);
  DaemonConfig pinned = d.config;
  pinned.uplinkPinned = true;
  Services again(pinned, d.store, d.kernel, d.reconciler);
  again.start();
  test::RootApi api(again);

  d.kernel.setDefaultRouteDevice("wlan0");
  CHECK(again.engine.repairDrift(kRouteMoved));
  requireHostTableFor(d.kernel, d.config, "eth0");
  CHECK(status(api)["uplink"] == "eth0");
  CHECK(status(api)["uplink_pinned"] == true);
}
