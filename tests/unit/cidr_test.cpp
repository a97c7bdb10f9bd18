#include "lib/model/cidr.h"

#include <catch2/catch.hpp>

using vpcd::Cidr;
using vpcd::Ipv4;

TEST_CASE("IPv4 addresses parse strictly") {
  CHECK(Ipv4::parse("10.0.0.1")->str() == "10.0.0.1");
  CHECK(Ipv4::parse("255.255.255.255")->value == 0xffffffffu);
  for (const char* bad : {"", "10.0.0", "10.0.0.0.1", "256.0.0.1", "10.0.0.01", "a.b.c.d",
                          "10..0.1", "10.0.0.1 ", "-1.0.0.0", "+1.0.0.0"}) {
    INFO(bad);
    CHECK_FALSE(Ipv4::parse(bad));
  }
}

TEST_CASE("CIDRs parse, and know their network") {
  auto c = Cidr::parse("10.10.1.0/24");
  REQUIRE(c);
  CHECK(c->isNetwork());
  CHECK(c->host(1).str() == "10.10.1.1");
  CHECK(c->broadcast().str() == "10.10.1.255");
  CHECK(c->size() == 256);
  CHECK_FALSE(Cidr::parse("10.10.1.5/24")->isNetwork());
  CHECK(Cidr::parse("0.0.0.0/0")->mask() == 0);
  for (const char* bad :
       {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/24x", "/24"}) {
    INFO(bad);
    CHECK_FALSE(Cidr::parse(bad));
  }
}

TEST_CASE("CIDR containment and overlap") {
  auto vpc = *Cidr::parse("10.10.0.0/16");
  auto web = *Cidr::parse("10.10.1.0/24");
  auto api = *Cidr::parse("10.10.1.0/25");
  auto other = *Cidr::parse("10.20.0.0/16");
  CHECK(vpc.contains(web));
  CHECK_FALSE(web.contains(vpc));
  CHECK(web.overlaps(api));
  CHECK(api.overlaps(web));
  CHECK_FALSE(vpc.overlaps(other));
  CHECK_FALSE(Cidr::parse("10.10.2.0/24")->overlaps(web));
}
