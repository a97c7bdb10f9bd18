// The event stream: what a commit, a drift repair and an uplink move add,
// filters, replay and a reader that falls behind the kept history.
#include "daemon/events.h"

#include <catch2/catch.hpp>

#include "lib/kernel/event_source.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;
using json = nlohmann::json;

namespace {

// "type action name" of each event the stream sends for `query`, replayed.
std::vector<std::string> replay(test::RootApi& api, const std::string& query) {
  auto r = api.handle({"GET", "/v1/events?follow=0&since=0" + query, ""});
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.follow);
  CHECK(r.follow->contentType == "application/x-ndjson");
  CHECK_FALSE(r.follow->active());
  std::vector<std::string> out;
  for (;;) {
    auto text = r.follow->read();
    REQUIRE(text);
    if (text->empty()) break;
    for (size_t at = 0, nl; (nl = text->find('\n', at)) != std::string::npos; at = nl + 1) {
      json e = json::parse(text->substr(at, nl - at));
      out.push_back(e["type"].get<std::string>() + " " + e["action"].get<std::string>() + " " +
                    e["name"].get<std::string>());
    }
  }
  return out;
}

void ok(test::RootApi& api, const std::string& method, const std::string& path,
        const std::string& body = "") {
  auto r = api.handle({method, path, body});
  INFO(method << " " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status < 300);
}

}  // namespace

TEST_CASE("a commit adds one event per object created, changed and deleted, in order") {
  Daemon d;
  ok(d.api, "POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})");
  ok(d.api, "POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24"})");
  ok(d.api, "PUT", "/v1/policies/web-in", R"({"applies_to":["prod/web"],"ingress":[]})");
  ok(d.api, "POST", "/v1/instances", R"({"name":"api","subnet":"prod/web"})");
  ok(d.api, "POST", "/v1/instances/api/stop");
  ok(d.api, "DELETE", "/v1/instances/api");
  ok(d.api, "DELETE", "/v1/policies/web-in");
  CHECK(replay(d.api, "") == std::vector<std::string>{"vpc create prod", "subnet create prod/web",
                                                      "policy create web-in", "instance create api",
                                                      "instance status api", "instance delete api",
                                                      "policy delete web-in"});
  CHECK(replay(d.api, "&type=policy,vpc") == std::vector<std::string>{"vpc create prod",
                                                                      "policy create web-in",
                                                                      "policy delete web-in"});

  auto bad = d.api.handle({"GET", "/v1/events?type=vpcs", ""});
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["field"] == "type");
  bad = d.api.handle({"GET", "/v1/events?since=yesterday", ""});
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["field"] == "since");
}

TEST_CASE("a drift repair and an uplink move are events; a stream from now sees only new ones") {
  Daemon d;
  ok(d.api, "POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})");
  ok(d.api, "POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24"})");
  auto live = d.api.handle({"GET", "/v1/events", ""});
  REQUIRE(live.follow);
  CHECK(live.follow->active());
  CHECK(live.follow->read() == std::string());

  d.kernel.state().at("vpc-prod.web").routes.clear();
  CHECK(d.service.engine.repairDrift({"vpc-prod.web"}));
  d.kernel.setDefaultRouteDevice("wlan0");
  CHECK(d.service.engine.repairDrift({kHostNamespace, EventSource::kUplinkKey}));
  std::string text = *live.follow->read();
  std::vector<json> events;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
    events.push_back(json::parse(text.substr(at, nl - at)));
  REQUIRE(events.size() == 2);
  CHECK(events[0]["type"] == "drift");
  CHECK(events[0]["name"] == "vpc-prod.web");
  CHECK_FALSE(events[0]["details"]["changes"].empty());
  CHECK(events[1]["type"] == "uplink");
  CHECK(events[1]["details"] == json{{"from", "eth0"}, {"to", "wlan0"}});
  CHECK(events[1]["seq"].get<uint64_t>() == events[0]["seq"].get<uint64_t>() + 1);
}

TEST_CASE("a reader the history moved past is told so, once, and the stream ends") {
  EventLog log(3);
  uint64_t cursor = log.next();
  log.add("vpc", "create", "a");
  std::string first = *log.read(cursor, {});
  CHECK(json::parse(first)["name"] == "a");
  for (const char* n : {"b", "c", "d", "e"}) log.add("vpc", "create", n);
  CHECK_FALSE(log.read(cursor, {}));  // b fell out of the history unread
  uint64_t fresh = log.firstSince(std::chrono::system_clock::time_point{});
  std::string kept = *log.read(fresh, {});
  CHECK(std::count(kept.begin(), kept.end(), '\n') == 3);
}
