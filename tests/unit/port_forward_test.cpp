// Port forwards: the request's fields, where each form of target leads, the
// conflicts `with` refuses, what they keep from being deleted, the files, the
// nftables tables both stages are built into (and their codec), and the API.
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "lib/kernel/nft_codec.h"
#include "lib/model/desired_state.h"
#include "lib/model/error.h"
#include "lib/plan/desired.h"
#include "lib/plan/nft_rules.h"
#include "state/store.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::errorOf;

namespace {

DesiredState prod() {
  auto subnet = [](const char* name, const char* cidr, const char* type) {
    return change::CreateSubnet{
        "prod", parseSubnetRequest({{"name", name}, {"cidr", cidr}, {"type", type}})};
  };
  DesiredState s =
      DesiredState({"eth0", Cidr::parse("169.254.64.0/18").value()})
          .with({change::CreateVpc{parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}})},
                 subnet("web", "10.10.1.0/24", "public"), subnet("db", "10.10.2.0/24", "private")});
  auto api = parseInstanceRequest(
      {{"name", "api"},
       {"nics", {{{"subnet", "prod/web"}}, {{"subnet", "prod/db"}, {"ip", "10.10.2.10"}}}}});
  return s.with(change::CreateInstance{api, 100});
}

change::CreatePortForward forward(json body) {
  return {parsePortForward(body, 200)};
}

}  // namespace

TEST_CASE("port forward requests: defaults, and every bad field named") {
  auto f = parsePortForward({{"name", "web"}, {"listen_port", 8080}, {"target", "prod/web"}}, 5);
  CHECK(f.protocol == "tcp");
  CHECK(f.targetPort == 8080);
  CHECK_FALSE(f.listenAddress);
  CHECK(f.listenText() == "tcp/8080 on every host address");
  auto field = [](json body) { return errorOf([&] { parsePortForward(body, 0); }).field(); };
  json good{{"name", "web"}, {"listen_port", 80}, {"target", "prod/web"}};
  auto with = [&](const char* key, json value) {
    json b = good;
    b[key] = value;
    return b;
  };
  CHECK(field(with("name", "Bad_Name")) == "name");
  CHECK(field(with("protocol", "sctp")) == "protocol");
  CHECK(field(with("listen_port", 0)) == "listen_port");
  CHECK(field(with("listen_port", 65536)) == "listen_port");
  CHECK(field(with("listen_port", "80")) == "listen_port");
  CHECK(field(with("target_port", -1)) == "target_port");
  CHECK(field(with("listen_address", "127.0.0.1")) == "listen_address");
  CHECK(field(with("listen_address", "0.0.0.0")) == "listen_address");
  CHECK(field(with("listen_address", "224.0.0.1")) == "listen_address");
  CHECK(field(with("listen_address", "nope")) == "listen_address");
  CHECK(field(with("target", "")) == "target");
  CHECK(field(with("color", "red")) == "color");
  json noPort = good;
  noPort.erase("listen_port");
  CHECK(field(noPort) == "listen_port");
}

TEST_CASE("a forward's target resolves to a subnet host, an instance NIC or a VPC address") {
  DesiredState s = prod();
  auto made = [&](json body) {
    DesiredState next = s.with(forward(body));
    return next.portForward(body["name"]);
  };
  auto host = made({{"name", "a"}, {"listen_port", 1}, {"target", "prod/db"}});
  CHECK(host.targetIp.str() == "10.10.2.2");
  CHECK(host.subnet == "db");
  CHECK(host.instance.empty());
  auto primary = made({{"name", "b"}, {"listen_port", 2}, {"target", "api"}});
  CHECK(primary.targetIp.str() == "10.10.1.3");
  CHECK(primary.instance == "api");
  CHECK(primary.nic == "eth0");
  auto second = made({{"name", "c"}, {"listen_port", 3}, {"target", "api/eth1"}});
  CHECK(second.targetIp.str() == "10.10.2.10");
  CHECK(second.subnet == "db");
  auto address = made({{"name", "d"}, {"listen_port", 4}, {"target", "prod:10.10.2.77"}});
  CHECK(address.targetIp.str() == "10.10.2.77");
  CHECK(address.subnet == "db");

  auto refused = [&](json body) { return errorOf([&] { s.with(forward(body)); }); };
  auto e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "nope"}});
  CHECK((e.kind() == ErrorKind::NotFound && e.field() == "target"));
  e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "api/eth7"}});
  CHECK((e.kind() == ErrorKind::NotFound && e.field() == "target"));
  e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "other:10.1.1.1"}});
  CHECK((e.kind() == ErrorKind::NotFound && e.field() == "target"));
  e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "prod:10.99.0.5"}});
  CHECK((e.kind() == ErrorKind::Unprocessable && e.field() == "target"));
  e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "prod:10.10.1.1"}});
  CHECK((e.kind() == ErrorKind::Unprocessable && e.field() == "target"));  // the gateway
  e = refused({{"name", "x"}, {"listen_port", 5}, {"target", "prod:nope"}});
  CHECK((e.kind() == ErrorKind::Invalid && e.field() == "target"));
}

TEST_CASE("forwards that the host or the router could not tell apart are refused") {
  DesiredState s =
      prod().with(forward({{"name", "web"}, {"listen_port", 8080}, {"target", "prod/web"}}));
  auto conflict = [&](json body) {
    auto e = errorOf([&] { s.with(forward(body)); });
    CHECK(e.kind() == ErrorKind::Conflict);
    return std::string(e.what()) + " @" + e.field();
  };
  CHECK(conflict({{"name", "two"}, {"listen_port", 8080}, {"target", "prod/db"}}) ==
        "port forward web already takes tcp/8080 on every host address @listen_port");
  CHECK(conflict({{"name", "two"},
                  {"listen_port", 8080},
                  {"listen_address", "192.0.2.7"},
                  {"target", "prod/db"}})
            .starts_with("port forward web already takes"));
  CHECK(conflict({{"name", "web"}, {"listen_port", 8080}, {"target", "prod/db"}})
            .starts_with("port forward web exists"));
  // The same forward again is no change at all.
  DesiredState again =
      s.with(forward({{"name", "web"}, {"listen_port", 8080}, {"target", "prod/web"}}));
  CHECK(again.portForwards().at("web") == s.portForwards().at("web"));
  // Another protocol, or another port, is another forward.
  CHECK_NOTHROW(s.with(forward(
      {{"name", "u"}, {"protocol", "udp"}, {"listen_port", 8080}, {"target", "prod/web"}})));
  // Two addresses of the host on one port: the host tells them apart, the
  // router (which sees only the port) does not when both lead into prod.
  DesiredState one = prod().with(forward({{"name", "a"},
                                          {"listen_port", 80},
                                          {"listen_address", "192.0.2.7"},
                                          {"target", "prod/web"}}));
  auto e = errorOf([&] {
    one.with(forward({{"name", "b"},
                      {"listen_port", 80},
                      {"listen_address", "192.0.2.8"},
                      {"target", "prod/db"}}));
  });
  CHECK(std::string(e.what()).find("into vpc prod") != std::string::npos);
}

TEST_CASE("what a forward leads to is not deleted under it") {
  DesiredState s =
      prod().with({forward({{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}}),
                   forward({{"name", "api2"}, {"listen_port", 9000}, {"target", "api/eth1"}})});
  auto refusal = [&](const Change& c) {
    auto e = errorOf([&] { s.with(c); });
    CHECK(e.kind() == ErrorKind::Conflict);
    return std::string(e.what());
  };
  // (Subnet db also holds api's NIC, which is named first; without api, the forward.)
  DesiredState bare =
      prod()
          .with(change::DeleteInstance{"api", ""})
          .with(forward({{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}}));
  auto e = errorOf([&] { bare.with(change::DeleteSubnet{{"prod", "db"}, ""}); });
  CHECK(e.kind() == ErrorKind::Conflict);
  CHECK(std::string(e.what()).find("port forwards (db)") != std::string::npos);
  CHECK(refusal(change::DeleteInstance{"api", ""}).find("api2") != std::string::npos);
  CHECK(refusal(change::RemoveNic{"api", "eth1", ""}).find("api2") != std::string::npos);
  DesiredState gone = s.with(change::DeletePortForward{"api2", ""});
  CHECK_NOTHROW(gone.with(change::DeleteInstance{"api", ""}));
  CHECK(errorOf([&] {
          gone.with(change::DeletePortForward{"api2", ""});
        }).kind() == ErrorKind::NotFound);
}

TEST_CASE("a lab's forward is changed only by the lab, and counts as what it owns") {
  auto f = forward({{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}});
  f.forward.lab = "shop";
  DesiredState s = prod().with(f);
  CHECK(s.ownedBy("shop") == std::vector<std::string>{"port_forward db"});
  CHECK(errorOf([&] {
          s.with(change::DeletePortForward{"db", ""});
        }).kind() == ErrorKind::Conflict);
  CHECK_NOTHROW(s.with(change::DeletePortForward{"db", "shop"}));
}

TEST_CASE("forwards are kept in files of their own, and read back the same") {
  test::TempDir dir;
  StateStore store(dir.path.string());
  DesiredState before = prod();
  DesiredState after = before.with(forward({{"name", "db"},
                                            {"protocol", "udp"},
                                            {"listen_port", 53},
                                            {"listen_address", "192.0.2.7"},
                                            {"target", "api/eth1"},
                                            {"target_port", 5353}}));
  store.commit(before, after);
  auto loaded = store.loadPortForwards();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0] == after.portForward("db"));
  store.commit(after, before);
  CHECK(store.loadPortForwards().empty());
}

TEST_CASE("both stages of a forward in the tables: the host's maps and the router's dnat") {
  DesiredState s =
      prod().with({forward({{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}}),
                   forward({{"name", "one"},
                            {"listen_port", 80},
                            {"listen_address", "192.0.2.7"},
                            {"target", "prod/web"},
                            {"target_port", 8080}})});
  KernelState k = desiredState(s);
  const NftTable& host = k.at(kHostNamespace).tables.at("ip vpcd");
  auto set = [](const NftTable& t, const std::string& name) {
    auto it =
        std::find_if(t.sets.begin(), t.sets.end(), [&](const NftSet& x) { return x.name == name; });
    REQUIRE(it != t.sets.end());
    return *it;
  };
  NftSet any = set(host, "forwards_any");
  NftSet at = set(host, "forwards_at");
  REQUIRE(any.elems.size() == 1);
  REQUIRE(at.elems.size() == 1);
  CHECK(any.elems[0].key == std::string("\x06\0\0\0\x15\x38\0\0", 8));  // tcp . 5432
  // The router's transit address (169.254.64.2 for the first /30) . the same port.
  CHECK(any.elems[0].data == std::string("\xa9\xfe\x40\x02\x15\x38\0\0", 8));
  CHECK(at.elems[0].key.substr(0, 4) == std::string("\xc0\x00\x02\x07", 4));
  const NftTable& router = k.at(routerNamespace("prod")).tables.at("inet vpcd");
  NftSet map = set(router, "forwards");
  REQUIRE(map.elems.size() == 2);
  std::set<std::string> data;
  for (const auto& e : map.elems) data.insert(e.data);
  CHECK(data.count(std::string("\x0a\x0a\x02\x02\x15\x38\0\0", 8)));  // 10.10.2.2 . 5432
  CHECK(data.count(std::string("\x0a\x0a\x01\x02\x1f\x90\0\0", 8)));  // 10.10.1.2 . 8080
  // The router passes forwarded connections from its uplink before it drops
  // the rest of what arrives there.
  auto ct = std::find_if(router.rules.begin(), router.rules.end(), [](const NftRule& r) {
    return r.chain == "forward" &&
           std::any_of(r.exprs.begin(), r.exprs.end(),
                       [](const NftExpr& x) { return x.name == "ct" && x.key == NFT_CT_STATUS; });
  });
  REQUIRE(ct != router.rules.end());
  // Without forwards, none of it.
  KernelState plain = desiredState(prod());
  const NftTable& bare = plain.at(kHostNamespace).tables.at("ip vpcd");
  CHECK(bare.sets.empty());
  CHECK(bare.chains.size() == 2);
}

TEST_CASE("the nat and fib expressions survive the codec") {
  KernelState k = desiredState(
      prod().with(forward({{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}})));
  for (const auto& [ns, key] : {std::pair{std::string(kHostNamespace), "ip vpcd"},
                                std::pair{routerNamespace("prod"), "inet vpcd"}}) {
    const NftTable& t = k.at(ns).tables.at(key);
    REQUIRE_FALSE(t.sets.empty());
    for (const auto& r : t.rules) {
      auto encoded = encodeRule(t, r, [](const NftTable&, const std::string&) { return 1u; });
      NftRule back = decodeRule(encoded.get());
      INFO(ns << ": rule in chain " << r.chain);
      CHECK(back.exprs == r.exprs);
    }
    for (const auto& s : t.sets) {
      auto encoded = encodeSet(t, s, 1, 0, s.elems.size());
      CHECK(decodeElems(encoded.get()) == s.elems);
    }
  }
}

TEST_CASE("the API: create 201, the same again 200, list, get, delete; errors by field") {
  test::Daemon<> d;
  auto call = [&](const std::string& m, const std::string& path, json body = nullptr) {
    return d.api.handle({m, path, body.is_null() ? "" : body.dump()});
  };
  REQUIRE(call("POST", "/v1/vpcs", {{"name", "prod"}, {"cidr", "10.10.0.0/16"}}).status == 201);
  REQUIRE(call("POST", "/v1/vpcs/prod/subnets",
               {{"name", "db"}, {"cidr", "10.10.2.0/24"}, {"type", "private"}})
              .status == 201);
  json body{{"name", "db"}, {"listen_port", 5432}, {"target", "prod/db"}};
  auto r = call("POST", "/v1/port-forwards", body);
  REQUIRE(r.status == 201);
  json shown = json::parse(r.body);
  CHECK(shown["target_ip"] == "10.10.2.2");
  CHECK(shown["subnet"] == "prod/db");
  CHECK(shown["enforced"] == true);
  CHECK(call("POST", "/v1/port-forwards", body).status == 200);
  CHECK(json::parse(call("GET", "/v1/port-forwards").body)["items"].size() == 1);
  CHECK(call("GET", "/v1/port-forwards/db").status == 200);
  CHECK(call("GET", "/v1/port-forwards/nope").status == 404);
  r = call("POST", "/v1/port-forwards", {{"name", "x"}, {"listen_port", 1}, {"target", "prod/no"}});
  CHECK(r.status == 404);
  CHECK(json::parse(r.body)["error"]["field"] == "target");
  CHECK(call("PUT", "/v1/port-forwards/db").status == 405);
  CHECK(call("DELETE", "/v1/port-forwards/db").status == 200);
  CHECK(call("GET", "/v1/port-forwards/db").status == 404);
}
