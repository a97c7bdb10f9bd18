#pragma once
// What every Compute Engine project on this host sees the same: its regions,
// their zones and the machine types of each zone (docs/gce.md). The data of
// GCE itself for those names; the CPU quota of a region is this host's CPU
// count, since that is what instances here share.
#include <cstdint>
#include <string>
#include <vector>

namespace vpcd::gce {

struct MachineType {
  std::string name;
  int guestCpus;
  int memoryMb;
  bool sharedCpu;
};

const std::vector<std::string>& regions();
// "us-central1-a" … for a region; all of them with an empty argument.
std::vector<std::string> zonesOf(const std::string& region = "");
// The region of a zone ("us-central1-a" -> "us-central1"); "" when not a zone.
std::string regionOfZone(const std::string& zone);
bool isRegion(const std::string& name);
const std::vector<MachineType>& machineTypes();
const MachineType* findMachineType(const std::string& name);

// A stable numeric id for a resource (GCE ids are uint64 as decimal text).
std::string idOf(const std::string& selfPath);

}  // namespace vpcd::gce
