#include "daemon/gce/catalog.h"

#include <algorithm>

namespace vpcd::gce {

const std::vector<std::string>& regions() {
  // The regions of GCE's auto-mode subnet ranges (docs/gce.md).
  static const std::vector<std::string> kRegions{"us-central1", "europe-west1", "us-west1",
                                                 "asia-east1", "us-east1"};
  return kRegions;
}

std::vector<std::string> zonesOf(const std::string& region) {
  std::vector<std::string> out;
  for (const auto& r : regions()) {
    if (!region.empty() && r != region) continue;
    for (const char* suffix : {"-a", "-b", "-c"}) out.push_back(r + suffix);
  }
  return out;
}

bool isRegion(const std::string& name) {
  return std::find(regions().begin(), regions().end(), name) != regions().end();
}

std::string regionOfZone(const std::string& zone) {
  size_t dash = zone.rfind('-');
  if (dash == std::string::npos || zone.size() != dash + 2) return "";
  std::string region = zone.substr(0, dash);
  char letter = zone.back();
  return isRegion(region) && letter >= 'a' && letter <= 'c' ? region : "";
}

const std::vector<MachineType>& machineTypes() {
  // GCE's figures for these types.
  static const std::vector<MachineType> kTypes{
      {"e2-micro", 2, 1024, true},        {"e2-small", 2, 2048, true},
      {"e2-medium", 2, 4096, true},       {"e2-standard-2", 2, 8192, false},
      {"e2-standard-4", 4, 16384, false}, {"e2-standard-8", 8, 32768, false},
      {"n1-standard-1", 1, 3840, false},  {"n1-standard-2", 2, 7680, false},
      {"n1-standard-4", 4, 15360, false}, {"n1-standard-8", 8, 30720, false},
      {"n2-standard-2", 2, 8192, false},  {"n2-standard-4", 4, 16384, false},
      {"n2-standard-8", 8, 32768, false}};
  return kTypes;
}

const MachineType* findMachineType(const std::string& name) {
  for (const auto& m : machineTypes()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string idOf(const std::string& selfPath) {
  // FNV-1a: the same name always has the same id, across restarts.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : selfPath) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return std::to_string(h >> 1);
}

}  // namespace vpcd::gce
