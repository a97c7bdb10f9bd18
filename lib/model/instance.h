#pragma once
// Instances: a network namespace vm-<name> with one veth NIC per attachment,
// the lab host users run a command in. Values, request parsing (every
// rejection an DomainError naming the field) and the state-file form.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

enum class InstanceStatus { Provisioning, Running, Stopped };

std::string toString(InstanceStatus s);

struct Nic {
  std::string name;  // eth0, eth1, … inside vm-<instance>
  std::string vpc;
  std::string subnet;
  Cidr subnetCidr;  // fixed for the subnet's life; gives prefix and gateway
  Ipv4 ip;
  std::string mac;

  Ipv4 gateway() const { return subnetCidr.host(1); }
  std::string target() const { return vpc + "/" + subnet; }
  bool operator==(const Nic&) const = default;
};

struct Instance {
  std::string name;
  InstanceStatus status = InstanceStatus::Provisioning;
  std::vector<Nic> nics;  // nics[0] is the primary: it holds the default route
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> tags;
  std::vector<std::string> command;  // argv; empty: no command
  int64_t createdAt = 0;
  int64_t lastStartAt = 0;  // 0: never
  int64_t lastStopAt = 0;
  // The running command, kept so that a restarted daemon finds it again: a
  // pid alone could have been reused, the pid and its start time cannot.
  int pid = 0;
  uint64_t pidStartTime = 0;
  std::string lab;  // the lab that owns it; "" when none

  bool operator==(const Instance&) const = default;
};

// One NIC as asked for: "subnet": "vpc/subnet", optional "ip".
struct NicRequest {
  std::string vpc;
  std::string subnet;
  std::optional<Ipv4> ip;
  std::string field;  // where it was written, for errors: "nics[1]"
};

struct InstanceRequest {
  Instance instance;  // name, labels, metadata, tags, command
  std::vector<NicRequest> nics;
};

// {"name", "nics": [{"subnet", "ip"?}…], "labels", "metadata", "tags",
// "command"} or the single-NIC shape {"name", "subnet", "ip"?}.
InstanceRequest parseInstanceRequest(const nlohmann::json& body);
NicRequest parseNicRequest(const nlohmann::json& body, const std::string& path);

// A stable, locally administered unicast MAC for `key` (02:xx:…).
std::string macFor(const std::string& key);

nlohmann::json toJson(const Nic& nic, bool primary);
// The API object; `commandRunning` tells whether the command is alive now.
nlohmann::json toJson(const Instance& i, bool commandRunning);
nlohmann::json toState(const Instance& i);
Instance instanceFromState(const nlohmann::json& state);

}  // namespace vpcd
