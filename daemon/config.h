#pragma once
#include <string>

#include "lib/model/cidr.h"

namespace vpcd {

struct DaemonConfig {
  std::string socketPath = "/run/vpcd/vpcd.sock";
  std::string stateDir = "/var/lib/vpcd";
  std::string netnsDir = "/run/netns";
  std::string etcNetnsDir = "/etc/netns";   // per-namespace hosts files, as ip-netns reads them
  std::string uplink;                       // empty: the device of the default route at start
  Cidr transitPool{Ipv4{0xa9fe4000u}, 18};  // 169.254.64.0/18
  bool dryRun = false;
};

// Parses and checks --transit-pool; throws std::invalid_argument with a message.
Cidr parseTransitPool(const std::string& text);

}  // namespace vpcd
