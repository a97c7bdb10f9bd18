// The /etc files of vpcd's namespaces and the VPC resolvers' configuration
// and names, from the desired state (the processes: tests/netns/dns_test.sh).
#include <catch2/catch.hpp>

#include "daemon/netns_files.h"
#include "daemon/resolvers.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;
using vpcd::test::RootApi;

TEST_CASE("every namespace's /etc files and the VPC resolver's names follow the state") {
  Daemon d;
  RootApi& api = d.api;
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"}).status ==
          201);
  REQUIRE(api.handle({"POST", "/v1/vpcs", R"({"name":"lab","cidr":"10.20.0.0/16"})"}).status ==
          201);
  for (auto [vpc, body] : {std::pair{"prod", R"({"name":"web","cidr":"10.10.1.0/24"})"},
                           std::pair{"lab", R"({"name":"app","cidr":"10.20.1.0/24"})"}})
    REQUIRE(api.handle({"POST", std::string("/v1/vpcs/") + vpc + "/subnets", body}).status == 201);
  REQUIRE(api.handle({"POST", "/v1/instances",
                      R"({"name":"api","nics":[{"subnet":"prod/web"},{"subnet":"lab/app"}]})"})
              .status == 201);
  const DesiredState& s = d.service.engine.state();
  auto vm = NetnsFiles::filesOf(s, "vm-api", true);
  CHECK(vm["hosts"].find("10.10.1.3\tapi.prod.internal api\n") != std::string::npos);
  CHECK(vm["resolv.conf"].find("nameserver 10.10.1.1\nsearch lab.internal prod.internal\n") == 0);
  auto web = NetnsFiles::filesOf(s, "vpc-prod.web", true);
  CHECK(web["hosts"].find("10.10.1.2\tweb.prod.internal web\n") != std::string::npos);
  CHECK(NetnsFiles::filesOf(s, "vpc-prod.web", false).count("resolv.conf") == 0);
  CHECK(NetnsFiles::filesOf(s, "mine", true).empty());
  // Each VPC's resolver knows the instance at its NIC in that VPC.
  CHECK(Resolvers::hostsOf(s, "prod") ==
        "10.10.1.2\tweb.prod.internal web.prod\n"
        "10.10.1.3\tapi.prod.internal api api-eth0.prod.internal api-eth0\n");
  CHECK(Resolvers::hostsOf(s, "lab").find(
            "10.20.1.3\tapi.lab.internal api api-eth1.lab.internal") != std::string::npos);
  std::string conf = Resolvers::configOf("prod", "/run/vpcd/dns", {"198.51.100.1"});
  CHECK(conf.find("interface=br0\nbind-dynamic\n") != std::string::npos);
  CHECK(conf.find("local=/prod.internal/\n") != std::string::npos);
  CHECK(conf.find("server=198.51.100.1\n") != std::string::npos);
  CHECK(conf.find("no-hosts\n") != std::string::npos);  // never the host's /etc/hosts
}
