#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

inline constexpr const char* kDefaultConfigFile = "/etc/vpcd/vpcd.json";

struct DaemonConfig {
  std::string socketPath = "/run/vpcd/vpcd.sock";
  std::string stateDir = "/var/lib/vpcd";
  std::string netnsDir = "/run/netns";
  std::string runDir = "/run/vpcd";        // runtime files others read (the resolvers')
  std::string etcNetnsDir = "/etc/netns";  // per-namespace hosts files, as ip-netns reads them
  std::string uplink;         // empty: the device of the default route, followed as it moves
  bool uplinkPinned = false;  // --uplink or "uplink" named it: never followed
  Cidr transitPool{Ipv4{0xa9fe4000u}, 18};  // 169.254.64.0/18
  bool dryRun = false;
  std::string transitPoolText = "169.254.64.0/18";  // parsed into transitPool at start
  std::string logLevel = "info";
  std::string apiGroup = "vpcd";                   // members may change things through the API
  std::string rolesFile = "/etc/vpcd/roles.json";  // optional grants (docs/permissions.md)
  bool rolesFileGiven = false;                     // then it must exist
  bool dockerCompat = false;
  // Where namespace names are mounted: empty for vpcd's own mount namespace;
  // /proc/1/ns/mnt under a systemd unit with a mount namespace of its own.
  std::string mountNamespace;  // accept transit links in Docker's DOCKER-USER chain
  // Where the VPC resolvers forward what is not a VPC name; empty: the
  // host's resolvers (hostUpstreams()).
  std::vector<std::string> dnsUpstreams;
  bool dns = true;  // a resolver per VPC (needs dnsmasq)
  // The API's connections: a request (its header, then its body) must
  // arrive within this many seconds, an idle keep-alive connection is
  // closed after it; at most this many connections at once.
  int apiTimeoutSeconds = 30;
  int apiMaxConnections = 256;
  // An HTTP listener beside the socket ("ADDR:PORT"; empty: none), whose
  // clients must send the token in `tokenFile` (daemon/token.h).
  std::string listen;
  std::string tokenFile = "/etc/vpcd/token";
  // One JSON line per change asked of the API; empty: <state-dir>/audit.log.
  std::string auditLog;
};

// A JSON object from a file; nullopt when the file is missing and not
// `required`. Errors (std::invalid_argument) start "<what> <path>: ".
std::optional<nlohmann::json> readJsonObject(const std::string& path, const std::string& what,
                                             bool required);

// Settings from a JSON config file ({"socket", "state_dir", "uplink",
// "transit_pool", "netns_dir", "etc_netns_dir", "run_dir", "log_level", "api_group",
// "roles_file", "mount_namespace", "docker_compat", "dry_run", "dns",
// "dns_upstreams", "api_timeout_s", "api_max_connections", "listen", "token_file", "audit_log"}) on
// top of `config`. A missing file is fine unless `required`; an unknown key
// or a value of the wrong type throws std::invalid_argument naming it.
void applyConfigFile(DaemonConfig& config, const std::string& path, bool required);

// Parses and checks --transit-pool; throws std::invalid_argument with a message.
Cidr parseTransitPool(const std::string& text);

}  // namespace vpcd
