// The model's reachability answers (no probe) over the fake kernel: each
// kind of blocked_by, the path through a peering and through NAT, and the
// question's own errors.
#include <catch2/catch.hpp>

#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::Daemon;

namespace {

struct ReachDaemon : Daemon<> {
  ReachDaemon() {
    for (const char* req :
         {R"({"name":"prod","cidr":"10.10.0.0/16"})", R"({"name":"shared","cidr":"10.20.0.0/16"})",
          R"({"name":"third","cidr":"10.30.0.0/16"})", R"({"name":"lone","cidr":"10.40.0.0/16"})"})
      REQUIRE(post("/v1/vpcs", req).status == 201);
    for (auto [vpc, body] : std::vector<std::pair<std::string, std::string>>{
             {"prod", R"({"name":"web","cidr":"10.10.1.0/24","type":"public"})"},
             {"prod", R"({"name":"db","cidr":"10.10.2.0/24"})"},
             {"shared", R"({"name":"tools","cidr":"10.20.1.0/24"})"},
             {"third", R"({"name":"x","cidr":"10.30.1.0/24"})"},
             {"lone", R"({"name":"y","cidr":"10.40.1.0/24"})"}})
      REQUIRE(post("/v1/vpcs/" + vpc + "/subnets", body).status == 201);
    REQUIRE(post("/v1/peerings", R"({"name":"ps","vpc":"prod","peer_vpc":"shared",
                  "allowed_cidrs":{"prod":["10.10.1.0/24"]}})")
                .status == 201);
    REQUIRE(post("/v1/peerings/ps/accept", "").status == 200);
    REQUIRE(post("/v1/peerings", R"({"name":"st","vpc":"shared","peer_vpc":"third"})").status ==
            201);
    REQUIRE(post("/v1/peerings/st/accept", "").status == 200);
    REQUIRE(post("/v1/peerings", R"({"name":"pl","vpc":"prod","peer_vpc":"lone"})").status == 201);
    REQUIRE(api.handle({"PUT", "/v1/policies/db-in", R"({"applies_to":["prod/db"],
                  "default_ingress":"deny","ingress":[
                  {"priority":100,"action":"allow","protocol":"tcp","ports":["5432"],
                   "sources":["10.10.1.0/24"]},
                  {"priority":50,"action":"deny","protocol":"tcp","ports":["5432"],
                   "sources":["10.10.1.66/32"]}]})"})
                .status == 201);
    REQUIRE(post("/v1/instances", R"({"name":"api","nics":[{"subnet":"prod/web"},
                  {"subnet":"prod/db","ip":"10.10.2.10"}]})")
                .status == 201);
    REQUIRE(
        post("/v1/instances", R"({"name":"box","subnet":"prod/web","ip":"10.10.1.66"})").status ==
        201);
  }
  HttpResponse post(const std::string& target, const std::string& body) {
    return api.handle({"POST", target, body});
  }
  json ask(json q) {
    q["probe"] = false;
    auto r = post("/v1/reachability", q.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }
};

}  // namespace

TEST_CASE("reachability from the model: paths, NAT and what blocks") {
  ReachDaemon d;
  json r = d.ask({{"from", "prod/web"}, {"to", "api/eth1"}, {"port", 5432}});
  CHECK(r["verdict"] == "reachable");
  CHECK(r["blocked_by"].is_null());
  CHECK(r["probe"]["skipped"] == "not asked for (probe: false)");
  CHECK(r["agree"].is_null());

  // A policy rule by name, direction, rule and priority: the deny at 50
  // comes before the allow at 100.
  r = d.ask({{"from", "box"}, {"to", "api/eth1"}, {"port", 5432}});
  CHECK(r["verdict"] == "unreachable");
  CHECK(r["blocked_by"]["kind"] == "policy_rule");
  CHECK(r["blocked_by"]["policy"] == "db-in");
  CHECK(r["blocked_by"]["direction"] == "ingress");
  CHECK(r["blocked_by"]["rule"] == "ingress[1]");
  CHECK(r["blocked_by"]["priority"] == 50);

  r = d.ask({{"from", "prod/web"}, {"to", "prod/db"}, {"port", 22}});
  CHECK(r["blocked_by"]["kind"] == "policy_default");
  CHECK(r["blocked_by"]["subnet"] == "prod/db");

  // Inside one subnet nothing is filtered.
  r = d.ask({{"from", "api/eth1"}, {"to", "prod/db"}, {"port", 22}});
  CHECK(r["verdict"] == "reachable");
  CHECK(r["path"][1]["step"] == "bridged");

  r = d.ask({{"from", "prod/db"}, {"to", "198.51.100.1"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "private_egress");
  r = d.ask({{"from", "prod/web"}, {"to", "198.51.100.1"}, {"port", 80}});
  CHECK(r["verdict"] == "reachable");
  REQUIRE(r["nat"].size() == 2);
  CHECK(r["nat"][0]["before"] == "10.10.1.2");
  CHECK(r["nat"][0]["after"] == "169.254.64.2");
  CHECK(r["nat"][1]["where"] == "host");
  CHECK(r["to"]["kind"] == "internet");

  // Across the peering, by the route on its link.
  r = d.ask({{"from", "prod/web"}, {"to", "shared/tools"}, {"port", 80}});
  CHECK(r["verdict"] == "reachable");
  CHECK(r.dump().find("dev p-shared (peering ps)") != std::string::npos);
  r = d.ask({{"from", "prod/db"}, {"to", "shared/tools"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "peering_allow_list");
  CHECK(r["blocked_by"]["vpc"] == "prod");
  r = d.ask({{"from", "prod/web"}, {"to", "third/x"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "non_transitive");
  CHECK(r["blocked_by"]["via"] == "shared");
  r = d.ask({{"from", "prod/web"}, {"to", "lone/y"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "peering_not_active");
  CHECK(r["blocked_by"]["state"] == "pending-acceptance");
  r = d.ask({{"from", "third/x"}, {"to", "lone/y"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "no_peering");

  // An address: the source's VPC first, then peers; one nobody holds.
  r = d.ask({{"from", "prod/web"}, {"to", "10.10.2.10"}, {"port", 5432}});
  CHECK(r["to"]["kind"] == "instance");
  r = d.ask({{"from", "api"}, {"to", "10.10.1.200"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "no_host");

  r = d.ask(
      {{"from", "prod/web"}, {"to", "prod/db"}, {"port", 5432}, {"source_address", "10.10.1.77"}});
  CHECK(r["blocked_by"]["kind"] == "anti_spoofing");

  REQUIRE(d.post("/v1/instances/api/stop", "").status == 200);
  r = d.ask({{"from", "prod/web"}, {"to", "api"}, {"port", 80}});
  CHECK(r["blocked_by"]["kind"] == "stopped_instance");
  CHECK(r["blocked_by"]["instance"] == "api");
}

TEST_CASE("through a port forward: both DNATs, then the target's policies see the client") {
  ReachDaemon d;
  REQUIRE(d.post("/v1/port-forwards", R"({"name":"pg","listen_port":15432,"target":"api/eth1",
                 "target_port":5432})")
              .status == 201);
  REQUIRE(d.post("/v1/port-forwards", R"({"name":"web","listen_port":8080,"target":"prod/web"})")
              .status == 201);
  // db-in allows 5432 from prod/web only: a client on the internet is refused by its default.
  json r = d.ask({{"from", "203.0.113.7"}, {"to", "forward/pg"}});
  CHECK(r["verdict"] == "unreachable");
  CHECK(r["blocked_by"]["kind"] == "policy_default");
  CHECK(r["blocked_by"]["subnet"] == "prod/db");
  CHECK(r["port"] == 15432);
  CHECK(r["proto"] == "tcp");
  CHECK(r["to"]["address"] == "10.10.2.10");
  CHECK(r["to"]["kind"] == "instance");
  REQUIRE(r["nat"].size() == 2);
  CHECK(r["nat"][0]["after"] == "169.254.64.2:15432");
  CHECK(r["nat"][1]["after"] == "10.10.2.10:5432");

  r = d.ask({{"from", "203.0.113.7"}, {"to", "forward/web"}, {"port", 8080}});
  CHECK(r["verdict"] == "reachable");
  CHECK(r["path"].back()["step"] == "delivered");
  CHECK(r["source_address"] == "203.0.113.7");  // no source NAT on the way in
  // Asked with a probe: vpcd has nowhere to send from.
  auto probed = d.post("/v1/reachability", R"({"from":"203.0.113.7","to":"forward/web"})");
  REQUIRE(probed.status == 200);
  CHECK(json::parse(probed.body)["probe"]["skipped"].get<std::string>().find("outside the host") !=
        std::string::npos);

  REQUIRE(d.post("/v1/instances/api/stop", "").status == 200);
  r = d.ask({{"from", "203.0.113.7"}, {"to", "forward/pg"}});
  CHECK(r["blocked_by"]["kind"] == "stopped_instance");

  auto field = [&](const std::string& body) {
    auto e = d.post("/v1/reachability", body);
    INFO(e.body);
    CHECK(e.status / 100 == 4);
    return json::parse(e.body)["error"]["field"];
  };
  CHECK(field(R"({"from":"prod/web","to":"forward/web"})") == "from");
  CHECK(field(R"({"from":"10.10.1.9","to":"forward/web"})") == "from");
  CHECK(field(R"({"from":"203.0.113.7","to":"forward/web","port":80})") == "port");
  CHECK(field(R"({"from":"203.0.113.7","to":"forward/web","proto":"udp"})") == "proto");
  CHECK(field(R"({"from":"203.0.113.7","to":"forward/none"})") == "to");
}

TEST_CASE("a wrong question is a 4xx naming the field") {
  ReachDaemon d;
  auto status = [&](const std::string& body, const std::string& field) {
    auto r = d.post("/v1/reachability", body);
    INFO(r.body);
    CHECK(json::parse(r.body)["error"]["field"] == field);
    return r.status;
  };
  CHECK(status(R"({"from":"nowhere","to":"prod/web","port":80})", "from") == 404);
  CHECK(status(R"({"from":"prod/web","to":"prod/none","port":80})", "to") == 404);
  CHECK(status(R"({"from":"prod/web","to":"api/eth7","port":80})", "to") == 404);
  CHECK(status(R"({"from":"prod/web","to":"api"})", "port") == 400);
  CHECK(status(R"({"from":"prod/web","to":"api","proto":"sctp","port":1})", "proto") == 400);
  CHECK(status(R"({"from":"prod/web","to":"api","port":1,"colour":1})", "colour") == 400);
}
