// A state file that cannot be read holds back what it describes: its kernel
// objects stay as they are, the rest is served, requests on it get a 409.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "lib/plan/held.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;
using vpcd::test::RootApi;
using json = nlohmann::json;

namespace {

// prod peered with shared, and an unrelated VPC dev; a policy and an
// instance in shared.
void buildLab(RootApi& api) {
  auto ok = [&](const std::string& m, const std::string& path, const std::string& body = "") {
    auto r = api.handle({m, path, body});
    INFO(m << " " << path << " -> " << r.status << " " << r.body);
    REQUIRE(r.status < 300);
  };
  ok("POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})");
  ok("POST", "/v1/vpcs/prod/subnets", R"({"name":"web","cidr":"10.10.1.0/24","type":"public"})");
  ok("POST", "/v1/vpcs", R"({"name":"shared","cidr":"10.20.0.0/16"})");
  ok("POST", "/v1/vpcs/shared/subnets", R"({"name":"db","cidr":"10.20.1.0/24"})");
  ok("POST", "/v1/vpcs", R"({"name":"dev","cidr":"10.30.0.0/16"})");
  ok("POST", "/v1/vpcs/dev/subnets", R"({"name":"app","cidr":"10.30.1.0/24"})");
  ok("POST", "/v1/peerings", R"({"name":"prod-shared","vpc":"prod","peer_vpc":"shared"})");
  ok("POST", "/v1/peerings/prod-shared/accept");
  ok("PUT", "/v1/policies/db-in", R"({"applies_to":["shared/db"],"ingress":[]})");
  ok("POST", "/v1/instances", R"({"name":"cache","subnet":"shared/db"})");
}

void corrupt(const std::filesystem::path& file, const std::string& text) {
  REQUIRE(std::filesystem::exists(file));
  std::ofstream(file, std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("a damaged VPC file holds that VPC and what is joined to it; the rest is served") {
  Daemon d;
  buildLab(d.api);
  KernelState before = d.kernel.state();
  corrupt(d.path / "vpcs" / "prod.json", "{\"schema_version\": 2, \"kind\": \"vpc\", \"vpc\": {");

  Services again(d.config, d.store, d.kernel, d.reconciler);
  auto report = again.start();
  CHECK(report.ok());
  RootApi api(again);

  // Nothing of prod, shared (peered to it), the peering, the policy and the
  // instance in shared was touched: their namespaces and host links remain.
  for (const auto& ns : {"vpc-prod", "vpc-prod.web", "vpc-shared", "vpc-shared.db", "vm-cache"}) {
    INFO(ns);
    REQUIRE(d.kernel.state().count(ns));
    CHECK(d.kernel.state().at(ns) == before.at(ns));
  }
  CHECK(d.kernel.state().at(kHostNamespace).links.count(transitLinkName("prod")));
  CHECK(d.kernel.state().at(kHostNamespace) == before.at(kHostNamespace));
  CHECK(api.handle({"GET", "/v1/plan", ""}).body.find("\"converged\":true") != std::string::npos);

  // Requests on held objects are 409s naming the file and the field.
  auto get = api.handle({"GET", "/v1/vpcs/prod", ""});
  CHECK(get.status == 409);
  CHECK(get.body.find("prod.json") != std::string::npos);
  CHECK(api.handle({"GET", "/v1/vpcs/shared", ""}).status == 409);
  CHECK(api.handle({"GET", "/v1/peerings/prod-shared", ""}).status == 409);
  CHECK(api.handle({"GET", "/v1/policies/db-in", ""}).status == 409);
  CHECK(api.handle({"GET", "/v1/instances/cache", ""}).status == 409);
  auto create = api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.99.0.0/16"})"});
  CHECK(create.status == 409);
  CHECK(json::parse(create.body)["error"]["field"] == "name");
  CHECK(api.handle({"POST", "/v1/vpcs/shared/subnets", R"({"name":"x","cidr":"10.20.9.0/24"})"})
            .status == 409);
  auto nic = api.handle({"POST", "/v1/instances", R"({"name":"n","subnet":"prod/web"})"});
  CHECK(nic.status == 409);
  CHECK(api.handle({"PUT", "/v1/policies/p", R"({"applies_to":["shared/db"],"ingress":[]})"})
            .status == 409);
  CHECK(api.handle({"DELETE", "/v1/vpcs/prod", ""}).status == 409);

  // dev is served as before, and a new VPC gets a transit /30 none of the
  // held ones use.
  CHECK(api.handle({"GET", "/v1/vpcs/dev", ""}).status == 200);
  CHECK(api.handle({"POST", "/v1/vpcs/dev/subnets", R"({"name":"b","cidr":"10.30.2.0/24"})"})
            .status == 201);
  CHECK(d.kernel.state().count("vpc-dev.b"));
  auto fresh = api.handle({"POST", "/v1/vpcs", R"({"name":"new","cidr":"10.40.0.0/16"})"});
  REQUIRE(fresh.status == 201);
  std::set<std::string> hostAddresses;
  for (const auto& a : d.kernel.state().at(kHostNamespace).addresses) {
    CHECK(hostAddresses.insert(a.cidr.network().str()).second);  // no /30 twice
  }
  CHECK(d.kernel.state().at(kHostNamespace).links.count(transitLinkName("prod")));

  // Status names the file and what is held.
  json status = json::parse(api.handle({"GET", "/v1/status", ""}).body);
  REQUIRE(status["damaged_state_files"].size() == 1);
  CHECK(status["damaged_state_files"][0]["file"].get<std::string>().ends_with("vpcs/prod.json"));
  std::set<std::string> held;
  for (const auto& h : status["held"])
    held.insert(h["kind"].get<std::string>() + " " + h["name"].get<std::string>());
  CHECK(held == std::set<std::string>{"vpc prod", "vpc shared", "peering prod-shared",
                                      "policy db-in", "instance cache"});
  CHECK(status["held_everything"] == "");
}

TEST_CASE("once the file is repaired, the next start serves the held VPC again") {
  Daemon d;
  buildLab(d.api);
  auto file = d.path / "vpcs" / "prod.json";
  std::string good = [&] {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  corrupt(file, "garbage");
  {
    Services held(d.config, d.store, d.kernel, d.reconciler);
    held.start();
    CHECK(RootApi(held).handle({"GET", "/v1/vpcs/prod", ""}).status == 409);
  }
  corrupt(file, good);
  Services again(d.config, d.store, d.kernel, d.reconciler);
  CHECK(again.start().ok());
  RootApi api(again);
  CHECK(api.handle({"GET", "/v1/vpcs/prod", ""}).status == 200);
  CHECK(api.handle({"GET", "/v1/peerings/prod-shared", ""}).status == 200);
  CHECK(api.handle({"DELETE", "/v1/instances/cache", ""}).status < 300);
  CHECK_FALSE(d.kernel.state().count("vm-cache"));
}

TEST_CASE("a damaged file that is not JSON and names no VPC holds everything") {
  Daemon d;
  buildLab(d.api);
  KernelState before = d.kernel.state();
  corrupt(d.path / "policies" / "db-in.json", "{\"policy\": ");
  Services again(d.config, d.store, d.kernel, d.reconciler);
  again.start();
  RootApi api(again);
  CHECK(d.kernel.state() == before);
  auto r = api.handle({"POST", "/v1/vpcs/dev/subnets", R"({"name":"b","cidr":"10.30.2.0/24"})"});
  CHECK(r.status == 409);
  CHECK(r.body.find("db-in.json") != std::string::npos);
  CHECK(d.kernel.state() == before);
  CHECK_FALSE(std::filesystem::exists(d.path / "subnets" / "dev" / "b.json"));
}

TEST_CASE("a damaged policy that is JSON holds the VPCs it names, not the others") {
  Daemon d;
  buildLab(d.api);
  // A field of the wrong type: JSON, but not a policy.
  corrupt(d.path / "policies" / "db-in.json",
          R"({"schema_version":2,"kind":"policy","policy":{"name":"db-in",)"
          R"("sections":[{"applies_to":["shared/db"],"ingress":"all"}]}})");
  Services again(d.config, d.store, d.kernel, d.reconciler);
  again.start();
  RootApi api(again);
  CHECK(api.handle({"GET", "/v1/policies/db-in", ""}).status == 409);
  CHECK(api.handle({"GET", "/v1/vpcs/shared", ""}).status == 409);
  CHECK(api.handle({"GET", "/v1/vpcs/prod", ""}).status == 409);  // peered with shared
  CHECK(api.handle({"GET", "/v1/vpcs/dev", ""}).status == 200);
}

TEST_CASE("a subnet file of the wrong VPC, or a name that is not the file's, is damage") {
  vpcd::test::TempDir dir;
  StateStore store(dir.path.string());
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  v.transitIndex = 0;
  v.subnets.push_back(parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}}));
  store.saveVpc(v);
  std::filesystem::copy_file(dir.path / "vpcs" / "prod.json", dir.path / "vpcs" / "other.json");
  std::ofstream(dir.path / "subnets" / "prod" / "db.json") << "[]";
  std::vector<StateDamage> damage;
  auto vpcs = store.loadVpcs(&damage);
  CHECK(vpcs.empty());  // prod has a bad subnet file; other.json holds prod
  REQUIRE(damage.size() == 2);
  CHECK(damage[0].kind == "vpc");
  CHECK(damage[0].name == "other");
  CHECK(damage[0].error.find("vpc.name") != std::string::npos);
  CHECK(damage[1].name == "prod");
  CHECK(damage[1].file.ends_with("subnets/prod/db.json"));
  CHECK_THROWS_AS(store.loadVpcs(), StateError);  // without a sink, the first one stops
}

TEST_CASE("a plan never touches held kernel objects") {
  Quarantine q;
  q.held[{"vpc", "prod"}] = "state file x: bad";
  q.held[{"instance", "cache"}] = "state file y: bad";
  auto act = [](Action::Op op, const std::string& ns) { return Action{.op = op, .ns = ns}; };
  CHECK(touchesHeld(act(Action::Op::DeleteNamespace, "vpc-prod"), q));
  CHECK(touchesHeld(act(Action::Op::DeleteNamespace, "vpc-prod.web"), q));
  CHECK(touchesHeld(act(Action::Op::DeleteNamespace, "vm-cache"), q));
  CHECK_FALSE(touchesHeld(act(Action::Op::DeleteNamespace, "vpc-dev"), q));
  CHECK_FALSE(touchesHeld(act(Action::Op::DeleteNamespace, "vpc-production"), q));
  Action link = act(Action::Op::DeleteLink, kHostNamespace);
  link.link.name = transitLinkName("prod");
  CHECK(touchesHeld(link, q));
  link.link.name = transitLinkName("dev");
  CHECK_FALSE(touchesHeld(link, q));
  Action addr = act(Action::Op::DeleteAddress, kHostNamespace);
  addr.address.link = transitLinkName("prod");
  CHECK(touchesHeld(addr, q));
  CHECK(touchesHeld(act(Action::Op::DeleteTable, kHostNamespace), q));
  Action veth = act(Action::Op::CreateLink, "vpc-dev");
  veth.link.peerNamespace = "vm-cache";
  CHECK(touchesHeld(veth, q));
  Quarantine all;
  all.all = "state file z: not JSON";
  CHECK(touchesHeld(act(Action::Op::AddRoute, "vpc-dev"), all));
}

TEST_CASE("a VPC made on a held VPC's unknown /30 keeps it; the repaired one moves") {
  Daemon d;
  auto ok = [](RootApi& api, const std::string& path, const std::string& body) {
    auto r = api.handle({"POST", path, body});
    INFO(path << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == 201);
  };
  ok(d.api, "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})");
  auto file = d.path / "vpcs" / "prod.json";
  std::string good = [&] {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  int prodIndex = d.service.engine.state().vpc("prod").transitIndex;
  // The file damaged, and both ends of its /30 gone from the kernel: the
  // /30 cannot be known, and a new VPC takes it.
  corrupt(file, "garbage");
  std::erase_if(d.kernel.state().at(kHostNamespace).addresses,
                [](const Address& a) { return a.link == transitLinkName("prod"); });
  std::erase_if(d.kernel.state().at("vpc-prod").addresses,
                [](const Address& a) { return a.link == kRouterUplink; });
  {
    Services held(d.config, d.store, d.kernel, d.reconciler);
    held.start();
    RootApi api(held);
    ok(api, "/v1/vpcs", R"({"name":"late","cidr":"10.20.0.0/16"})");
    REQUIRE(held.engine.state().vpc("late").transitIndex == prodIndex);
  }
  corrupt(file, good);
  Services again(d.config, d.store, d.kernel, d.reconciler);
  CHECK(again.start().ok());
  const DesiredState& s = again.engine.state();
  CHECK(s.vpc("late").transitIndex == prodIndex);  // its link holds the /30: traffic goes on
  CHECK(s.vpc("prod").transitIndex != prodIndex);
  // Saved: the next start finds the same numbers.
  auto reloaded = d.store.loadVpcs();
  for (const auto& v : reloaded) CHECK(v.transitIndex == s.vpc(v.name).transitIndex);
  CHECK(again.engine.plan()["converged"] == true);
}
