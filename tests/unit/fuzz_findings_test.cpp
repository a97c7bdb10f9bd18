// What the fuzz targets found (docs/fuzzing.md), one regression each, so a
// plain unit-test run keeps them fixed too (the inputs themselves are in
// tests/fuzz/corpus/*/regression-*).
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netlink.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "daemon/config.h"
#include "daemon/gce/gce_api.h"
#include "daemon/gce/listing.h"
#include "lib/kernel/nft_codec.h"
#include "lib/kernel/nl_route.h"
#include "state/store.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using vpcd::test::Daemon;

TEST_CASE("bytes that are not UTF-8 in a body or a path are a 4xx, not the end of the daemon") {
  // The parse error quoted the bad byte; dumping that message threw from
  // inside the API's error handler, out of the API, and ended vpcd.
  Daemon<> d(true);
  auto bad = d.api.handle({"PUT", "/v1/policies/web", "{\"applies_to\": [\"\xb5\"]}"});
  CHECK(bad.status == 400);
  CHECK(bad.body.find("not valid JSON") != std::string::npos);
  auto path = d.api.handle({"GET", "/v1/vpcs/\xff\xfe", ""});
  CHECK(path.status == 404);
  CHECK(path.body.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD, the replacement
}

TEST_CASE("a GCE batch part whose request line is not UTF-8 is answered in the batch") {
  gce::GceApi api;
  HttpRequest r;
  r.method = "POST";
  r.target = "/batch/compute/v1";
  r.contentType = "multipart/mixed; boundary=b";
  r.body =
      "--b\nContent-Type: application/http\nContent-ID: <1>\n\n"
      "G\xff\xee /compute/v1/projects/p/zones/x HTTP/1.1\n\n\n--b--\n";
  auto res = api.handle(r);
  CHECK(res.status == 200);
  CHECK(res.body.find("HTTP/1.1 4") != std::string::npos);
}

TEST_CASE("an nftables reply without the strings vpcd expects decodes them as empty") {
  // libnftnl gives NULL for a missing string attribute; a std::string made
  // from it is undefined behaviour.
  NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
  CHECK(decodeChain(c.get()).name.empty());
  NftnlPtr<nftnl_set> s(nftnl_set_alloc());
  CHECK(decodeSet(s.get()).name.empty());
  NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
  CHECK(decodeRule(r.get()).chain.empty());
}

TEST_CASE("an error message shorter than its header says is read as having no extended ack") {
  alignas(nlmsghdr) unsigned char buf[sizeof(nlmsghdr)] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  h->nlmsg_len = sizeof buf;
  h->nlmsg_type = NLMSG_ERROR;
  h->nlmsg_flags = NLM_F_ACK_TLVS;
  CHECK(extAckMessage(h).empty());
}

TEST_CASE("an extended ack after an echoed request of unaligned length is read aligned") {
  // The attributes follow the echoed request at an aligned offset; the
  // parser once read them at the raw length (a misaligned nlattr, UBSan).
  alignas(nlmsghdr) unsigned char buf[64] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  h->nlmsg_len = sizeof buf;
  h->nlmsg_type = NLMSG_ERROR;
  h->nlmsg_flags = NLM_F_ACK_TLVS;
  auto* err = reinterpret_cast<nlmsgerr*>(buf + NLMSG_HDRLEN);
  err->error = -22;
  err->msg.nlmsg_len = NLMSG_HDRLEN + 1;  // one byte of payload, three of padding
  size_t at = NLMSG_HDRLEN + sizeof(nlmsgerr) + NLMSG_ALIGN(1);
  nlattr attr{static_cast<uint16_t>(NLA_HDRLEN + 5), NLMSGERR_ATTR_MSG};
  std::memcpy(buf + at, &attr, sizeof attr);
  std::memcpy(buf + at + NLA_HDRLEN, "boom", 5);
  CHECK(extAckMessage(h) == "boom");
  err->msg.nlmsg_len = 3;  // shorter than a header: no echoed request to skip
  CHECK(extAckMessage(h).empty());
}

TEST_CASE("a filter= pattern that backtracks exponentially is matched in linear time") {
  // std::regex took 2^n steps for "(a*)*b" on n a's (minutes at n = 40):
  // one request held the API. With this fix the case runs in milliseconds;
  // without it, ctest's timeout ends it.
  auto f = gce::Filter::parse("name eq \"(a*)*b\"");
  CHECK_FALSE(f.matches({{"name", std::string(40, 'a')}}));
  CHECK(f.matches({{"name", std::string(40, 'a') + "b"}}));
  // Back-references would backtrack again (RE2, GCE's syntax, has none);
  // a huge repetition multiplies the compiled pattern.
  CHECK_THROWS_WITH(gce::Filter::parse(R"(name eq "(a)\1")"),
                    Catch::Contains("back-references are not supported"));
  CHECK_THROWS_WITH(gce::Filter::parse(R"(name eq "((a{1000}){1000}){1000}")"),
                    Catch::Contains("a repetition count is at most 100"));
}

TEST_CASE("a filter= pattern of stacked repetitions is refused before it is compiled") {
  // "x???…" made glibc's regcomp copy its tree per '?', into gigabytes.
  CHECK_THROWS_WITH(gce::Filter::parse("name eq \"x" + std::string(60, '?') + "\""),
                    Catch::Contains("a repetition of a repetition is not supported"));
  CHECK_THROWS_WITH(gce::Filter::parse(R"(name eq "a{100}{100}{100}")"),
                    Catch::Contains("a repetition of a repetition"));
  // What is not stacked still works: classes hold quantifier characters as
  // themselves, escaped ones are literals.
  CHECK(gce::Filter::parse(R"(name eq "n[+?*]x\?+")").matches({{"name", "n?x??"}}));
  CHECK(gce::Filter::parse(R"(name eq "a{2}b*")").matches({{"name", "aabbb"}}));
}

TEST_CASE("a number in a state file that no integer can hold is an error naming the field") {
  // nlohmann's get<int>() of 2e55 is undefined behaviour (fuzz_files, UBSan).
  vpcd::test::TempDir dir;
  StateStore store(dir.path.string());
  std::filesystem::create_directories(dir.path / "vpcs");
  std::ofstream(dir.path / "vpcs" / "a.json") << R"({"schema_version": 2.1e55})";
  try {
    store.loadVpcs();
    FAIL("accepted");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("schema_version: must be an integer") != std::string::npos);
  }
  std::ofstream(dir.path / "vpcs" / "a.json", std::ios::trunc)
      << R"({"schema_version": 2, "kind": "vpc", "vpc": {"name": "a", "cidr": "10.0.0.0/16",
            "mtu": 1500, "transit_index": 1e30}})";
  try {
    store.loadVpcs();
    FAIL("accepted");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("transit_index: must be an integer") != std::string::npos);
  }
}

TEST_CASE("a peering expiry that would overflow the clock is refused naming the field") {
  Daemon<> d;
  auto call = [&](const std::string& m, const std::string& path, const std::string& body) {
    return d.api.handle({m, path, body});
  };
  REQUIRE(call("POST", "/v1/vpcs", R"({"name":"a","cidr":"10.1.0.0/16"})").status == 201);
  REQUIRE(call("POST", "/v1/vpcs", R"({"name":"b","cidr":"10.2.0.0/16"})").status == 201);
  auto r = call("POST", "/v1/peerings",
                R"({"name":"ab","vpc":"a","peer_vpc":"b","expires_in_s":9223372036854775807})");
  CHECK(r.status == 400);
  CHECK(r.body.find("expires_in_s") != std::string::npos);
}

TEST_CASE("a config or roles file with a number no type can hold is refused naming the file") {
  // nlohmann throws out_of_range (406), not parse_error, for 8e896: it went
  // past the handler and ended the daemon at start (the fuzz_files campaign).
  vpcd::test::TempDir dir;
  auto file = dir.path / "config.json";
  std::ofstream(file) << R"({"api_timeout_seconds": 888888888e888})";
  DaemonConfig config;
  try {
    applyConfigFile(config, file.string(), true);
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find(file.string() + ": not valid JSON") != std::string::npos);
  }
  CHECK_THROWS_AS(Authorizer("vpcd-no-such-group", file.string(), true), std::invalid_argument);
}
