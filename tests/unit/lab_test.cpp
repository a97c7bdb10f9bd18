// Labs through the API over the fake kernel: apply from empty, re-apply
// without a kernel call, an edit that adds, changes and removes, refusals
// that name the document path and change nothing, ownership both ways,
// destroy, export that re-applies as a no-op, adoption.
#include <catch2/catch.hpp>
#include <fstream>
#include <tuple>

#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::Daemon;

namespace {

json shop() {
  return json::parse(R"({
    "name": "shop",
    "vpcs": [
      {"name": "prod", "cidr": "10.10.0.0/16", "subnets": [
        {"name": "web", "cidr": "10.10.1.0/24", "type": "public"},
        {"name": "db", "cidr": "10.10.2.0/24"}]},
      {"name": "shared", "cidr": "10.20.0.0/16", "subnets": [
        {"name": "tools", "cidr": "10.20.1.0/24"}]}],
    "peerings": [{"name": "prod-shared", "vpc": "prod", "peer_vpc": "shared",
                  "allowed_cidrs": {"prod": ["10.10.1.0/24"]}}],
    "policies": [{"name": "db-in", "applies_to": ["prod/db"], "default_ingress": "deny",
                  "ingress": [{"priority": 100, "action": "allow", "protocol": "tcp",
                               "ports": ["5432"], "sources": ["10.10.1.0/24"]}]}],
    "instances": [{"name": "api", "nics": [{"subnet": "prod/web"},
                                           {"subnet": "prod/db", "ip": "10.10.2.10"}],
                   "labels": {"role": "api"}}],
    "expect": [{"from": "prod/web", "to": "prod/db", "port": 5432, "reach": true}]
  })");
}

struct LabDaemon : Daemon<> {
  HttpResponse call(const std::string& method, const std::string& target, const json& b = {}) {
    return api.handle({method, target, b.is_null() ? "" : b.dump()});
  }
  json get(const std::string& target) { return json::parse(call("GET", target).body); }
  uint64_t mutations() { return get("/v1/status")["kernel_mutations"]; }
  std::string files() {  // every state file and its content
    std::string out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
      if (!e.is_regular_file() || e.path().filename() == "vpcd.lock") continue;
      std::ifstream in(e.path());
      out += e.path().string() + "\n" + std::string(std::istreambuf_iterator<char>(in), {});
    }
    return out;
  }
};

json body(const HttpResponse& r) {
  return json::parse(r.body);
}

std::vector<std::string> actions(const json& reply) {
  std::vector<std::string> out;
  for (const auto& c : reply["changes"])
    out.push_back(c["action"].get<std::string>() + " " + c["kind"].get<std::string>() + " " +
                  c["name"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("a lab applies from empty in one change, and again as a no-op") {
  LabDaemon d;
  auto plan = d.call("PUT", "/v1/labs/shop?dry_run=true", shop());
  REQUIRE(plan.status == 200);
  CHECK(body(plan)["kernel"].size() > 20);
  CHECK(d.mutations() == 0);
  CHECK(d.get("/v1/vpcs")["items"].empty());

  auto applied = d.call("PUT", "/v1/labs/shop", shop());
  REQUIRE(applied.status == 201);
  CHECK(actions(body(applied)) ==
        std::vector<std::string>{"create vpc prod", "create subnet prod/web",
                                 "create subnet prod/db", "create vpc shared",
                                 "create subnet shared/tools", "create peering prod-shared",
                                 "create policy db-in", "create instance api"});
  CHECK(body(applied)["enforced"] == true);
  // Plain names, and each object says which lab owns it.
  CHECK(d.get("/v1/vpcs/prod")["lab"] == "shop");
  CHECK(d.get("/v1/vpcs/prod/subnets/db")["lab"] == "shop");
  json peering = d.get("/v1/peerings/prod-shared");
  CHECK(peering["state"] == "active");
  CHECK(peering["lab"] == "shop");
  CHECK(d.get("/v1/policies/db-in")["lab"] == "shop");
  CHECK(d.get("/v1/instances/api")["lab"] == "shop");
  CHECK(d.get("/v1/plan")["converged"] == true);
  json lab = d.get("/v1/labs/shop");
  CHECK(lab["objects"]["subnets"] == json{"prod/web", "prod/db", "shared/tools"});
  CHECK(lab["document"]["expect"][0]["port"] == 5432);

  uint64_t before = d.mutations();
  std::string files = d.files();
  auto again = d.call("PUT", "/v1/labs/shop", shop());
  REQUIRE(again.status == 200);
  CHECK(body(again)["changes"].empty());
  CHECK(d.mutations() == before);
  CHECK(d.files() == files);
}

TEST_CASE("an edit adds, changes and removes; what it does not name stays as it is") {
  LabDaemon d;
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  json v1 = d.get("/v1/instances/api");

  json next = shop();
  next["vpcs"][0]["subnets"].push_back({{"name", "cache"}, {"cidr", "10.10.3.0/24"}});
  next["vpcs"][1]["subnets"][0]["type"] = "public";  // replaced: a type cannot change in place
  next["policies"][0]["ingress"][0]["ports"] = {"5432", "6432"};
  next["instances"][0]["labels"]["tier"] = "front";
  next.erase("peerings");
  next["instances"].push_back({{"name", "cache"}, {"nics", {{{"subnet", "prod/cache"}}}}});
  auto r = d.call("PUT", "/v1/labs/shop", next);
  REQUIRE(r.status == 200);
  CHECK(actions(body(r)) ==
        std::vector<std::string>{"delete peering prod-shared", "create subnet prod/cache",
                                 "replace subnet shared/tools", "change policy db-in",
                                 "change instance api", "create instance cache"});
  CHECK(d.call("GET", "/v1/peerings/prod-shared").status == 404);
  CHECK(d.get("/v1/vpcs/shared/subnets/tools")["type"] == "public");
  CHECK(d.get("/v1/policies/db-in")["ingress"][0]["ports"] == json{"5432", "6432"});
  json api = d.get("/v1/instances/api");
  CHECK(api["labels"]["tier"] == "front");
  CHECK(api["nics"] == v1["nics"]);  // changed in place: same addresses
  CHECK(api["created_at"] == v1["created_at"]);
  CHECK(d.get("/v1/plan")["converged"] == true);

  // A VPC's CIDR cannot change in place: it and what is in it are replaced.
  next["vpcs"][1]["cidr"] = "10.30.0.0/16";
  next["vpcs"][1]["subnets"][0]["cidr"] = "10.30.1.0/24";
  r = d.call("PUT", "/v1/labs/shop", next);
  REQUIRE(r.status == 200);
  CHECK(actions(body(r)) ==
        std::vector<std::string>{"replace vpc shared", "create subnet shared/tools"});
  CHECK(d.get("/v1/vpcs/shared")["cidr"] == "10.30.0.0/16");
}

TEST_CASE("a refused document names its path and changes nothing") {
  LabDaemon d;
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  std::string files = d.files();
  uint64_t before = d.mutations();
  auto refuse = [&](json doc, int status, const std::string& field) {
    auto r = d.call("PUT", "/v1/labs/shop", doc);
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(body(r)["error"]["field"] == field);
    CHECK(d.files() == files);
    CHECK(d.mutations() == before);
  };
  json doc = shop();
  doc["vpcs"][1]["subnets"][0]["cidr"] = "10.99.1.0/24";
  refuse(doc, 422, "vpcs[1].subnets[0].cidr");
  doc = shop();
  doc["vpcs"][0]["subnets"][1]["cidr"] = "10.10.1.128/25";
  refuse(doc, 409, "vpcs[0].subnets[1].cidr");
  doc = shop();
  doc["instances"][0]["nics"][1]["subnet"] = "prod/nowhere";
  refuse(doc, 404, "instances[0].nics[1].subnet");
  doc = shop();
  doc["policies"][0]["applies_to"] = {"shared/nowhere"};
  refuse(doc, 404, "policies[0].applies_to[0]");
  doc = shop();
  doc["peerings"][0]["peer_vpc"] = "elsewhere";
  refuse(doc, 404, "peerings[0].peer_vpc");
  doc = shop();
  doc["vpcs"].push_back(doc["vpcs"][0]);
  refuse(doc, 400, "vpcs[2].name");
  doc = shop();
  doc["colour"] = "blue";
  refuse(doc, 400, "colour");
  doc = shop();
  doc["expect"][0].erase("reach");
  refuse(doc, 400, "expect[0].reach");
  doc = shop();
  doc["instances"][0]["nics"][1]["ip"] = "10.10.2.1";
  refuse(doc, 409, "instances[0].nics[1].ip");
  doc = shop();
  doc["name"] = "other";
  refuse(doc, 400, "name");
  // Late in the batch, after everything before it would have applied.
  doc = shop();
  doc["vpcs"].push_back({{"name", "late"}, {"cidr", "10.40.0.0/16"}});
  doc["instances"].push_back(
      {{"name", "twin"}, {"nics", {{{"subnet", "prod/db"}, {"ip", "10.10.2.10"}}}}});
  refuse(doc, 409, "instances[1].nics[0].ip");
}

TEST_CASE("a lab changes only what it owns, and the plain API leaves a lab's objects alone") {
  LabDaemon d;
  REQUIRE(d.call("POST", "/v1/vpcs", {{"name", "hand"}, {"cidr", "10.50.0.0/16"}}).status == 201);
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);

  json other = shop();
  other["name"] = "other";
  auto r = d.call("PUT", "/v1/labs/other", other);
  CHECK(r.status == 409);
  CHECK(body(r)["error"]["field"] == "vpcs[0]");
  CHECK(body(r)["error"]["message"].get<std::string>().find("belongs to lab shop") !=
        std::string::npos);

  json takes = {{"name", "takes"}, {"vpcs", {{{"name", "hand"}, {"cidr", "10.50.0.0/16"}}}}};
  r = d.call("PUT", "/v1/labs/takes", takes);
  CHECK(r.status == 409);
  CHECK(body(r)["error"]["message"].get<std::string>().find("made outside any lab") !=
        std::string::npos);
  CHECK(d.call("GET", "/v1/labs/takes").status == 404);

  // The plain API cannot change or delete what a lab owns.
  CHECK(d.call("DELETE", "/v1/vpcs/prod/subnets/db").status == 409);
  CHECK(d.call("POST", "/v1/vpcs/prod/subnets", {{"name", "x"}, {"cidr", "10.10.9.0/24"}}).status ==
        409);
  CHECK(d.call("DELETE", "/v1/policies/db-in").status == 409);
  CHECK(d.call("PUT", "/v1/policies/db-in", {{"applies_to", {"prod/db"}}}).status == 409);
  CHECK(d.call("DELETE", "/v1/peerings/prod-shared").status == 409);
  CHECK(d.call("DELETE", "/v1/instances/api").status == 409);
  CHECK(d.call("POST", "/v1/instances/api/nics", {{"subnet", "shared/tools"}}).status == 409);
  // Running and stopping a lab's instance is an operation, not an edit.
  CHECK(d.call("POST", "/v1/instances/api/stop").status == 200);
  CHECK(d.call("POST", "/v1/instances/api/start").status == 200);
}

TEST_CASE("destroy removes the lab's objects and nothing else") {
  LabDaemon d;
  REQUIRE(d.call("POST", "/v1/vpcs", {{"name", "hand"}, {"cidr", "10.50.0.0/16"}}).status == 201);
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  // A hand-made instance in a lab's subnet holds the destroy back.
  REQUIRE(d.call("POST", "/v1/instances", {{"name", "visitor"}, {"subnet", "prod/web"}}).status ==
          201);
  std::string files = d.files();
  auto r = d.call("DELETE", "/v1/labs/shop");
  CHECK(r.status == 409);
  CHECK(body(r)["error"]["message"].get<std::string>().find("visitor/eth0") != std::string::npos);
  CHECK(d.files() == files);
  REQUIRE(d.call("DELETE", "/v1/instances/visitor").status == 200);

  r = d.call("DELETE", "/v1/labs/shop");
  REQUIRE(r.status == 200);
  CHECK(d.call("GET", "/v1/labs/shop").status == 404);
  json vpcs = d.get("/v1/vpcs")["items"];
  REQUIRE(vpcs.size() == 1);
  CHECK(vpcs[0]["name"] == "hand");
  CHECK(d.get("/v1/instances")["items"].empty());
  CHECK(d.get("/v1/policies")["items"].empty());
  CHECK(d.get("/v1/peerings")["items"].empty());
  CHECK(d.kernel.ownedNamespaces() == std::vector<std::string>{"vpc-hand"});
  CHECK(d.get("/v1/plan")["converged"] == true);
}

TEST_CASE("export re-applies as a no-op; a hand-made set-up is adopted into a lab") {
  LabDaemon d;
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  json exported = d.get("/v1/labs/shop/export");
  CHECK(exported["name"] == "shop");
  uint64_t before = d.mutations();
  auto r = d.call("PUT", "/v1/labs/shop", exported);
  REQUIRE(r.status == 200);
  CHECK(body(r)["changes"].empty());
  CHECK(d.mutations() == before);

  LabDaemon h;
  REQUIRE(h.call("POST", "/v1/vpcs", {{"name", "prod"}, {"cidr", "10.10.0.0/16"}}).status == 201);
  REQUIRE(
      h.call("POST", "/v1/vpcs/prod/subnets", {{"name", "web"}, {"cidr", "10.10.1.0/24"}}).status ==
      201);
  REQUIRE(h.call("POST", "/v1/instances", {{"name", "box"}, {"subnet", "prod/web"}}).status == 201);
  json host = h.get("/v1/export?name=mine");
  CHECK(h.call("PUT", "/v1/labs/mine", host).status == 409);  // not without adopt
  before = h.mutations();
  r = h.call("PUT", "/v1/labs/mine?adopt=true", host);
  REQUIRE(r.status == 201);
  CHECK(actions(body(r)) == std::vector<std::string>{"adopt vpc prod", "adopt instance box"});
  CHECK(h.mutations() == before);
  CHECK(h.get("/v1/instances/box")["lab"] == "mine");
}

TEST_CASE("a lab's port forwards: made after their target, replaced when changed, gone first") {
  LabDaemon d;
  REQUIRE(d.call("POST", "/v1/vpcs", {{"name", "hand"}, {"cidr", "10.50.0.0/16"}}).status == 201);
  REQUIRE(
      d.call("POST", "/v1/vpcs/hand/subnets", {{"name", "web"}, {"cidr", "10.50.1.0/24"}}).status ==
      201);
  json doc = shop();
  doc["port_forwards"] = {{{"name", "front"}, {"listen_port", 8080}, {"target", "api"}}};
  auto r = d.call("PUT", "/v1/labs/shop", doc);
  REQUIRE(r.status == 201);
  CHECK(actions(body(r)).back() == "create port_forward front");
  json f = d.get("/v1/port-forwards/front");
  CHECK(f["lab"] == "shop");
  CHECK(f["target_ip"] == "10.10.1.3");  // api's primary NIC
  CHECK(d.get("/v1/labs/shop")["objects"]["port_forwards"] == json{"front"});
  CHECK(d.call("DELETE", "/v1/port-forwards/front").status == 409);  // the lab's

  uint64_t before = d.mutations();
  json exported = d.get("/v1/labs/shop/export");
  CHECK(exported["port_forwards"][0]["target_port"] == 8080);
  r = d.call("PUT", "/v1/labs/shop", exported);
  REQUIRE(r.status == 200);
  CHECK(body(r)["changes"].empty());
  CHECK(d.mutations() == before);

  doc["port_forwards"][0]["target_port"] = 8081;
  r = d.call("PUT", "/v1/labs/shop", doc);
  REQUIRE(r.status == 200);
  CHECK(actions(body(r)) == std::vector<std::string>{"replace port_forward front"});
  CHECK(d.get("/v1/port-forwards/front")["target_port"] == 8081);

  // Refused, naming the path: a bad field, a target outside the lab.
  std::string files = d.files();
  before = d.mutations();
  for (const auto& [target, field, status] :
       {std::tuple{json("hand/web"), "port_forwards[0].target", 404},
        std::tuple{json("prod/nowhere"), "port_forwards[0].target", 404}}) {
    json bad = doc;
    bad["port_forwards"][0]["target"] = target;
    r = d.call("PUT", "/v1/labs/shop", bad);
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(body(r)["error"]["field"] == field);
  }
  json bad = doc;
  bad["port_forwards"][0]["listen_port"] = 0;
  r = d.call("PUT", "/v1/labs/shop", bad);
  CHECK(r.status == 400);
  CHECK(body(r)["error"]["field"] == "port_forwards[0].listen_port");
  CHECK(d.files() == files);
  CHECK(d.mutations() == before);

  // Without api, and so without the forward to it: the forward goes first.
  json fewer = doc;
  fewer.erase("port_forwards");
  fewer["instances"] = json::array();
  r = d.call("PUT", "/v1/labs/shop", fewer);
  REQUIRE(r.status == 200);
  CHECK(actions(body(r)) ==
        std::vector<std::string>{"delete port_forward front", "delete instance api"});
  CHECK(d.get("/v1/port-forwards")["items"].empty());
  REQUIRE(d.call("PUT", "/v1/labs/shop", doc).status == 200);
  REQUIRE(d.call("DELETE", "/v1/labs/shop").status == 200);
  CHECK(d.get("/v1/port-forwards")["items"].empty());
  CHECK(d.get("/v1/plan")["converged"] == true);
}

TEST_CASE("the graph draws the lab as DOT") {
  LabDaemon d;
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  auto r = d.call("GET", "/v1/labs/shop/graph?format=dot");
  REQUIRE(r.status == 200);
  CHECK(r.contentType.find("graphviz") != std::string::npos);
  for (const char* part :
       {"cluster_prod", "\"subnet:prod/db\"", "\"instance:api\" -> \"subnet:prod/db\"",
        "peering prod-shared (active)", "\"policy:db-in\" -> \"subnet:prod/db\""})
    CHECK(r.body.find(part) != std::string::npos);
  CHECK(d.call("GET", "/v1/labs/shop/graph?format=png").status == 400);
}

TEST_CASE("labs need lab:write to apply or plan and lab:delete to destroy") {
  CHECK(Authorizer::permissionFor("PUT", {"v1", "labs", "shop"}) == "lab:write");
  CHECK(Authorizer::permissionFor("DELETE", {"v1", "labs", "shop"}) == "lab:delete");
  CHECK(Authorizer::permissionFor("GET", {"v1", "labs", "shop", "graph"}).empty());
}

TEST_CASE("plan --reach: the expectations and the subnets' reachability in the planned state") {
  LabDaemon d;
  auto r = d.call("PUT", "/v1/labs/shop?dry_run=true&reach=true", shop());
  REQUIRE(r.status == 200);
  json rows = body(r)["reach"];
  REQUIRE(!rows.empty());
  CHECK(rows[0]["from"] == "prod/web");
  CHECK(rows[0]["before"] == "absent");
  CHECK(rows[0]["after"] == "reachable");
  CHECK(rows[0]["holds"] == true);
  bool dbToTools = false;
  for (const auto& row : rows) {
    if (row["from"] == "prod/db" && row["to"] == "shared/tools") {
      dbToTools = true;
      CHECK(row["after"] == "unreachable");  // outside the peering's allow-list
    }
  }
  CHECK(dbToTools);
  REQUIRE(d.call("PUT", "/v1/labs/shop", shop()).status == 201);
  json next = shop();
  next["policies"][0]["ingress"][0]["ports"] = {"6432"};
  rows = body(d.call("PUT", "/v1/labs/shop?dry_run=true&reach=true", next))["reach"];
  REQUIRE(rows.size() == 1);  // only the expectation: no subnet pair changes over ICMP
  CHECK(rows[0]["before"] == "reachable");
  CHECK(rows[0]["after"] == "unreachable");
  CHECK(rows[0]["holds"] == false);
}
