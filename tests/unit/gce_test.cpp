// The Compute Engine API's lists, filters and batches (daemon/gce/), as
// gcloud 528 sends them (../shared/gce/gcloud-wire.md).
#include <catch2/catch.hpp>

#include "daemon/gce/errors.h"
#include "daemon/gce/gce_api.h"
#include "daemon/gce/listing.h"

using namespace vpcd;
using namespace vpcd::gce;
using nlohmann::json;

TEST_CASE("filter=: the forms gcloud sends") {
  json n1{{"name", "n1"},
          {"autoCreateSubnetworks", false},
          {"mtu", 1460},
          {"region", "http://h/compute/v1/projects/lab/regions/us-central1"},
          {"tags", {{"items", {"web", "db"}}}}};
  auto holds = [&](const std::string& f) { return Filter::parse(f).matches(n1); };
  CHECK(holds(R"(name eq ".*\bn1\b.*")"));
  CHECK_FALSE(holds(R"(name eq ".*\bn2\b.*")"));
  CHECK(holds(R"(name ne ".*\bn2\b.*")"));
  CHECK(holds(R"(name eq ".*(^n).*")"));
  CHECK(holds("autoCreateSubnetworks eq false"));
  CHECK_FALSE(holds("autoCreateSubnetworks eq true"));
  CHECK(holds("mtu eq 1460"));
  CHECK(holds(R"((name eq ".*\bn1\b.*")(autoCreateSubnetworks eq false))"));
  CHECK_FALSE(holds(R"((name eq ".*\bn1\b.*")(autoCreateSubnetworks eq true))"));
  CHECK(holds(R"(region eq ".*\bus\-central1\b.*")"));
  CHECK(holds(R"(tags.items eq "db")"));  // any element of a list
  CHECK_FALSE(holds(R"(missing eq ".*")"));
  CHECK(holds(R"(missing ne "x")"));
  CHECK(holds("name eq n1"));  // a bare literal is itself
  CHECK_FALSE(holds("name eq n."));
  for (const char* bad :
       {"name", "name gt 3", "(name eq x", "name eq x)", "(name eq x) y", R"(name eq "(")"}) {
    INFO(bad);
    try {
      Filter::parse(bad);
      FAIL("accepted");
    } catch (const GceError& e) {
      CHECK(e.code() == 400);
      CHECK(std::string(e.what()).rfind("Invalid value for field 'filter'", 0) == 0);
    }
  }
}

TEST_CASE("lists: pages of maxResults with nextPageToken") {
  std::vector<json> items;
  for (int k = 0; k < 5; ++k) items.push_back({{"name", "i" + std::to_string(k)}});
  json first = listPage(items, {{"maxResults", "2"}}, "compute#x", "self");
  CHECK(first["items"].size() == 2);
  CHECK(first["nextPageToken"] == "2");
  json last = listPage(items, {{"maxResults", "2"}, {"pageToken", "4"}}, "compute#x", "self");
  CHECK(last["items"].size() == 1);
  CHECK_FALSE(last.contains("nextPageToken"));
  CHECK_FALSE(listPage({}, {}, "compute#x", "self").contains("items"));
  CHECK_THROWS_AS(listPage(items, {{"maxResults", "501"}}, "k", "s"), GceError);
  CHECK_THROWS_AS(listPage(items, {{"pageToken", "x"}}, "k", "s"), GceError);
  json agg = aggregatedPage({{"zones/a", {items[0]}}, {"zones/b", {}}}, "instances", {}, "k", "s");
  CHECK(agg["items"]["zones/a"]["instances"].size() == 1);
  CHECK(agg["items"]["zones/b"]["warning"]["code"] == "NO_RESULTS_ON_PAGE");
}

TEST_CASE("batch: one multipart answer per part, paired by Content-ID") {
  GceApi api;
  HttpRequest r;
  r.method = "POST";
  r.target = "/batch/compute/v1";
  r.host = "127.0.0.1:8787";
  r.contentType = R"(multipart/mixed; boundary="===============123==")";
  auto part = [](const std::string& id, const std::string& line) {
    return "--===============123==\nContent-Type: application/http\nMIME-Version: 1.0\n"
           "Content-Transfer-Encoding: binary\nContent-ID: <" +
           id + ">\n\n" + line +
           " HTTP/1.1\nContent-Type: application/json\naccept: application/json\n\n";
  };
  r.body = part("abc+0", "GET /compute/v1/projects/lab/zones/us-central1-a?alt=json") +
           part("abc+1", "GET /compute/v1/projects/lab/zones/nope?alt=json") +
           "--===============123==--";
  HttpResponse out = api.handle(r);
  CHECK(out.status == 200);
  REQUIRE(out.contentType.rfind("multipart/mixed; boundary=", 0) == 0);
  CHECK(out.body.find("Content-ID: <response-abc+0>") != std::string::npos);
  CHECK(out.body.find("Content-ID: <response-abc+1>") != std::string::npos);
  CHECK(out.body.find("HTTP/1.1 200 OK") != std::string::npos);
  CHECK(out.body.find("HTTP/1.1 404 Not Found") != std::string::npos);
  CHECK(out.body.find(
            R"("selfLink":"http://127.0.0.1:8787/compute/v1/projects/lab/zones/us-central1-a")") !=
        std::string::npos);
  CHECK(out.body.find("The resource 'projects/lab/zones/nope' was not found") != std::string::npos);
}
