#include "lib/model/vpc.h"

#include <catch2/catch.hpp>

#include "lib/model/error.h"

using namespace vpcd;
using nlohmann::json;

namespace {

DomainError vpcError(const json& body) {
  try {
    parseVpcRequest(body);
  } catch (const DomainError& e) {
    return e;
  }
  FAIL("accepted " << body.dump());
  throw;
}

DomainError subnetError(const json& body) {
  try {
    parseSubnetRequest(body);
  } catch (const DomainError& e) {
    return e;
  }
  FAIL("accepted " << body.dump());
  throw;
}

Vpc prod() {
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  v.transitIndex = 0;
  return v;
}

}  // namespace

TEST_CASE("a VPC request is validated field by field") {
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  CHECK(v.mtu == 1500);
  CHECK(parseVpcRequest({{"name", "p"}, {"cidr", "10.0.0.0/8"}, {"mtu", 1460}}).mtu == 1460);

  CHECK(vpcError(json::array()).kind() == ErrorKind::Invalid);
  CHECK(vpcError({{"cidr", "10.0.0.0/16"}}).field() == "name");
  CHECK(vpcError({{"name", "Prod"}, {"cidr", "10.0.0.0/16"}}).field() == "name");
  CHECK(vpcError({{"name", "prod"}}).field() == "cidr");
  CHECK(vpcError({{"name", "prod"}, {"cidr", "10.0.0.1/16"}}).field() == "cidr");
  CHECK(vpcError({{"name", "prod"}, {"cidr", "10.0.0.0/7"}}).field() == "cidr");
  CHECK(vpcError({{"name", "prod"}, {"cidr", "10.0.0.0/29"}}).field() == "cidr");
  CHECK(vpcError({{"name", "prod"}, {"cidr", 5}}).field() == "cidr");
  CHECK(vpcError({{"name", "prod"}, {"cidr", "10.0.0.0/16"}, {"mtu", "1500"}}).field() == "mtu");
  CHECK(vpcError({{"name", "prod"}, {"cidr", "10.0.0.0/16"}, {"mtu", 100}}).field() == "mtu");
  auto unknown = vpcError({{"name", "prod"}, {"cidr", "10.0.0.0/16"}, {"colour", "red"}});
  CHECK(unknown.field() == "colour");
  CHECK(unknown.kind() == ErrorKind::Invalid);
}

TEST_CASE("a subnet request is validated field by field") {
  Subnet s = parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}, {"type", "public"}});
  CHECK(s.type == SubnetType::Public);
  CHECK(s.gateway().str() == "10.10.1.1");
  CHECK(s.address().str() == "10.10.1.2");
  CHECK(parseSubnetRequest({{"name", "db"}, {"cidr", "10.10.2.0/24"}}).type == SubnetType::Private);
  CHECK(parseSubnetRequest({{"name", "t"}, {"cidr", "10.10.2.0/29"}}).cidr.prefix == 29);
  CHECK(subnetError({{"name", "web"}, {"cidr", "10.10.1.0/30"}}).field() == "cidr");
  CHECK(subnetError({{"name", "web"}, {"cidr", "10.10.1.0/24"}, {"type", "dmz"}}).field() ==
        "type");
  CHECK(subnetError({{"name", "../x"}, {"cidr", "10.10.1.0/24"}}).field() == "name");
}

TEST_CASE("a subnet must fit its VPC and not overlap a sibling") {
  Vpc v = prod();
  v.subnets.push_back(parseSubnetRequest({{"name", "api"}, {"cidr", "10.10.1.0/25"}}));
  try {
    checkSubnetFits(v, parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}}));
    FAIL("overlap accepted");
  } catch (const DomainError& e) {
    CHECK(e.kind() == ErrorKind::Conflict);
    CHECK(e.field() == "cidr");
    CHECK(std::string(e.what()) ==
          "subnet web: cidr 10.10.1.0/24 overlaps subnet api 10.10.1.0/25");
  }
  try {
    checkSubnetFits(v, parseSubnetRequest({{"name", "out"}, {"cidr", "10.11.0.0/24"}}));
    FAIL("outside accepted");
  } catch (const DomainError& e) {
    CHECK(e.kind() == ErrorKind::Unprocessable);
  }
  CHECK_NOTHROW(checkSubnetFits(v, parseSubnetRequest({{"name", "db"}, {"cidr", "10.10.2.0/24"}})));
}

TEST_CASE("transit links are consecutive /30s of the pool") {
  Cidr pool = *Cidr::parse("169.254.64.0/18");
  CHECK(transitFor(pool, 0).hostEnd.str() == "169.254.64.1/30");
  CHECK(transitFor(pool, 0).routerEnd.str() == "169.254.64.2/30");
  CHECK(transitFor(pool, 1).hostEnd.str() == "169.254.64.5/30");
}

TEST_CASE("VPC state round-trips, and a hand-edited file is re-validated") {
  Vpc v = prod();
  v.mtu = 1460;
  v.transitIndex = 7;
  v.subnets.push_back(
      parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}, {"type", "public"}}));
  v.subnets.push_back(parseSubnetRequest({{"name", "db"}, {"cidr", "10.10.2.0/24"}}));
  CHECK(fromState(toState(v)) == v);
  // Subnets one file each come back in creation order (their seq), however
  // they are read.
  v.subnets[0].seq = 1;
  v.subnets[1].seq = 2;
  json reversed = toState(v);
  std::swap(reversed["subnets"][0], reversed["subnets"][1]);
  Vpc back = fromState(reversed);
  CHECK(back == v);
  CHECK(back.subnets[0].name == "web");
  json broken = toState(v);
  broken["subnets"][1]["cidr"] = "10.10.1.0/25";
  CHECK_THROWS_AS(fromState(broken), DomainError);
}
