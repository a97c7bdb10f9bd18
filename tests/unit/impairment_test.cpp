// Impairments: the request's fields, what a target resolves to, one effect
// per link and direction, what they keep from being deleted, their clock,
// the qdiscs and link states of the kernel picture, the plan's actions
// (kind changes and corruption switched off take a new qdisc), the state
// file, the API over the fake kernel, a lab's section and reachability.
#include <catch2/catch.hpp>

#include "lib/model/desired_state.h"
#include "lib/model/error.h"
#include "lib/model/lab_document.h"
#include "lib/plan/desired.h"
#include "lib/plan/diff.h"
#include "lib/plan/impair.h"
#include "lib/plan/reach.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::errorOf;

namespace {

// prod (web, db), shared (tools), an active peering prod-shared and an
// instance api with a NIC in each prod subnet.
DesiredState world() {
  auto subnet = [](const char* vpc, const char* name, const char* cidr) {
    return change::CreateSubnet{vpc, parseSubnetRequest({{"name", name}, {"cidr", cidr}})};
  };
  DesiredState s =
      DesiredState({"eth0", Cidr::parse("169.254.64.0/18").value()})
          .with({change::CreateVpc{parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}})},
                 change::CreateVpc{parseVpcRequest({{"name", "shared"}, {"cidr", "10.20.0.0/16"}})},
                 subnet("prod", "web", "10.10.1.0/24"), subnet("prod", "db", "10.10.2.0/24"),
                 subnet("shared", "tools", "10.20.1.0/24")});
  Peering p = parsePeeringRequest({{"name", "ps"}, {"vpc", "prod"}, {"peer_vpc", "shared"}}, 10);
  s = s.with({change::RequestPeering{p}, change::AcceptPeering{"ps", 11, ""}});
  auto api = parseInstanceRequest(
      {{"name", "api"}, {"nics", {{{"subnet", "prod/web"}}, {{"subnet", "prod/db"}}}}});
  return s.with(change::CreateInstance{api, 100});
}

change::PutImpairment put(json body, int64_t now = 200) {
  return {parseImpairment(body, body.value("name", std::string()), now)};
}

const Namespace& ns(const KernelState& k, const std::string& name) {
  return k.at(name);
}

}  // namespace

TEST_CASE("impairment requests: defaults, and every bad field named") {
  Impairment i = parseImpairment({{"target", "prod/db"}, {"delay_ms", 50}}, "slow", 7);
  CHECK(i.name == "slow");
  CHECK(i.direction == "both");
  CHECK(i.enabled);
  CHECK(i.enabledAt == 7);
  CHECK(i.endsAt() == 0);
  for (const auto& [request, field] : std::vector<std::pair<json, std::string>>{
           {{{"target", "a/b"}, {"loss_percent", 150}}, "loss_percent"},
           {{{"target", "a/b"}, {"loss_percent", "5"}}, "loss_percent"},
           {{{"target", "a/b"}, {"jitter_ms", 5}}, "jitter_ms"},
           {{{"target", "a/b"}, {"reorder_percent", 5}}, "reorder_percent"},
           {{{"target", "a/b"}, {"rate_kbit", 4}}, "rate_kbit"},
           {{{"target", "a/b"}, {"rate_kbit", 1.5}}, "rate_kbit"},
           {{{"target", "a/b"}, {"delay_ms", 5}, {"direction", "up"}}, "direction"},
           {{{"target", "a/b"}, {"delay_ms", 5}, {"duration_s", -1}}, "duration_s"},
           {{{"target", "a/b"}, {"delay_ms", 5}, {"down", 1}}, "down"},
           {{{"target", "a/b"}, {"delay_ms", 5}, {"latency", 1}}, "latency"},
           {{{"target", "a/b"}}, "delay_ms"},
           {{{"delay_ms", 5}}, "target"},
           {{{"name", "other"}, {"target", "a/b"}, {"delay_ms", 5}}, "name"}}) {
    const json& body = request;  // a lambda takes no structured binding in clang 14
    CAPTURE(body);
    DomainError e = errorOf([&] { parseImpairment(body, "x", 1); });
    CHECK(e.kind() == ErrorKind::Invalid);
    CHECK(e.field() == field);
  }
  // A link down needs nothing else; a rate alone is enough.
  CHECK(parseImpairment({{"target", "a/b"}, {"down", true}}, "x", 1).down);
  CHECK(parseImpairment({{"target", "a/b"}, {"rate_kbit", 8}}, "x", 1).rateKbit == 8);
}

TEST_CASE("a target resolves to a subnet, a NIC or a peering; anything else is named") {
  DesiredState s = world();
  DesiredState next = s.with({put({{"name", "a"}, {"target", "prod/db"}, {"delay_ms", 5}}),
                              put({{"name", "b"}, {"target", "api/eth1"}, {"loss_percent", 1}}),
                              put({{"name", "c"}, {"target", "peering/ps"}, {"down", true}})});
  CHECK(next.impairment("a").kind == Impairment::Kind::Subnet);
  CHECK(next.impairment("b").kind == Impairment::Kind::Nic);
  CHECK(next.impairment("b").vpc == "prod");
  CHECK(next.impairment("b").subnet == "db");
  CHECK(next.impairment("c").kind == Impairment::Kind::Peering);
  CHECK(next.impairment("c").peerVpc == "shared");
  for (const auto& [named, kind] :
       std::vector<std::pair<std::string, ErrorKind>>{{"prod/nope", ErrorKind::NotFound},
                                                      {"api/eth7", ErrorKind::NotFound},
                                                      {"peering/none", ErrorKind::NotFound},
                                                      {"prod", ErrorKind::Invalid},
                                                      {"prod/web/x", ErrorKind::Invalid}}) {
    const std::string& target = named;
    CAPTURE(target);
    DomainError e = errorOf([&] {
      s.with(put({{"name", "z"}, {"target", target}, {"delay_ms", 1}}));
    });
    CHECK(e.kind() == kind);
    CHECK(e.field() == "target");
  }
}

TEST_CASE("one enabled impairment per link and direction; targets stay while impaired") {
  DesiredState s = world().with(
      put({{"name", "a"}, {"target", "prod/db"}, {"delay_ms", 5}, {"direction", "in"}}));
  DomainError e = errorOf([&] {
    s.with(put({{"name", "b"}, {"target", "prod/db"}, {"loss_percent", 5}}));
  });
  CHECK(e.kind() == ErrorKind::Conflict);
  CHECK(std::string(e.what()).find("impairment a") != std::string::npos);
  // The other direction, or a disabled profile, may sit beside it.
  CHECK_NOTHROW(s.with(
      put({{"name", "b"}, {"target", "prod/db"}, {"loss_percent", 5}, {"direction", "out"}})));
  CHECK_NOTHROW(
      s.with(put({{"name", "b"}, {"target", "prod/db"}, {"loss_percent", 5}, {"enabled", false}})));
  CHECK(errorOf([&] {
          s.with(change::DeleteSubnet{{"prod", "db"}, ""});
        }).kind() == ErrorKind::Conflict);
  DesiredState nic = world().with(put({{"name", "n"}, {"target", "api/eth1"}, {"down", true}}));
  CHECK(errorOf([&] {
          nic.with(change::RemoveNic{"api", "eth1", ""});
        }).kind() == ErrorKind::Conflict);
  CHECK(errorOf([&] {
          nic.with(change::DeleteInstance{"api", ""});
        }).kind() == ErrorKind::Conflict);
  DesiredState cut = world().with(put({{"name", "c"}, {"target", "peering/ps"}, {"down", true}}));
  CHECK(errorOf([&] { cut.with(change::DeletePeering{"ps", ""}); }).kind() == ErrorKind::Conflict);
}

TEST_CASE("a timed impairment's clock: kept by the same values, ended by time") {
  json body{{"name", "t"}, {"target", "prod/web"}, {"loss_percent", 5}, {"duration_s", 30}};
  DesiredState s = world().with(put(body, 1000));
  CHECK(s.impairment("t").endsAt() == 1030);
  // The same again later (a lab re-applied) does not extend it.
  DesiredState again = s.with(put(body, 1020));
  CHECK(again.impairment("t").endsAt() == 1030);
  CHECK(again.impairments().at("t") == s.impairments().at("t"));
  // A change starts it anew.
  body["loss_percent"] = 6;
  CHECK(s.with(put(body, 1020)).impairment("t").endsAt() == 1050);
  CHECK(s.with(change::ExpireImpairments{1029}).impairment("t").enabled);
  Impairment ended = s.with(change::ExpireImpairments{1030}).impairment("t");
  CHECK_FALSE(ended.enabled);
  CHECK(ended.lossPercent == 5);
}

TEST_CASE("the kernel picture: netem on the ends a direction names, links down, nothing disabled") {
  DesiredState s = world().with(
      {put({{"name", "a"}, {"target", "prod/db"}, {"delay_ms", 50}}),
       put({{"name", "b"}, {"target", "api/eth1"}, {"loss_percent", 20}, {"direction", "out"}}),
       put({{"name", "c"}, {"target", "peering/ps"}, {"rate_kbit", 2000}, {"direction", "in"}}),
       put({{"name", "d"}, {"target", "prod/web"}, {"down", true}})});
  KernelState k = desiredState(s);
  Netem delay = ns(k, "vpc-prod.db").qdiscs.at("eth0");
  CHECK(delay.delayUs == 50000);
  CHECK(delay.needsNetem());
  CHECK(ns(k, "vpc-prod").qdiscs.at("s-db") == delay);
  CHECK(ns(k, "vm-api").qdiscs.at("eth1").loss == 858993459);  // 20 % of 2^32 - 1
  CHECK_FALSE(ns(k, "vpc-prod").qdiscs.count(instancePortName("api", "eth1")));
  // "in" on a peering: what leaves the peer's router toward the requester.
  CHECK(ns(k, "vpc-shared").qdiscs.at("p-prod").rateBytes == 250000);
  CHECK_FALSE(ns(k, "vpc-shared").qdiscs.at("p-prod").needsNetem());
  CHECK_FALSE(ns(k, "vpc-prod").qdiscs.count("p-shared"));
  CHECK_FALSE(ns(k, "vpc-prod").links.at("s-web").up);
  CHECK(ns(k, "vpc-prod").links.at("s-db").up);

  // A peering down: the peer's end, and its routes through it (the kernel
  // flushes them), leave the picture.
  DesiredState cut = world().with(put({{"name", "c"}, {"target", "peering/ps"}, {"down", true}}));
  KernelState kc = desiredState(cut);
  CHECK_FALSE(ns(kc, "vpc-shared").links.at("p-prod").up);
  for (const auto& r : ns(kc, "vpc-shared").routes) CHECK(r.dev != "p-prod");
  CHECK(ns(kc, "vpc-prod").links.at("p-shared").up);

  // Disabled: the picture is the one without it.
  DesiredState off =
      s.with(put({{"name", "a"}, {"target", "prod/db"}, {"delay_ms", 50}, {"enabled", false}}));
  CHECK(desiredState(off).at("vpc-prod.db") == desiredState(world()).at("vpc-prod.db"));
}

TEST_CASE("the plan: set, change in place, replace where the kernel must, delete") {
  auto with = [](std::optional<Netem> q) {
    Namespace n;
    n.name = "vpc-x";
    n.links["lo"] = markedLoopback("vpc-x");
    n.links["eth0"] = Link{.name = "eth0", .kind = LinkKind::Bridge, .alias = "vpcd:x"};
    if (q) n.qdiscs["eth0"] = *q;
    return KernelState{{"vpc-x", n}};
  };
  auto ops = [](const Plan& p) {
    std::vector<std::string> out;
    for (const auto& a : p.actions) out.push_back(a.describe());
    return out;
  };
  Netem delay{.delayUs = 50000}, more{.delayUs = 80000}, rate{.rateBytes = 1000};
  Netem corrupt{.delayUs = 50000, .corrupt = 1000};
  CHECK(ops(diff(with(delay), with(std::nullopt))) ==
        std::vector<std::string>{"~ qdisc netem delay 50ms on eth0 in vpc-x"});
  CHECK(ops(diff(with(more), with(delay))) ==
        std::vector<std::string>{"~ qdisc netem delay 80ms on eth0 in vpc-x"});
  // A microsecond off is the kernel's rounding, not drift.
  CHECK(diff(with(delay), with(Netem{.delayUs = 49999})).actions.empty());
  CHECK(ops(diff(with(rate), with(delay))) ==
        std::vector<std::string>{"- qdisc netem on eth0 in vpc-x",
                                 "~ qdisc netem rate 8kbit on eth0 in vpc-x"});
  CHECK(ops(diff(with(delay), with(corrupt))).size() == 2);
  CHECK(ops(diff(with(std::nullopt), with(delay))) ==
        std::vector<std::string>{"- qdisc netem on eth0 in vpc-x"});
  // Applied to the fake kernel, a plan converges.
  FakeKernel kernel;
  KernelState want =
      desiredState(world().with(put({{"name", "a"}, {"target", "prod/db"}, {"delay_ms", 50}})));
  auto observe = [&] {
    KernelState seen;
    for (const auto& [name, n] : want) seen[name] = kernel.observe(name, &n);
    return seen;
  };
  for (const auto& a : diff(want, observe()).actions) kernel.apply(a);
  KernelState seen = observe();
  CHECK(seen.at("vpc-prod.db").qdiscs.at("eth0").delayUs == 50000);
  CHECK(ops(diff(want, seen)) == std::vector<std::string>{});
}

TEST_CASE("an impairment's state file reads back as it was") {
  DesiredState s = world().with(put({{"name", "c"},
                                     {"target", "peering/ps"},
                                     {"delay_ms", 2.5},
                                     {"jitter_ms", 1},
                                     {"duration_s", 60}}));
  const Impairment& i = s.impairment("c");
  CHECK(fromImpairmentState(toState(i)) == i);
  json shown = toJson(i);
  CHECK(shown["vpcs"] == json{"prod", "shared"});
  CHECK(shown["delay_ms"] == 2.5);
  CHECK(shown["ends_at"].is_string());
}

TEST_CASE("reachability names an impairment that holds a link down") {
  DesiredState s = world().with(put({{"name", "c"}, {"target", "peering/ps"}, {"down", true}}));
  ReachAnswer a =
      modelReach(s, parseReachQuery({{"from", "prod/web"}, {"to", "shared/tools"}, {"port", 80}}));
  CHECK_FALSE(a.reachable);
  CHECK(a.blockedBy["kind"] == "link_down");
  CHECK(a.blockedBy["impairment"] == "c");
  DesiredState nic = world().with(put({{"name", "n"}, {"target", "api/eth1"}, {"down", true}}));
  ReachAnswer b =
      modelReach(nic, parseReachQuery({{"from", "prod/web"}, {"to", "api/eth1"}, {"port", 80}}));
  CHECK(b.blockedBy["impairment"] == "n");
  CHECK(modelReach(nic, parseReachQuery({{"from", "prod/web"}, {"to", "prod/db"}, {"port", 80}}))
            .reachable);
  // Through a port forward to the NIC held down, too.
  DesiredState fwd = nic.with(change::CreatePortForward{
      parsePortForward({{"name", "f"}, {"listen_port", 8080}, {"target", "api/eth1"}}, 300)});
  ReachAnswer c = modelReach(fwd, parseReachQuery({{"from", "203.0.113.7"}, {"to", "forward/f"}}));
  CHECK(c.blockedBy["kind"] == "link_down");
}

TEST_CASE("impairments through the API and in a lab's section") {
  test::Daemon<> d;
  auto call = [&](const std::string& m, const std::string& t, const json& b = {}) {
    return d.api.handle({m, t, b.is_null() ? "" : b.dump()});
  };
  json lab = json::parse(R"({
    "vpcs": [{"name": "prod", "cidr": "10.10.0.0/16",
              "subnets": [{"name": "db", "cidr": "10.10.2.0/24"}]}],
    "impairments": [{"name": "slow", "target": "prod/db", "delay_ms": 40}]})");
  auto applied = call("PUT", "/v1/labs/shop", lab);
  REQUIRE(applied.status == 201);
  CHECK(applied.body.find("\"kind\":\"impairment\"") != std::string::npos);
  json got = json::parse(call("GET", "/v1/impairments/slow").body);
  CHECK(got["lab"] == "shop");
  CHECK(got["in_effect"] == true);
  CHECK(json::parse(call("GET", "/v1/vpcs/prod/subnets/db").body)["impairments"][0]["effect"] ==
        "delay 40ms");
  // The lab's graph draws it beside its subnet.
  std::string dot = call("GET", "/v1/labs/shop/graph?format=dot").body;
  CHECK(dot.find("\"impairment:slow\" -> \"subnet:prod/db\"") != std::string::npos);
  CHECK(dot.find("delay 40ms") != std::string::npos);
  // Owned by the lab: the plain API leaves it alone.
  CHECK(call("DELETE", "/v1/impairments/slow").status == 409);
  // Unchanged, the lab is a no-op; exported, it has the section.
  CHECK(json::parse(call("PUT", "/v1/labs/shop", lab).body)["changes"].empty());
  json exported = json::parse(call("GET", "/v1/labs/shop/export").body);
  CHECK(exported["impairments"][0]["delay_ms"] == 40);
  // A target outside the lab is named by its path.
  lab["impairments"][0]["target"] = "other/x";
  auto refused = call("PUT", "/v1/labs/shop", lab);
  CHECK(refused.status == 404);
  CHECK(refused.body.find("impairments[0].target") != std::string::npos);
  // Removed from the file, it goes first.
  lab.erase("impairments");
  json changes = json::parse(call("PUT", "/v1/labs/shop", lab).body)["changes"];
  REQUIRE(changes.size() == 1);
  CHECK(changes[0]["action"] == "delete");
  CHECK(call("GET", "/v1/impairments/slow").status == 404);

  // An instance shows the impairments on its NICs.
  REQUIRE(call("POST", "/v1/instances", {{"name", "vm"}, {"subnet", "prod/db"}}).status == 201);
  REQUIRE(call("PUT", "/v1/impairments/nic", {{"target", "vm/eth0"}, {"loss_percent", 3}}).status ==
          201);
  json vm = json::parse(call("GET", "/v1/instances/vm").body);
  CHECK(vm["impairments"][0]["name"] == "nic");
  CHECK(vm["impairments"][0]["effect"] == "loss 3%");
  CHECK(call("DELETE", "/v1/instances/vm").status == 409);
  REQUIRE(call("DELETE", "/v1/impairments/nic").status == 200);

  auto put = call("PUT", "/v1/impairments/cut", {{"target", "prod/db"}, {"down", true}});
  CHECK(put.status == 201);
  CHECK(call("PUT", "/v1/impairments/cut", {{"target", "prod/db"}, {"down", true}}).status == 200);
  CHECK(call("PUT", "/v1/impairments/x", {{"target", "prod/db"}, {"loss_percent", 500}}).status ==
        400);
  CHECK(call("DELETE", "/v1/impairments/cut").status == 200);
}

TEST_CASE("a timed impairment that ended while vpcd was down is off from the first pass") {
  test::TempDir dir;
  StateStore store{dir.path};
  DesiredState before = world();
  DesiredState timed = before.with(
      put({{"name", "t"}, {"target", "prod/web"}, {"rate_kbit", 64}, {"duration_s", 10}}, 1000));
  store.commit(DesiredState(before.host()), timed);
  FakeKernel kernel;
  Reconciler reconciler{kernel};
  Services service{test::testConfig(false), store, kernel, reconciler};
  service.load();
  CHECK_FALSE(service.engine.state().impairment("t").enabled);
  CHECK_FALSE(StateStore(dir.path).loadImpairments().at(0).enabled);  // and saved so
  service.start();
  CHECK(kernel.observe("vpc-prod", nullptr).qdiscs.empty());
}
