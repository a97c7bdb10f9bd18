#include "lib/model/instance.h"

#include <catch2/catch.hpp>

#include "daemon/http_error.h"
#include "lib/model/error.h"
#include "tests/unit/lab.h"

using namespace vpcd;
using nlohmann::json;

namespace {

std::string verdict(const json& body) {
  try {
    parseInstanceRequest(body);
  } catch (const DomainError& e) {
    return std::to_string(httpStatusOf(e.kind()).code) + " " + e.field();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("instance requests: both shapes, and every bad field named") {
  auto req = parseInstanceRequest(
      {{"name", "router1"},
       {"nics", {{{"subnet", "prod/web"}}, {{"subnet", "prod/db"}, {"ip", "10.10.2.50"}}}},
       {"labels", {{"env", "lab"}}},
       {"command", {"python3", "-m", "http.server"}}});
  REQUIRE(req.nics.size() == 2);
  CHECK(req.nics[1].vpc == "prod");
  CHECK(req.nics[1].subnet == "db");
  CHECK(req.nics[1].ip->str() == "10.10.2.50");
  CHECK(req.nics[1].field == "nics[1]");
  CHECK(req.instance.labels.at("env") == "lab");
  auto single = parseInstanceRequest({{"name", "x"}, {"subnet", "prod/web"}, {"ip", "10.10.1.9"}});
  REQUIRE(single.nics.size() == 1);
  CHECK(single.nics[0].field.empty());

  CHECK(verdict({{"name", "Bad_Name"}, {"subnet", "prod/web"}}) == "400 name");
  CHECK(verdict({{"name", "x"}}) == "400 nics");
  CHECK(verdict({{"name", "x"}, {"nics", json::array()}}) == "400 nics");
  CHECK(verdict({{"name", "x"}, {"nics", {{{"subnet", "web"}}}}}) == "400 nics[0].subnet");
  CHECK(verdict({{"name", "x"}, {"nics", {{{"subnet", "prod/web"}, {"ip", "10.1.2"}}}}}) ==
        "400 nics[0].ip");
  CHECK(verdict({{"name", "x"}, {"nics", {{{"subnet", "prod/web"}, {"mac", "x"}}}}}) ==
        "400 nics[0].mac");
  CHECK(verdict({{"name", "x"}, {"nics", {{{"subnet", "prod/db"}}, {{"subnet", "prod/db"}}}}}) ==
        "400 nics[1].subnet");
  CHECK(verdict({{"name", "x"}, {"subnet", "prod/web"}, {"nics", json::array()}}) == "400 nics");
  CHECK(verdict({{"name", "x"}, {"subnet", "prod/web"}, {"labels", {{"env", 1}}}}) ==
        "400 labels.env");
  CHECK(verdict({{"name", "x"}, {"subnet", "prod/web"}, {"tags", {"ok", ""}}}) == "400 tags[1]");
  CHECK(verdict({{"name", "x"}, {"subnet", "prod/web"}, {"command", "sh -c x"}}) == "400 command");
  CHECK(verdict({{"name", "x"}, {"subnet", "prod/web"}, {"colour", "red"}}) == "400 colour");
}

TEST_CASE("instance state round trip, names and MACs") {
  Instance i{.name = "router1", .status = InstanceStatus::Stopped, .createdAt = 5, .pid = 42};
  i.nics.push_back(vpcd::test::labNic("router1", "eth0", "web", "10.10.1.0/24", "10.10.1.3"));
  i.labels["env"] = "lab";
  CHECK(instanceFromState(toState(i)) == i);
  CHECK(instanceNamespace("router1") == "vm-router1");
  CHECK(instancePortName("router1", "eth1") == "n-router1-1");
  CHECK(instancePortName(std::string(40, 'a'), "eth0").size() <= 15);
  std::string mac = macFor("router1/eth0");
  CHECK(mac.size() == 17);
  CHECK(mac.rfind("02:", 0) == 0);  // locally administered, unicast
  CHECK(mac != macFor("router1/eth1"));
  json api = toJson(i, false);
  CHECK(api["nics"][0]["gateway"] == "10.10.1.1");
  CHECK(api["last_start_at"].is_null());
  CHECK(api["status"] == "STOPPED");
}
