#include "lib/model/names.h"

#include <catch2/catch.hpp>
#include <set>

#include "lib/model/error.h"
#include "lib/plan/desired.h"

using namespace vpcd;

TEST_CASE("names are RFC 1035 labels") {
  CHECK(isLabel("prod"));
  CHECK(isLabel("a"));
  CHECK(isLabel("web-1"));
  CHECK(isLabel(std::string(63, 'a')));
  for (const std::string& bad :
       std::vector<std::string>{"", "1abc", "-abc", "abc-", "Prod", "a_b", "a.b", "a;rm -rf /",
                                "../x", "a b", std::string(64, 'a'), std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(isLabel(bad));
  }
}

TEST_CASE("a bad name is a 400 naming the field") {
  try {
    requireLabel("name", "a;rm -rf /");
    FAIL("accepted");
  } catch (const DomainError& e) {
    CHECK(e.kind() == ErrorKind::Invalid);
    CHECK(e.field() == "name");
  }
}

TEST_CASE("interface names always fit IFNAMSIZ and stay distinct") {
  CHECK(transitLinkName("prod") == "t-prod");
  CHECK(subnetPortName("web") == "s-web");
  std::string long1 = "a-very-long-vpc-name-that-goes-on-and-on-for-sixty-one-chars-x";
  std::string long2 = "a-very-long-vpc-name-that-goes-on-and-on-for-sixty-one-chars-y";
  CHECK(transitLinkName(long1).size() == 15);
  CHECK(transitLinkName(long1) != transitLinkName(long2));
  CHECK(transitLinkName(long1) == transitLinkName(long1));  // stable
  // A shortened name carries '_', which no label has, so it never equals a
  // name that fit as it was.
  CHECK(transitLinkName(long1).find('_') != std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i)
    seen.insert(interfaceName("s-", "subnet-number-" + std::to_string(i)));
  CHECK(seen.size() == 2000);
}

TEST_CASE("namespace names are derived and unambiguous") {
  CHECK(routerNamespace("prod") == "vpc-prod");
  CHECK(subnetNamespace("prod", "web") == "vpc-prod.web");
  // '.' is not in labels, so vpc "a" subnet "b-c" and vpc "a-b" subnet "c" differ.
  CHECK(subnetNamespace("a", "b-c") != subnetNamespace("a-b", "c"));
}
