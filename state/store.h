#pragma once
// The desired state on disk: one JSON file per VPC under <dir>/vpcs/, each
// written atomically (temp file, fsync, rename, fsync of the directory) so a
// crash leaves either the old file or the new one, never a torn one.
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/kernel/netns.h"
#include "lib/model/instance.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"

namespace vpcd {

class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StateStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Creates the directory (mode 0700) if needed.
  explicit StateStore(std::string dir);

  // Takes <dir>/vpcd.lock for the life of this object: one daemon per state
  // directory. Throws StateError naming the holder's pid.
  void lock();

  std::vector<Vpc> loadVpcs() const;
  void saveVpc(const Vpc& vpc) const;
  void removeVpc(const std::string& name) const { remove("vpcs", name); }
  std::string vpcPath(const std::string& name) const { return path("vpcs", name); }

  std::vector<Peering> loadPeerings() const;
  void savePeering(const Peering& p) const;
  void removePeering(const std::string& name) const { remove("peerings", name); }

  std::vector<Policy> loadPolicies() const;
  void savePolicy(const Policy& p) const;
  void removePolicy(const std::string& name) const { remove("policies", name); }
  std::vector<Instance> loadInstances() const;
  void saveInstance(const Instance& i) const;
  void removeInstance(const std::string& name) const { remove("instances", name); }
  // The command output of an instance (its serial console).
  std::string serialPath(const std::string& name) const {
    return dir_ + "/serial/" + name + ".log";
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string path(const std::string& kind, const std::string& name) const {
    return dir_ + "/" + kind + "/" + name + ".json";
  }
  // The documents of one kind, checked for their schema version.
  std::vector<std::pair<std::string, nlohmann::json>> load(const std::string& kind) const;
  void save(const std::string& kind, const std::string& name, nlohmann::json body) const;
  void remove(const std::string& kind, const std::string& name) const;

  std::string dir_;
  Fd lock_;
};

// Atomic replacement of `path` with `content`.
void writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace vpcd
