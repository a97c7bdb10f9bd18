#include "lib/ipam/ipam.h"

#include <catch2/catch.hpp>

using namespace vpcd;

TEST_CASE("the lowest free index is reused first") {
  CHECK(lowestFreeIndex({}, 4) == 0);
  CHECK(lowestFreeIndex({0, 1, 3}, 4) == 2);
  CHECK(lowestFreeIndex({1, 2}, 4) == 0);
  CHECK_FALSE(lowestFreeIndex({0, 1}, 2));
  CHECK(transitCapacity(*Cidr::parse("169.254.64.0/18")) == 4096);
  CHECK(transitCapacity(*Cidr::parse("10.0.0.0/30")) == 1);
}

TEST_CASE("subnet IPAM reserves network, gateway, .2 and broadcast") {
  SubnetIpam ipam(*Cidr::parse("10.0.1.0/29"));  // .0-.7: .3 .4 .5 .6 usable
  CHECK(ipam.allocate(std::nullopt)->str() == "10.0.1.3");
  CHECK(ipam.allocate(Ipv4::parse("10.0.1.6"))->str() == "10.0.1.6");
  std::string why;
  CHECK_FALSE(ipam.allocate(Ipv4::parse("10.0.1.1"), &why));
  CHECK(why.find("reserved") != std::string::npos);
  CHECK_FALSE(ipam.allocate(Ipv4::parse("10.0.1.7"), &why));
  CHECK_FALSE(ipam.allocate(Ipv4::parse("10.0.2.3"), &why));
  CHECK(why.find("outside") != std::string::npos);
  CHECK_FALSE(ipam.allocate(Ipv4::parse("10.0.1.6"), &why));
  CHECK(why.find("in use") != std::string::npos);
  CHECK(ipam.available(10).size() == 2);
  CHECK(ipam.allocate(std::nullopt)->str() == "10.0.1.4");
  CHECK(ipam.allocate(std::nullopt)->str() == "10.0.1.5");
  CHECK_FALSE(ipam.allocate(std::nullopt));
  ipam.release(*Ipv4::parse("10.0.1.4"));
  CHECK(ipam.allocate(std::nullopt)->str() == "10.0.1.4");
}
