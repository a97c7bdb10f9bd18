#include "state/store.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "lib/model/vpc.h"
#include "tests/unit/harness.h"

using namespace vpcd;
namespace fs = std::filesystem;

using vpcd::test::TempDir;

namespace {

Vpc sample() {
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}, {"mtu", 1460}});
  v.transitIndex = 3;
  v.subnets.push_back(
      parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}, {"type", "public"}}));
  return v;
}

}  // namespace

TEST_CASE("state files round-trip") {
  TempDir dir;
  StateStore store(dir.path);
  store.saveVpc(sample());
  auto loaded = StateStore(dir.path).loadVpcs();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0] == sample());
  // The file is written whole and no temporary is left behind.
  CHECK(fs::exists(dir.path / "vpcs/prod.json"));
  CHECK_FALSE(fs::exists(dir.path / "vpcs/prod.json.tmp"));
  CHECK((fs::status(dir.path).permissions() & fs::perms::others_all) == fs::perms::none);
  store.removeVpc("prod");
  CHECK(store.loadVpcs().empty());
}

TEST_CASE("a newer schema is refused with a clear error, not guessed at") {
  TempDir dir;
  StateStore store(dir.path);
  store.saveVpc(sample());
  std::string path = store.vpcPath("prod");
  auto doc = nlohmann::json::parse(std::ifstream(path));
  doc["schema_version"] = StateStore::kSchemaVersion + 1;
  std::ofstream(path) << doc.dump();
  try {
    store.loadVpcs();
    FAIL("future schema accepted");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("schema_version " + std::to_string(StateStore::kSchemaVersion +
                                                                        1)) != std::string::npos);
  }
}

TEST_CASE("a corrupt state file names itself") {
  TempDir dir;
  StateStore store(dir.path);
  std::ofstream(dir.path / "vpcs/bad.json") << "{not json";
  try {
    store.loadVpcs();
    FAIL("corrupt file accepted");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("bad.json") != std::string::npos);
  }
}

TEST_CASE("one daemon per state directory") {
  TempDir dir;
  StateStore first(dir.path);
  first.lock();
  StateStore second(dir.path);
  try {
    second.lock();
    FAIL("second lock taken");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("in use by another vpcd (pid " + std::to_string(getpid())) !=
          std::string::npos);
  }
}

TEST_CASE("atomic write replaces content whole") {
  TempDir dir;
  std::string path = (dir.path / "f").string();
  writeFileAtomic(path, "one");
  writeFileAtomic(path, "two");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text == "two");
}

TEST_CASE("a journal naming a file outside the state files is not replayed") {
  TempDir dir;
  StateStore store(dir.path);
  for (const char* bad : {"../evil.json", "vpcs/../../evil.json", "vpcs/a/b.json", "etc.json",
                          "subnets/a/../b.json", "vpcs/UPPER.json"}) {
    INFO(bad);
    nlohmann::json journal{{"schema_version", 2},
                           {"writes", {{bad, "x"}, {"vpcs/ok.json", "{}"}}},
                           {"removes", nlohmann::json::array()}};
    std::ofstream(dir.path / "journal.json", std::ios::trunc) << journal.dump();
    try {
      store.loadVpcs();
      FAIL("replayed");
    } catch (const StateError& e) {
      CHECK(std::string(e.what()).find("no state file") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir.path.parent_path() / "evil.json"));
    CHECK_FALSE(fs::exists(dir.path / "vpcs" / "ok.json"));  // nothing of it was done
  }
  nlohmann::json fine{{"schema_version", 2},
                      {"writes", {{"subnets/a/b.json", "{}"}}},
                      {"removes", {"policies/p.json"}}};
  std::ofstream(dir.path / "journal.json", std::ios::trunc) << fine.dump();
  std::vector<StateDamage> damage;
  store.loadVpcs(&damage);  // replayed: the subnet file of a VPC that has none is ignored
  CHECK(fs::exists(dir.path / "subnets" / "a" / "b.json"));
  CHECK_FALSE(fs::exists(dir.path / "journal.json"));
}
