#include "daemon/resolvers.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <fstream>
#include <sstream>

#include "daemon/log.h"
#include "daemon/netns_files.h"
#include "lib/model/names.h"

namespace vpcd {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A resolver that dies at once is started again at most once a second.
constexpr auto kRestartSpacing = std::chrono::seconds(1);
// How long a new dnsmasq is given before it is sent SIGHUP.
constexpr auto kSettle = std::chrono::milliseconds(300);

}  // namespace

Resolvers::Resolvers(boost::asio::io_context& io, CommandRunner& runner, std::string netnsDir,
                     std::string dir, std::string dnsmasq, std::vector<std::string> upstreams)
    : io_(io),
      runner_(runner),
      netnsDir_(std::move(netnsDir)),
      dir_(std::move(dir)),
      dnsmasq_(std::move(dnsmasq)),
      upstreams_(std::move(upstreams)) {
  // Traversable: dnsmasq reads its hosts file here as nobody.
  ::mkdir(dir_.substr(0, dir_.rfind('/')).c_str(), 0755);
  ::mkdir(dir_.c_str(), 0755);
  ::chmod(dir_.c_str(), 0755);
}

// The resolvers stay when vpcd stops, as the rest of the network does; the
// next vpcd adopts them by their pid records.
Resolvers::~Resolvers() = default;

std::string Resolvers::path(const std::string& vpc, const char* ext) const {
  return dir_ + "/" + vpc + ext;
}

std::string Resolvers::configOf(const std::string& vpc, const std::string& dir,
                                const std::vector<std::string>& upstreams) {
  const std::string domain = vpcDomain(vpc);
  // No /etc/hosts or resolv.conf of the host, no DHCP; only the bridge's
  // addresses (the gateways), followed as subnets come and go. The names are
  // in the hosts file, read again on SIGHUP.
  std::string c = "# vpcd: the resolver of VPC " + vpc + " (generated)\n" +
                  "no-resolv\nno-hosts\nno-poll\ninterface=br0\nbind-dynamic\n" +
                  "domain-needed\nbogus-priv\ncache-size=1000\n" + "domain=" + domain +
                  "\nlocal=/" + domain + "/\naddn-hosts=" + dir + "/" + vpc + ".hosts\n" +
                  "pid-file=" + dir + "/" + vpc + ".dnsmasq.pid\n";
  for (const auto& u : upstreams) c += "server=" + u + "\n";
  return c;
}

std::string Resolvers::hostsOf(const DesiredState& state, const std::string& vpc) {
  const std::string domain = vpcDomain(vpc);
  std::string h;
  for (const auto& s : state.vpc(vpc).subnets)
    h += s.address().str() + "\t" + s.name + "." + domain + " " + s.name + "." + vpc + "\n";
  for (const auto& [name, i] : state.instances()) {
    bool named = false;
    for (const auto& n : i->nics) {
      if (n.vpc != vpc) continue;
      // The instance's own name first, at its first NIC here: the PTR answer.
      std::string nic = name + "-" + n.name;
      h += n.ip.str() + "\t" + (named ? "" : name + "." + domain + " " + name + " ") + nic + "." +
           domain + " " + nic + "\n";
      named = true;
    }
  }
  return h;
}

void Resolvers::sync(const DesiredState& state) {
  // Only the VPCs whose subnets or instances changed since the last state.
  std::set<std::string> touched;
  eachChange(last_.vpcs(), state.vpcs(), [&](const Vpc* before, const Vpc* after) {
    touched.insert((after ? after : before)->name);
  });
  eachChange(last_.instances(), state.instances(),
             [&](const Instance* before, const Instance* after) {
               for (const Instance* i : {before, after}) {
                 if (!i) continue;
                 auto vpcs = vpcsOf(*i);
                 touched.insert(vpcs.begin(), vpcs.end());
               }
             });
  last_ = state;
  for (const auto& vpc : touched) {
    if (!state.findVpc(vpc)) {
      wanted_.erase(vpc);
      dirty_.erase(vpc);
      stop(vpc);
      continue;
    }
    wanted_[vpc] = {configOf(vpc, dir_, upstreams_), hostsOf(state, vpc)};
    dirty_.insert(vpc);
  }
  schedule();
}

// Started or restarted after the answer has gone out, once for any number
// of changes in a row.
void Resolvers::schedule() {
  if (scheduled_ || dirty_.empty()) return;
  scheduled_ = true;
  boost::asio::post(io_, [this] {
    scheduled_ = false;
    apply();
  });
}

void Resolvers::apply() {
  std::set<std::string> dirty;
  dirty.swap(dirty_);
  for (const auto& vpc : dirty) {
    auto w = wanted_.find(vpc);
    if (w == wanted_.end()) continue;
    const Wanted& want = w->second;
    Running& r = running_[vpc];
    if (r.pid == 0 && !r.retry && !adopt(vpc, r)) r.config.clear();
    if (r.pid != 0 && r.config == want.config) {
      if (r.hosts != want.hosts) reload(vpc, r, want.hosts);
      continue;
    }
    if (r.retry && r.pid == 0) {  // a restart is already due: with what is wanted now
      r.config = want.config;
      r.hosts = want.hosts;
      continue;
    }
    end(vpc, r);
    r.config = want.config;
    r.hosts = want.hosts;
    start(vpc, r);
  }
}

// New names: the hosts file replaced, and SIGHUP (dnsmasq reads it again and
// clears its cache). Not in the first moments of a process, before dnsmasq
// handles the signal (SIGHUP would end it).
void Resolvers::reload(const std::string& vpc, Running& r, const std::string& hosts) {
  writeHosts(vpc, hosts);
  r.hosts = hosts;
  if (r.retry) return;  // a SIGHUP is due already, and reads this file
  auto age = std::chrono::steady_clock::now() - r.startedAt;
  if (age >= kSettle) {
    ::kill(r.pid, SIGHUP);
    return;
  }
  r.retry = std::make_unique<boost::asio::steady_timer>(io_, kSettle - age);
  int pid = r.pid;
  r.retry->async_wait([this, vpc, pid](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = running_.find(vpc);
    if (it == running_.end() || it->second.pid != pid) return;
    it->second.retry.reset();
    ::kill(pid, SIGHUP);
  });
}

void Resolvers::writeHosts(const std::string& vpc, const std::string& hosts) const {
  // Readable by dnsmasq after it dropped root (it runs as nobody).
  std::string tmp = path(vpc, ".hosts.tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << hosts;
  }
  ::chmod(tmp.c_str(), 0644);
  ::rename(tmp.c_str(), path(vpc, ".hosts").c_str());
}

bool Resolvers::adopt(const std::string& vpc, Running& r) {
  std::istringstream record(readFile(path(vpc, ".pid")));
  int pid = 0;
  uint64_t startTime = 0;
  if (!(record >> pid >> startTime) || !CommandRunner::alive(pid, startTime)) return false;
  if (!inRouter(vpc, pid)) {  // its router was made anew while vpcd was away
    runner_.stop(pid, startTime, path(vpc, ".log"), std::chrono::seconds(1));
    return false;
  }
  r.pid = pid;
  r.startTime = startTime;
  r.router = routerId(vpc);
  r.config = readFile(path(vpc, ".conf"));
  r.hosts = readFile(path(vpc, ".hosts"));
  watchExit(vpc, r);
  return true;
}

void Resolvers::start(const std::string& vpc, Running& r) {
  try {
    std::ofstream(path(vpc, ".conf"), std::ios::trunc) << r.config;
    writeHosts(vpc, r.hosts);
    r.router = routerId(vpc);
    auto started = runner_.start(
        routerNamespace(vpc),
        {dnsmasq_, "--conf-file=" + path(vpc, ".conf"), "--keep-in-foreground", "--log-facility=-"},
        path(vpc, ".log"));
    r.pid = started.pid;
    r.startTime = started.startTime;
    r.startedAt = std::chrono::steady_clock::now();
    std::ofstream(path(vpc, ".pid"), std::ios::trunc) << r.pid << " " << r.startTime << "\n";
    watchExit(vpc, r);
  } catch (const std::exception& e) {
    // Its router may be missing after a failed pass; the next sync tries again.
    logLine(3, "resolver of VPC " + vpc + " not started: " + e.what());
    r.pid = 0;
  }
}

void Resolvers::watchExit(const std::string& vpc, Running& r) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, r.pid, 0));
  if (fd < 0) return;
  r.exit = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);
  int pid = r.pid;
  r.exit->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, vpc, pid](const boost::system::error_code& ec) {
                       if (ec) return;  // stopped on purpose
                       auto it = running_.find(vpc);
                       if (it == running_.end() || it->second.pid != pid) return;
                       restartDead(vpc, it->second);
                     });
}

void Resolvers::restartDead(const std::string& vpc, Running& r) {
  logLine(4, "resolver of VPC " + vpc + " (pid " + std::to_string(r.pid) +
                 ") ended; starting it again");
  r.exit.reset();
  r.pid = 0;
  auto since = std::chrono::steady_clock::now() - r.startedAt;
  if (since >= kRestartSpacing) {
    start(vpc, r);
    return;
  }
  r.retry = std::make_unique<boost::asio::steady_timer>(io_, kRestartSpacing - since);
  r.retry->async_wait([this, vpc](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = running_.find(vpc);
    if (it == running_.end()) return;
    it->second.retry.reset();
    start(vpc, it->second);
  });
}

void Resolvers::end(const std::string& vpc, Running& r) {
  r.exit.reset();
  r.retry.reset();
  if (r.pid) runner_.stop(r.pid, r.startTime, path(vpc, ".log"), std::chrono::seconds(1));
  r.pid = 0;
}

void Resolvers::stop(const std::string& vpc) {
  auto it = running_.find(vpc);
  if (it == running_.end()) return;
  end(vpc, it->second);
  for (const char* ext : {".conf", ".hosts", ".pid", ".dnsmasq.pid"})
    ::unlink(path(vpc, ext).c_str());
  running_.erase(it);
}

std::pair<uint64_t, uint64_t> Resolvers::routerId(const std::string& vpc) const {
  struct stat st {};
  if (::stat((netnsDir_ + "/" + routerNamespace(vpc)).c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

bool Resolvers::inRouter(const std::string& vpc, int pid) const {
  struct stat router {
  }, process{};
  if (::stat((netnsDir_ + "/" + routerNamespace(vpc)).c_str(), &router) != 0) return false;
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &process) != 0) return false;
  return router.st_ino == process.st_ino && router.st_dev == process.st_dev;
}

void Resolvers::recheck(const std::set<std::string>& namespaces) {
  for (auto& [vpc, r] : running_) {
    if (!namespaces.count(routerNamespace(vpc))) continue;
    if (r.pid == 0) {
      // One that could not be started (its router was missing): try again.
      if (!r.retry) dirty_.insert(vpc);
      continue;
    }
    // By the router's file, not the process's namespace: a process just
    // started may not have entered the router yet.
    if (routerId(vpc) == r.router) continue;
    logLine(4, "resolver of VPC " + vpc + " is in a router that is gone; starting it anew");
    end(vpc, r);
    dirty_.insert(vpc);
  }
  schedule();
}

void Resolvers::beforeNamespaceDelete(const std::string& ns) {
  NamespaceOwner owner = ownerOfNamespace(ns);
  if (owner.vpc.empty() || ns != routerNamespace(owner.vpc)) return;
  auto it = running_.find(owner.vpc);
  if (it != running_.end()) end(owner.vpc, it->second);
}

std::vector<std::string> hostUpstreams() {
  auto nameservers = [](const std::string& file) {
    std::vector<std::string> out;
    std::istringstream lines(readFile(file));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string key, addr;
      if (words >> key >> addr && key == "nameserver") out.push_back(addr);
    }
    return out;
  };
  auto found = nameservers("/etc/resolv.conf");
  if (std::find(found.begin(), found.end(), "127.0.0.53") != found.end())
    found = nameservers("/run/systemd/resolve/resolv.conf");
  std::erase_if(found, [](const std::string& a) { return a.rfind("127.", 0) == 0 || a == "::1"; });
  return found;
}

std::string findDnsmasq() {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"}) {
    std::string p = std::string(dir) + "/dnsmasq";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

}  // namespace vpcd
