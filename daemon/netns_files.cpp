#include "daemon/netns_files.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

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

constexpr uint32_t kDirEvents = IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR;
constexpr uint32_t kFileEvents = IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                                 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

std::string contentOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "\x01missing";  // never a file's content
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

NetnsFiles::NetnsFiles(boost::asio::io_context& io, std::string etcNetnsDir, bool resolver)
    : dir_(std::move(etcNetnsDir)), resolver_(resolver), inotify_(io), settle_(io) {
  ::mkdir(dir_.c_str(), 0755);  // iproute2 makes it only when it needs it
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    logLine(4, std::string("no inotify (") + std::strerror(errno) + "): files under " + dir_ +
                   " changed by hand are not repaired");
    return;
  }
  inotify_.assign(fd);
  watch("");
  readEvents();
}

void NetnsFiles::watch(const std::string& ns) {
  if (!inotify_.is_open() || watchOf_.count(ns)) return;
  std::string path = ns.empty() ? dir_ : dir_ + "/" + ns;
  int wd = ::inotify_add_watch(inotify_.native_handle(), path.c_str(),
                               ns.empty() ? kDirEvents : kFileEvents);
  if (wd < 0) {
    logLine(4, "cannot watch " + path + ": " + std::strerror(errno));
    return;
  }
  watched_[wd] = ns;
  watchOf_[ns] = wd;
}

void NetnsFiles::readEvents() {
  inotify_.async_read_some(
      boost::asio::buffer(events_), [this](boost::system::error_code ec, size_t n) {
        if (ec) return;
        for (size_t at = 0; at < n;) {
          inotify_event e{};
          std::memcpy(&e, events_ + at, sizeof e);
          std::string name = e.len ? std::string(events_ + at + sizeof e) : "";
          at += sizeof e + e.len;
          auto it = watched_.find(e.wd);
          if (it == watched_.end()) continue;
          std::string ns = it->second.empty() ? name : it->second;
          if (e.mask & IN_IGNORED) {  // its directory is gone: watched again once rewritten
            watchOf_.erase(it->second);
            watched_.erase(it);
          }
          if (written_.count(ns)) touched_.insert(ns);
        }
        if (!touched_.empty()) {
          settle_.expires_after(std::chrono::milliseconds(100));
          settle_.async_wait([this](boost::system::error_code tec) {
            if (!tec) repair();
          });
        }
        readEvents();
      });
}

void NetnsFiles::repair() {
  for (const auto& ns : touched_) {
    auto it = written_.find(ns);
    if (it == written_.end()) continue;
    std::string nsDir = dir_ + "/" + ns;
    ::mkdir(nsDir.c_str(), 0755);
    watch(ns);
    for (const auto& [file, content] : it->second) {
      std::string path = nsDir + "/" + file;
      if (contentOf(path) == content) continue;
      logLine(5, "drift repair: " + path + " was changed or removed by hand, written again");
      writeFile(path, content);
    }
  }
  touched_.clear();
}

void NetnsFiles::writeFile(const std::string& path, const std::string& content) {
  // In place, not renamed: a bind mount of the file (a running command's
  // /etc/hosts) follows the inode.
  std::ofstream out(path, std::ios::trunc);
  out << content;
  if (!out) logLine(4, "cannot write " + path);
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
    if (auto w = watchOf_.find(ns); w != watchOf_.end()) {
      ::inotify_rm_watch(inotify_.native_handle(), w->second);
      watched_.erase(w->second);
      watchOf_.erase(w);
    }
    for (const auto& [file, content] : had) ::unlink((nsDir + "/" + file).c_str());
    ::rmdir(nsDir.c_str());
    written_.erase(ns);
    return;
  }
  if (had == files) return;
  ::mkdir(nsDir.c_str(), 0755);
  watch(ns);
  for (const auto& [file, content] : files) {
    if (had.count(file) && had.at(file) == content) continue;
    writeFile(nsDir + "/" + file, content);
  }
  had = files;
}

}  // namespace vpcd
