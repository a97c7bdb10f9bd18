// The files vpcd reads at start: state files of every kind (a crash, a full
// disk or a hand edit can leave anything in them), the config file and the
// roles file. The first byte picks the file; the rest is its content.
//
// The oracle beyond the sanitizers: a bad file is refused with an error
// naming it (StateError for state, std::invalid_argument for config and
// roles), never with anything else; loaded as the daemon starts, a bad state
// file is recorded as damage and held, never thrown.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "daemon/authz.h"
#include "daemon/config.h"
#include "state/store.h"

namespace {

const std::string& dir() {
  // Never destroyed: the exit handler below runs after the destructors of
  // statics made before it was registered (ASan saw it read freed memory).
  static const std::string& d = *new std::string([] {
    // Memory, where there is a tmpfs: the target is bound by file system calls.
    char shm[] = "/dev/shm/vpcd-fuzz-files-XXXXXX";
    char tmp[] = "/tmp/vpcd-fuzz-files-XXXXXX";
    const char* made = mkdtemp(shm);
    std::string path = made ? made : mkdtemp(tmp);
    std::atexit([] { std::filesystem::remove_all(dir()); });
    return path;
  }());
  return d;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), size);
}

void stateFile(uint8_t kind, const uint8_t* data, size_t size) {
  static const char* const kPaths[] = {
      "vpcs/a.json",      "subnets/a/s.json", "peerings/p.json",      "policies/p.json",
      "instances/i.json", "labs/l.json",      "port-forwards/f.json", "impairments/i.json"};
  static const std::string kVpc = R"({"schema_version": 2, "kind": "vpc", "vpc": {"name": "a",
    "cidr": "10.0.0.0/16", "transit_index": 0}})";
  const std::string path = dir() + "/state/" + kPaths[kind];
  vpcd::StateStore store(dir() + "/state");
  // A subnet file is read with its VPC's: a valid VPC file holds it.
  if (kind == 1)
    write(dir() + "/state/vpcs/a.json", reinterpret_cast<const uint8_t*>(kVpc.data()), kVpc.size());
  write(path, data, size);
  try {
    store.loadVpcs();
    store.loadPeerings();
    store.loadPolicies();
    store.loadInstances();
    store.loadLabs();
    store.loadPortForwards();
    store.loadImpairments();
  } catch (const vpcd::StateError&) {
  }
  // As the daemon starts: every file that fails is recorded and what it
  // holds is taken out (lib/model/quarantine.h), never an exception.
  std::vector<vpcd::StateDamage> damage;
  auto vpcs = store.loadVpcs(&damage);
  auto peerings = store.loadPeerings(&damage);
  auto policies = store.loadPolicies(&damage);
  auto instances = store.loadInstances(&damage);
  auto labs = store.loadLabs(&damage);
  auto forwards = store.loadPortForwards(&damage);
  store.loadImpairments(&damage);
  vpcd::Quarantine held =
      vpcd::quarantine(std::move(damage), vpcs, peerings, policies, instances, labs, &forwards);
  if (held.damage.empty() && !held.empty()) abort();  // nothing damaged holds nothing
  std::filesystem::remove_all(dir() + "/state");
}

void configFile(bool roles, const uint8_t* data, size_t size) {
  const std::string path = dir() + "/config.json";
  write(path, data, size);
  try {
    if (roles) {
      vpcd::Authorizer authz("vpcd-fuzz-no-such-group", path, true);
    } else {
      vpcd::DaemonConfig config;
      vpcd::applyConfigFile(config, path, true);
    }
  } catch (const std::invalid_argument&) {
  }
  ::unlink(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // 0-5, 8 and 9 state files (port forwards and impairments came after the
  // others), 6 config, 7 roles.
  uint8_t kind = data[0] % 10;
  if (kind < 6 || kind >= 8) {
    stateFile(kind >= 8 ? kind - 2 : kind, data + 1, size - 1);
  } else {
    configFile(kind == 7, data + 1, size - 1);
  }
  return 0;
}
