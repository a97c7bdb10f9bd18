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

NetnsFiles::NetnsFiles(std::string etcNetnsDir, bool resolver)
    : dir_(std::move(etcNetnsDir)), resolver_(resolver) {
  ::mkdir(dir_.c_str(), 0755);  // iproute2 makes it only when it needs it
}

std::string vpcDomain(const std::string& vpc) {
  return vpc + ".internal";
}

NetnsFiles::Files NetnsFiles::subnetFiles(const Vpc& vpc, const Subnet& s, bool resolver) {
  Files f;
  f["hosts"] = std::string(kLocalhost) + s.address().str() + "\t" + s.name + "." +
               vpcDomain(vpc.name) + " " + s.name + "\n";
  if (resolver) f["resolv.conf"] = resolvConf(s.gateway(), {vpc.name});
  return f;
}

NetnsFiles::Files NetnsFiles::instanceFiles(const Instance& i, bool resolver) {
  Files f;
  if (i.nics.empty()) return f;
  const Nic& primary = i.nics.front();
  // The qualified name first: `hostname -f` answers it.
  f["hosts"] = std::string(kLocalhost) + primary.ip.str() + "\t" + i.name + "." +
               vpcDomain(primary.vpc) + " " + i.name + "\n";
  if (resolver) f["resolv.conf"] = resolvConf(primary.gateway(), vpcsOf(i));
  return f;
}

std::map<std::string, std::string> NetnsFiles::filesOf(const DesiredState& state,
                                                       const std::string& ns, bool resolver) {
  for (const auto& [name, vpc] : state.vpcs()) {
    for (const auto& s : vpc->subnets) {
      if (subnetNamespace(name, s.name) == ns) return subnetFiles(*vpc, s, resolver);
    }
  }
  for (const auto& [name, i] : state.instances()) {
    if (instanceNamespace(name) == ns) return instanceFiles(*i, resolver);
  }
  return {};
}

void NetnsFiles::sync(const DesiredState& state) {
  // Only the namespaces of what changed since the last state.
  eachChange(last_.vpcs(), state.vpcs(), [&](const Vpc* before, const Vpc* after) {
    if (before) {
      for (const auto& s : before->subnets) {
        if (!after || !after->findSubnet(s.name)) write(subnetNamespace(before->name, s.name), {});
      }
    }
    if (after) {
      for (const auto& s : after->subnets)
        write(subnetNamespace(after->name, s.name), subnetFiles(*after, s, resolver_));
    }
  });
  eachChange(last_.instances(), state.instances(),
             [&](const Instance* before, const Instance* after) {
               const Instance& i = after ? *after : *before;
               write(instanceNamespace(i.name), after ? instanceFiles(*after, resolver_) : Files{});
             });
  last_ = state;
}

void NetnsFiles::write(const std::string& ns, const Files& files) {
  Files& had = written_[ns];
  std::string nsDir = dir_ + "/" + ns;
  if (files.empty()) {
    for (const auto& [file, content] : had) ::unlink((nsDir + "/" + file).c_str());
    ::rmdir(nsDir.c_str());
    written_.erase(ns);
    return;
  }
  if (had == files) return;
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

}  // namespace vpcd
