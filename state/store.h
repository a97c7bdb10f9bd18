#pragma once
// The desired state on disk, one JSON file per object: <dir>/vpcs/<vpc>.json
// (the VPC itself), <dir>/subnets/<vpc>/<subnet>.json, and one per peering,
// policy, instance, port forward (<dir>/port-forwards/<name>.json), impairment and flow log (<dir>/
// flow-logs/<name>.json; the records go to <dir>/flow-records/<vpc>.log). A change writes
// the files of the objects it changed and nothing else (a lab's record is <dir>/labs/<lab>.json),
// so a subnet create costs one small file whatever the VPC holds. One file is replaced atomically
// (temp file, fsync, rename, fsync of the directory); a change of several files goes through a
// journal, so a crash leaves either all of them old or all of them new, never a mix.
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/kernel/netns.h"
#include "lib/model/desired_state.h"
#include "lib/model/instance.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/quarantine.h"
#include "lib/model/vpc.h"

namespace vpcd {

class StateError : public std::runtime_error {
 public:
  explicit StateError(const std::string& message, int code = 0)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }  // errno, for a failed system call

 private:
  int code_;
};

class StateStore {
 public:
  // 2: subnets in files of their own (1 held them inside the VPC's file;
  // such files are read and rewritten in the new layout at start).
  static constexpr int kSchemaVersion = 2;

  // Creates the directory (mode 0700) if needed.
  explicit StateStore(std::string dir);

  // Takes <dir>/vpcd.lock for the life of this object: one daemon per state
  // directory. Throws StateError naming the holder's pid.
  void lock();

  // Writes the files of what differs between `old` and `next`: objects are
  // compared by pointer first (DesiredState shares what a change did not
  // touch), then by value.
  void commit(const DesiredState& old, const DesiredState& next) const;

  // Reads every VPC with its subnets; a VPC file of schema 1 is migrated to
  // the current layout (subnet files written, then the VPC file) on the way.
  // Each load throws StateError naming the file and the field at the first
  // file that cannot be read; with `damage`, such a file is recorded there
  // and skipped instead (a VPC with a bad subnet file is skipped whole).
  std::vector<Vpc> loadVpcs(std::vector<StateDamage>* damage = nullptr) const;
  void saveVpc(const Vpc& vpc) const;
  void removeVpc(const std::string& name) const;
  std::string vpcPath(const std::string& name) const { return path("vpcs", name); }
  std::string subnetPath(const std::string& vpc, const std::string& subnet) const {
    return dir_ + "/subnets/" + vpc + "/" + subnet + ".json";
  }

  std::vector<Peering> loadPeerings(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<Policy> loadPolicies(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<Instance> loadInstances(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<Lab> loadLabs(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<PortForward> loadPortForwards(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<Impairment> loadImpairments(std::vector<StateDamage>* damage = nullptr) const;
  std::vector<FlowLog> loadFlowLogs(std::vector<StateDamage>* damage = nullptr) const;
  // Where a VPC's flow records are written (and rotated: <path>.1).
  std::string flowRecordsPath(const std::string& vpc) const {
    return dir_ + "/flow-records/" + vpc + ".log";
  }
  // The command output of an instance (its serial console).
  std::string serialPath(const std::string& name) const {
    return dir_ + "/serial/" + name + ".log";
  }
  // The Unix socket of the instance's console keeper, beside its log.
  std::string consolePath(const std::string& name) const {
    return dir_ + "/serial/" + name + ".console";
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string path(const std::string& kind, const std::string& name) const {
    return dir_ + "/" + kind + "/" + name + ".json";
  }
  // Files to write (path -> content) and to remove, made durable together.
  struct Batch {
    std::map<std::string, std::string> writes;
    std::set<std::string> removes;
    void put(const std::string& path, const std::string& kind, nlohmann::json body);
  };
  void write(const Batch& batch) const;
  // A journal left by a crash in the middle of a write is finished first.
  void replayJournal() const;
  void addVpc(Batch& b, const Vpc* old, const Vpc& vpc) const;
  void dropVpc(Batch& b, const Vpc& vpc) const;
  // The documents of one kind (one directory), checked for their schema version.
  std::vector<std::pair<std::string, nlohmann::json>> load(
      const std::string& dir, std::vector<StateDamage>* damage = nullptr) const;

  std::string dir_;
  Fd lock_;
};

// Atomic replacement of `path` with `content`.
void writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace vpcd
