// Flow logs: the request's fields, targets and what they keep from being
// deleted, the router's kernel picture (counted connections, drops copied to
// the flow log group), the records a window makes from connection counts
// and drops (deltas, NAT, scope, interfaces, lost events), dropped packets
// and ctnetlink messages parsed, the record file's rotation, the API over
// the fake kernel and a lab's section.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "daemon/flow_collector.h"
#include "lib/kernel/conntrack.h"
#include "lib/model/desired_state.h"
#include "lib/model/error.h"
#include "lib/model/flow_record.h"
#include "lib/plan/desired.h"
#include "lib/plan/policy_compile.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::errorOf;

namespace {

// prod (web 10.10.1.0/24, db 10.10.2.0/24) with an instance api in web.
DesiredState world() {
  auto subnet = [](const char* name, const char* cidr) {
    return change::CreateSubnet{"prod", parseSubnetRequest({{"name", name}, {"cidr", cidr}})};
  };
  DesiredState s =
      DesiredState({"eth0", Cidr::parse("169.254.64.0/18").value()})
          .with({change::CreateVpc{parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}})},
                 subnet("web", "10.10.1.0/24"), subnet("db", "10.10.2.0/24")});
  auto api = parseInstanceRequest(
      {{"name", "api"}, {"nics", {{{"subnet", "prod/web"}, {"ip", "10.10.1.10"}}}}});
  return s.with(change::CreateInstance{api, 100});
}

change::PutFlowLog put(json body) {
  return {parseFlowLog(body, body.value("name", std::string()), 200)};
}

uint32_t ip(const char* text) {
  return Ipv4::parse(text).value().value;
}

ConnectionCount conn(uint32_t id, const char* src, uint16_t sport, const char* dst, uint16_t dport,
                     uint64_t op, uint64_t ob, uint64_t rp, uint64_t rb) {
  ConnectionCount c{.id = id, .proto = 17};
  c.origSrc = ip(src);
  c.origDst = ip(dst);
  c.replySrc = ip(dst);
  c.replyDst = ip(src);
  c.origSport = c.replyDport = sport;
  c.origDport = c.replySport = dport;
  c.origPackets = op;
  c.origBytes = ob;
  c.replyPackets = rp;
  c.replyBytes = rb;
  return c;
}

}  // namespace

TEST_CASE("flow log requests: defaults, and every bad field named") {
  FlowLog f = parseFlowLog({{"target", "prod/web"}}, "w", 5);
  CHECK(f.vpc == "prod");
  CHECK(f.subnet == "web");
  CHECK(f.enabled);
  CHECK(f.aggregationS == 60);
  CHECK(parseFlowLog({{"target", "prod"}}, "p", 5).subnet.empty());
  for (const auto& c : std::vector<std::pair<json, std::string>>{
           {json::object(), "target"},
           {{{"target", "Prod"}}, "target"},
           {{{"target", "prod/web/x"}}, "target"},
           {{{"target", "prod"}, {"aggregation_s", 0}}, "aggregation_s"},
           {{{"target", "prod"}, {"aggregation_s", 601}}, "aggregation_s"},
           {{{"target", "prod"}, {"enabled", "yes"}}, "enabled"},
           {{{"target", "prod"}, {"format", "v5"}}, "format"},
           {{{"target", "prod"}, {"name", "other"}}, "name"}}) {
    // clang 14 lambdas cannot capture a structured binding: a plain reference.
    const json& body = c.first;
    INFO(body.dump());
    CHECK(errorOf([&] { parseFlowLog(body, "p", 0); }).field() == c.second);
  }
  // The state file reads back as it was.
  f.lab = "shop";
  CHECK(fromFlowLogState(toState(f)) == f);
}

TEST_CASE("a flow log's target must exist, and keeps it from being deleted") {
  DesiredState s = world();
  CHECK(errorOf([&] {
          s.with(put({{"name", "x"}, {"target", "nope"}}));
        }).kind() == ErrorKind::NotFound);
  CHECK(errorOf([&] {
          s.with(put({{"name", "x"}, {"target", "prod/nope"}}));
        }).field() == "target");
  s = s.with(put({{"name", "w"}, {"target", "prod/db"}}));
  auto e = errorOf([&] { s.with(change::DeleteSubnet{{"prod", "db"}}); });
  CHECK(e.kind() == ErrorKind::Conflict);
  CHECK(std::string(e.what()).find("flow logs (w)") != std::string::npos);
  CHECK(errorOf([&] { s.with(change::DeleteVpc{"prod"}); }).kind() == ErrorKind::Conflict);
  CHECK(s.with(change::DeleteFlowLog{"w", ""}).flowLogs().empty());
}

TEST_CASE("the router of a VPC with a flow log counts connections and copies its drops") {
  DesiredState s = world().with(change::PutPolicy{parsePolicy(
      "db-in", json::parse(R"({"applies_to": ["prod/db"], "default_ingress": "deny", "ingress": [
        {"priority": 10, "action": "deny", "protocol": "tcp", "ports": ["5432"]},
        {"priority": 20, "action": "deny", "protocol": "tcp", "ports": ["22"], "log": true},
        {"priority": 30, "action": "allow", "protocol": "tcp", "ports": ["80"]}]})"),
      0)});
  auto router = [](const DesiredState& st) { return desiredState(st).at("vpc-prod"); };
  auto dump = [](const Namespace& ns) {
    std::string out;
    for (const auto& [key, t] : ns.tables) {
      for (const auto& r : t.rules) {
        out += r.chain + ":";
        for (const auto& x : r.exprs)
          out += " " + x.name + (x.name == "log" ? std::to_string(x.key) : "");
        out += "\n";
      }
    }
    return out;
  };
  Namespace off = router(s);
  CHECK(!off.sysctls.count(kConntrackAcct));
  CHECK(dump(off).find("log8") == std::string::npos);

  Namespace on = router(s.with(put({{"name", "all"}, {"target", "prod"}})));
  CHECK(on.sysctls.at(kConntrackAcct) == "1");
  std::string rules = dump(on);
  INFO(rules);
  CHECK(rules.find("flow_drop: log8 immediate") != std::string::npos);  // deny rules go there
  CHECK(rules.find("log7 log8 immediate") != std::string::npos);     // a logging deny: both groups
  CHECK(rules.find("counter log8 immediate") != std::string::npos);  // the default deny
  // Its default rule still reads as the chain's counted default, for the
  // policy's stats and reach's counters.
  std::optional<DefaultVerdict> closing;
  for (const auto& [key, table] : on.tables) {
    for (const auto& r : table.rules) {
      if (r.chain == filterChain(Direction::Ingress, "db")) closing = defaultVerdictOf(r);
    }
  }
  REQUIRE(closing);
  CHECK(closing->drop);
  // A disabled flow log is no flow log.
  Namespace disabled =
      router(s.with(put({{"name", "all"}, {"target", "prod"}, {"enabled", false}})));
  CHECK(disabled == off);
}

TEST_CASE("a window's records: what each connection carried since it was last seen") {
  DesiredState s = world().with(put({{"name", "all"}, {"target", "prod"}, {"aggregation_s", 5}}));
  FlowPlaces places = FlowPlaces::of(s, "prod").value();
  CHECK(places.aggregationS == 5);
  FlowWindow w;
  w.observe(conn(1, "10.10.1.10", 40000, "10.10.2.2", 9000, 7, 896, 0, 0));
  auto first = w.close(100, 105, places);
  REQUIRE(first.size() == 1);
  CHECK(first[0] == "2 prod api/eth0 10.10.1.10 10.10.2.2 40000 9000 17 7 896 100 105 ACCEPT OK");
  // The next dump: only what came since; then it ends with its final counts.
  w.observe(conn(1, "10.10.1.10", 40000, "10.10.2.2", 9000, 9, 1152, 1, 60));
  ConnectionCount end = conn(1, "10.10.1.10", 40000, "10.10.2.2", 9000, 10, 1280, 1, 60);
  end.destroyed = true;
  w.observe(end);
  auto second = w.close(105, 110, places);
  REQUIRE(second.size() == 2);
  CHECK(second[0] == "2 prod api/eth0 10.10.1.10 10.10.2.2 40000 9000 17 3 384 105 110 ACCEPT OK");
  // The answer's sender is db's host: the subnet names the interface.
  CHECK(second[1] == "2 prod prod/db 10.10.2.2 10.10.1.10 9000 40000 17 1 60 105 110 ACCEPT OK");
  CHECK(w.close(110, 115, places).empty());  // nothing new: no record
  // An id reused by another connection starts from nothing.
  w.observe(conn(1, "10.10.1.10", 40001, "10.10.2.2", 9000, 2, 200, 0, 0));
  CHECK(w.close(115, 120, places)[0].find(" 2 200 ") != std::string::npos);
}

TEST_CASE("records take the inside view of NAT, leave out the router, and keep to their scope") {
  DesiredState s = world().with(put({{"name", "db"}, {"target", "prod/db"}, {"aggregation_s", 5}}));
  FlowPlaces places = FlowPlaces::of(s, "prod").value();
  FlowWindow w;
  // web -> the internet, masqueraded: outside db's scope.
  ConnectionCount out = conn(1, "10.10.1.10", 40000, "198.51.100.1", 80, 3, 180, 2, 120);
  out.replyDst = ip("169.254.64.2");
  w.observe(out);
  // The internet -> db's host through a port forward (DNAT): in scope, with
  // db's address, not the router's.
  ConnectionCount in = conn(2, "198.51.100.1", 5555, "169.254.64.2", 8080, 4, 240, 4, 400);
  in.replySrc = ip("10.10.2.2");
  in.replySport = 80;
  w.observe(in);
  // DNS to the router's resolver: the router's own traffic, never logged.
  w.observe(conn(3, "10.10.2.2", 5353, "10.10.2.1", 53, 1, 60, 1, 90));
  w.rejected({17, ip("10.10.1.10"), ip("10.10.2.2"), 40002, 9999}, 78);
  w.rejected({17, ip("10.10.1.10"), ip("10.10.2.2"), 40002, 9999}, 78);
  w.lost();
  auto lines = w.close(0, 5, places);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "2 prod prod/db 10.10.1.10 10.10.2.2 40002 9999 17 2 156 0 5 REJECT OK");
  CHECK(lines[1] == "2 prod prod/db 10.10.2.2 198.51.100.1 80 5555 17 4 400 0 5 ACCEPT OK");
  CHECK(lines[2] == "2 prod prod/db 198.51.100.1 10.10.2.2 5555 80 17 4 240 0 5 ACCEPT OK");
  CHECK(lines[3] == "2 prod - - - - - - - - 0 5 - SKIPDATA");
  // No enabled flow log, no places.
  CHECK(!FlowPlaces::of(world(), "prod"));
}

TEST_CASE("a dropped packet's flow and length from its first bytes") {
  uint8_t udp[28] = {0x45, 0, 0,  78, 0, 0, 0,    0,    64,   17,   0, 0,  10, 10,
                     1,    2, 10, 10, 2, 2, 0x9c, 0x42, 0x27, 0x0f, 0, 58, 0,  0};
  auto d = droppedPacket(udp, sizeof udp);
  REQUIRE(d);
  CHECK(d->bytes == 78);
  CHECK(d->key.proto == 17);
  CHECK(dotted(d->key.src) == "10.10.1.2");
  CHECK(dotted(d->key.dst) == "10.10.2.2");
  CHECK(d->key.sport == 40002);
  CHECK(d->key.dport == 9999);
  udp[6] = 0x00;
  udp[7] = 0x10;  // a later fragment: no ports in it
  CHECK(droppedPacket(udp, sizeof udp)->key.dport == 0);
  CHECK(!droppedPacket(udp, 19));
  udp[0] = 0x60;
  CHECK(!droppedPacket(udp, sizeof udp));
}

TEST_CASE("a ctnetlink message is read back into a connection with its counters") {
  alignas(nlmsghdr) char buf[1024] = {};
  auto* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_INET;
  auto tuple = [&](uint16_t type, const char* src, const char* dst, uint16_t sp, uint16_t dp) {
    auto* t = mnl_attr_nest_start(nlh, type);
    auto* ipNest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(ip(src)));
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(ip(dst)));
    mnl_attr_nest_end(nlh, ipNest);
    auto* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, 6);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sp));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dp));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, t);
  };
  tuple(CTA_TUPLE_ORIG, "10.10.1.2", "198.51.100.1", 40000, 80);
  tuple(CTA_TUPLE_REPLY, "198.51.100.1", "169.254.64.2", 80, 40000);
  auto counters = [&](uint16_t type, uint64_t packets, uint64_t bytes) {
    auto* c = mnl_attr_nest_start(nlh, type);
    mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(packets));
    mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(bytes));
    mnl_attr_nest_end(nlh, c);
  };
  counters(CTA_COUNTERS_ORIG, 6, 398);
  counters(CTA_COUNTERS_REPLY, 4, 1200);
  mnl_attr_put_u32(nlh, CTA_ID, htonl(77));
  auto got = conntrackEntries(buf, nlh->nlmsg_len);
  REQUIRE(got.size() == 1);
  const ConnectionCount& c = got[0];
  CHECK(c.id == 77);
  CHECK(c.proto == 6);
  CHECK(c.destroyed);
  CHECK(dotted(c.origSrc) == "10.10.1.2");
  CHECK(dotted(c.replyDst) == "169.254.64.2");
  CHECK(c.origSport == 40000);
  CHECK(c.replySport == 80);
  CHECK(c.origPackets == 6);
  CHECK(c.origBytes == 398);
  CHECK(c.replyPackets == 4);
  CHECK(c.replyBytes == 1200);
  // Cut short, it is skipped; the end of a dump is said.
  CHECK(conntrackEntries(buf, nlh->nlmsg_len - 8).empty());
  nlmsghdr done{.nlmsg_len = sizeof(nlmsghdr), .nlmsg_type = NLMSG_DONE};
  bool finished = false;
  CHECK(conntrackEntries(reinterpret_cast<char*>(&done), sizeof done, &finished).empty());
  CHECK(finished);
}

TEST_CASE("the record file rotates by size, each file headed by the field names") {
  test::TempDir dir;
  std::string path = (dir.path / "prod.log").string();
  RecordFile file(path, 200);
  std::string rec(60, 'r');
  REQUIRE(file.append({rec, rec}));
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(read(path) == std::string(RecordFile::kHeader) + "\n" + rec + "\n" + rec + "\n");
  REQUIRE(file.append({rec}));  // past 200 bytes: the old file moves aside
  CHECK(read(path + ".1").find(rec + "\n" + rec) != std::string::npos);
  CHECK(read(path) == std::string(RecordFile::kHeader) + "\n" + rec + "\n");

  RecordFeed feed;
  uint64_t cursor = 0;
  feed.add({"a", "b"});
  CHECK(feed.read(cursor) == "a\nb\n");
  CHECK(feed.read(cursor).empty());
  for (size_t i = 0; i < RecordFeed::kKeep + 5; ++i) feed.add({"x"});
  uint64_t slow = 1;  // behind what is kept: from the oldest kept on
  CHECK(feed.read(slow).size() == RecordFeed::kKeep * 2);
}

TEST_CASE("flow logs through the API and in a lab's section") {
  test::Daemon<> d;
  auto call = [&](const std::string& m, const std::string& t, const json& b = {}) {
    return d.api.handle({m, t, b.is_null() ? "" : b.dump()});
  };
  json lab = json::parse(R"({
    "vpcs": [{"name": "prod", "cidr": "10.10.0.0/16",
              "subnets": [{"name": "db", "cidr": "10.10.2.0/24"}]}],
    "flow_logs": [{"name": "prod-all", "target": "prod", "aggregation_s": 10}]})");
  auto applied = call("PUT", "/v1/labs/shop", lab);
  REQUIRE(applied.status == 201);
  CHECK(applied.body.find("\"kind\":\"flow_log\"") != std::string::npos);
  json got = json::parse(call("GET", "/v1/flow-logs/prod-all").body);
  CHECK(got["lab"] == "shop");
  CHECK(got["aggregation_s"] == 10);
  CHECK(got["records"] == "/v1/vpcs/prod/flow-logs");
  CHECK(call("DELETE", "/v1/flow-logs/prod-all").status == 409);  // the lab's
  CHECK(json::parse(call("PUT", "/v1/labs/shop", lab).body)["changes"].empty());
  CHECK(json::parse(call("GET", "/v1/labs/shop/export").body)["flow_logs"][0]["target"] == "prod");
  lab["flow_logs"][0]["target"] = "other";
  auto refused = call("PUT", "/v1/labs/shop", lab);
  CHECK(refused.status == 404);
  CHECK(refused.body.find("flow_logs[0].target") != std::string::npos);
  lab["flow_logs"][0]["target"] = "prod";

  // The records come from the VPC's file: the newest, without the header.
  std::filesystem::create_directories(d.path / "flow-records");
  std::ofstream(d.path / "flow-records" / "prod.log")
      << RecordFile::kHeader << "\nfirst\nsecond\nthird\n";
  json records = json::parse(call("GET", "/v1/vpcs/prod/flow-logs?tail=2").body);
  CHECK(records["records"] == json({"second", "third"}));
  CHECK(records["enabled"] == true);
  CHECK(records["fields"][0] == "version");
  CHECK(call("GET", "/v1/vpcs/prod/flow-logs?tail=0").status == 400);
  CHECK(call("GET", "/v1/vpcs/nope/flow-logs").status == 404);
  CHECK(call("GET", "/v1/vpcs/prod/flow-logs?follow=1").status == 409);  // no kernel to follow

  // Off through the lab, then out of it: the lab deletes it before its VPC.
  lab["flow_logs"][0]["enabled"] = false;
  REQUIRE(call("PUT", "/v1/labs/shop", lab).status == 200);
  CHECK(json::parse(call("GET", "/v1/flow-logs/prod-all").body)["enabled"] == false);
  lab.erase("flow_logs");
  REQUIRE(call("PUT", "/v1/labs/shop", lab).status == 200);
  CHECK(call("GET", "/v1/flow-logs/prod-all").status == 404);
  REQUIRE(call("PUT", "/v1/flow-logs/x", {{"target", "prod/db"}}).status == 201);
  CHECK(call("GET", "/v1/flow-logs").body.find("\"x\"") != std::string::npos);
  CHECK(call("DELETE", "/v1/flow-logs/x").status == 200);
}
