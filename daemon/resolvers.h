#pragma once
// One DNS resolver per VPC (dnsmasq), run and supervised by vpcd in the
// VPC's router namespace, listening on the bridge's gateway addresses (so
// every subnet host and instance of the VPC reaches it at its gateway, and
// nothing outside the VPC does). It answers the VPC's names from host-records
// in its configuration and forwards the rest to the upstreams, with a cache.
// Part of the desired state: started with the VPC, restarted with a new
// configuration when names change, started again within a second when it
// dies, stopped before its namespace goes. docs/instances.md, "Names and DNS".
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/commands.h"
#include "lib/model/desired_state.h"

namespace vpcd {

class Resolvers {
 public:
  // `dir`: configuration, hosts files, pid records and logs (<dir>/<vpc>.conf,
  // .hosts, .pid, .log), in the runtime directory: dnsmasq reads its hosts
  // file after it dropped root.
  Resolvers(boost::asio::io_context& io, CommandRunner& runner, std::string netnsDir,
            std::string dir, std::string dnsmasq, std::vector<std::string> upstreams);
  ~Resolvers();

  // The running resolvers as `state` wants them (the VPCs whose subnets or
  // instances changed since the last call are looked at).
  void sync(const DesiredState& state);
  // A reconcile pass went over `namespaces`: a router made anew (deleted by
  // hand and rebuilt) gets its resolver started again inside it, since the
  // old process serves the old namespace; one that could not be started is
  // tried again.
  void recheck(const std::set<std::string>& namespaces);
  // Namespace `ns` is about to be deleted: its resolver ends first (a process
  // inside would keep the namespace, and its links, alive).
  void beforeNamespaceDelete(const std::string& ns);

  // The dnsmasq configuration of `vpc`, and its hosts file in `state`:
  // subnet hosts as <subnet>.<vpc>.internal (and <subnet>.<vpc>), instances
  // as <name>.<vpc>.internal and <name> at their first NIC in the VPC, every
  // NIC as <name>-eth<k>.<vpc>.internal (and <name>-eth<k>).
  static std::string configOf(const std::string& vpc, const std::string& dir,
                              const std::vector<std::string>& upstreams);
  static std::string hostsOf(const DesiredState& state, const std::string& vpc);

 private:
  struct Running {
    std::string config, hosts;
    int pid = 0;
    uint64_t startTime = 0;
    std::chrono::steady_clock::time_point startedAt{};
    // The router's namespace file (device, inode) it was started in: a
    // router made anew has another.
    std::pair<uint64_t, uint64_t> router{};
    std::unique_ptr<boost::asio::posix::stream_descriptor> exit;  // a pidfd
    std::unique_ptr<boost::asio::steady_timer> retry;
  };
  void schedule();
  void apply();
  void reload(const std::string& vpc, Running& r, const std::string& hosts);
  void writeHosts(const std::string& vpc, const std::string& hosts) const;
  void start(const std::string& vpc, Running& r);
  void end(const std::string& vpc, Running& r);  // the process, keeping the entry
  void stop(const std::string& vpc);             // process, files and entry
  void watchExit(const std::string& vpc, Running& r);
  void restartDead(const std::string& vpc, Running& r);
  bool adopt(const std::string& vpc, Running& r);
  std::string path(const std::string& vpc, const char* ext) const;
  bool inRouter(const std::string& vpc, int pid) const;
  std::pair<uint64_t, uint64_t> routerId(const std::string& vpc) const;  // {0, 0}: none

  boost::asio::io_context& io_;
  CommandRunner& runner_;
  std::string netnsDir_, dir_, dnsmasq_;
  std::vector<std::string> upstreams_;
  std::map<std::string, Running> running_;
  struct Wanted {
    std::string config, hosts;
  };
  std::map<std::string, Wanted> wanted_;
  std::set<std::string> dirty_;  // VPCs whose wanted resolver is to be applied
  DesiredState last_;
  bool scheduled_ = false;
};

// The host's upstream resolvers: the nameservers of /etc/resolv.conf, or,
// where that is systemd-resolved's stub (127.0.0.53), of the file with its
// real upstreams. Loopback addresses are left out: a router cannot reach
// them.
std::vector<std::string> hostUpstreams();

// The dnsmasq binary on PATH, or "".
std::string findDnsmasq();

}  // namespace vpcd
