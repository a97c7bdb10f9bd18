#include "daemon/netns_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "daemon/log.h"
#include "lib/model/names.h"

namespace vpcd {
namespace {

constexpr const char* kLocalhost = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n";

std::string resolvConf(const Ipv4& gateway, const std::set<std::string>& vpcs) {
  std::string search;
  for (const auto& v : vpcs) search += " " + vpcDomain(v);
  // One resolver, close by: no rotation, short timeouts.
  return "nameserver " + gateway.str() + "\nsearch" + search + "\noptions timeout:1 attempts:2\n";
}

}  // namespace

std::string vpcDomain(const std::string& vpc) {
  return vpc + ".internal";
}

std::map<std::string, NetnsFiles::Files> NetnsFiles::wanted(const DesiredState& state) const {
  std::map<std::string, Files> out;
  for (const auto& [name, vpc] : state.vpcs()) {
    for (const auto& s : vpc->subnets) {
      Files& f = out[subnetNamespace(name, s.name)];
      f["hosts"] = std::string(kLocalhost) + s.address().str() + "\t" + s.name + "." +
                   vpcDomain(name) + " " + s.name + "\n";
      if (resolver_) f["resolv.conf"] = resolvConf(s.gateway(), {name});
    }
  }
  for (const auto& [name, i] : state.instances()) {
    if (i->nics.empty()) continue;
    const Nic& primary = i->nics.front();
    Files& f = out[instanceNamespace(name)];
    // The qualified name first: `hostname -f` answers it.
    f["hosts"] = std::string(kLocalhost) + primary.ip.str() + "\t" + name + "." +
                 vpcDomain(primary.vpc) + " " + name + "\n";
    if (resolver_) f["resolv.conf"] = resolvConf(primary.gateway(), vpcsOf(*i));
  }
  return out;
}

std::map<std::string, std::string> NetnsFiles::filesOf(const DesiredState& state,
                                                       const std::string& ns, bool resolver) {
  auto all = NetnsFiles("", resolver).wanted(state);
  return all.count(ns) ? all.at(ns) : Files{};
}

void NetnsFiles::sync(const DesiredState& state) {
  auto want = wanted(state);
  ::mkdir(dir_.c_str(), 0755);
  for (const auto& [ns, files] : want) {
    Files& had = written_[ns];
    if (had == files) continue;
    std::string nsDir = dir_ + "/" + ns;
    ::mkdir(nsDir.c_str(), 0755);
    for (const auto& [file, content] : files) {
      if (had.count(file) && had.at(file) == content) continue;
      // In place, not renamed: a bind mount of the file (a running command's
      // /etc/hosts) follows the inode.
      std::ofstream out(nsDir + "/" + file, std::ios::trunc);
      out << content;
      if (!out) logLine(4, "cannot write " + nsDir + "/" + file);
    }
    had = files;
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    std::string nsDir = dir_ + "/" + it->first;
    for (const auto& [file, content] : it->second) ::unlink((nsDir + "/" + file).c_str());
    ::rmdir(nsDir.c_str());
    it = written_.erase(it);
  }
}

}  // namespace vpcd
