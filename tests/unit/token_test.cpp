// The TCP listener's token and address (daemon/token.h).
#include "daemon/token.h"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

using namespace vpcd;

TEST_CASE("a token matches only itself, whatever the length of the guess") {
  std::string token(64, 'a');
  CHECK(tokenMatches(token, token));
  CHECK_FALSE(tokenMatches(token + "a", token));
  CHECK_FALSE(tokenMatches(token.substr(0, 63), token));
  CHECK_FALSE(tokenMatches("", token));
  std::string last = token;
  last.back() = 'b';
  CHECK_FALSE(tokenMatches(last, token));
  std::string first = token;
  first.front() = 'b';
  CHECK_FALSE(tokenMatches(first, token));
}

TEST_CASE("--listen takes ADDR:PORT and [ADDR6]:PORT") {
  CHECK(parseListen("127.0.0.1:8787").address == "127.0.0.1");
  CHECK(parseListen("127.0.0.1:8787").port == 8787);
  CHECK(parseListen("[::1]:80").address == "::1");
  CHECK(parseListen("0.0.0.0:1").port == 1);
  for (const char* bad : {"127.0.0.1", ":80", "host:80", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:8x", "[::1]", "1.2.3:80"}) {
    INFO(bad);
    CHECK_THROWS_AS(parseListen(bad), std::invalid_argument);
  }
}
