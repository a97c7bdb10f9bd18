#include "daemon/config.h"

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace vpcd {

std::optional<nlohmann::json> readJsonObject(const std::string& path, const std::string& what,
                                             bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw std::invalid_argument(what + " " + path + ": cannot be read");
    return std::nullopt;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    // A parse error, or a number too large for any type (out_of_range 406:
    // the fuzz_files campaign found it ending the daemon uncaught).
    throw std::invalid_argument(what + " " + path + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw std::invalid_argument(what + " " + path + ": must be a JSON object");
  return doc;
}

void applyConfigFile(DaemonConfig& config, const std::string& path, bool required) {
  auto file = readJsonObject(path, "config", required);
  if (!file) return;
  const nlohmann::json& doc = *file;
  std::map<std::string, std::string*> strings{{"socket", &config.socketPath},
                                              {"state_dir", &config.stateDir},
                                              {"uplink", &config.uplink},
                                              {"transit_pool", &config.transitPoolText},
                                              {"netns_dir", &config.netnsDir},
                                              {"etc_netns_dir", &config.etcNetnsDir},
                                              {"run_dir", &config.runDir},
                                              {"log_level", &config.logLevel},
                                              {"api_group", &config.apiGroup},
                                              {"roles_file", &config.rolesFile},
                                              {"mount_namespace", &config.mountNamespace},
                                              {"listen", &config.listen},
                                              {"token_file", &config.tokenFile},
                                              {"audit_log", &config.auditLog}};
  for (const auto& [key, value] : doc.items()) {
    std::string where = "config " + path + ": \"" + key + "\"";
    if (key == "dry_run" || key == "docker_compat" || key == "dns") {
      if (!value.is_boolean()) throw std::invalid_argument(where + " must be true or false");
      (key == "dry_run" ? config.dryRun
       : key == "dns"   ? config.dns
                        : config.dockerCompat) = value.get<bool>();
    } else if (key == "api_timeout_s" || key == "api_max_connections") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 100000)
        throw std::invalid_argument(where + " must be a whole number from 1 to 100000");
      (key == "api_timeout_s" ? config.apiTimeoutSeconds : config.apiMaxConnections) =
          value.get<int>();
    } else if (key == "dns_upstreams") {
      if (!value.is_array()) throw std::invalid_argument(where + " must be a list of addresses");
      config.dnsUpstreams.clear();
      for (const auto& a : value) {
        if (!a.is_string() || !Ipv4::parse(a.get<std::string>()))
          throw std::invalid_argument(where + " must be a list of IPv4 addresses");
        config.dnsUpstreams.push_back(a.get<std::string>());
      }
    } else if (auto it = strings.find(key); it != strings.end()) {
      if (!value.is_string()) throw std::invalid_argument(where + " must be a string");
      *it->second = value.get<std::string>();
      if (key == "roles_file") config.rolesFileGiven = true;
    } else {
      throw std::invalid_argument(where + " is not a setting");
    }
  }
}

Cidr parseTransitPool(const std::string& text) {
  auto pool = Cidr::parse(text);
  if (!pool || !pool->isNetwork()) {
    throw std::invalid_argument("--transit-pool: \"" + text +
                                "\" is not an IPv4 network (a.b.c.d/n)");
  }
  if (pool->prefix > 30) {
    throw std::invalid_argument("--transit-pool: " + text +
                                " is smaller than one /30 transit link");
  }
  return *pool;
}

}  // namespace vpcd
