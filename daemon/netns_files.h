#pragma once
// The /etc files of every namespace vpcd makes, in the etc-netns directory
// where `ip netns exec` (and instance commands) find them:
//   <subnet host vpc-<vpc>.<subnet>>/hosts        localhost, <subnet>.<vpc>.internal
//   <instance vm-<name>>/hosts                     localhost, <name>.<vpc>.internal <name>
//   both: resolv.conf                              the VPC resolver at the gateway (.1)
// Rewritten in place (a running command sees the change) only where their
// content changed; removed with their namespace. They are vpcd's, like the
// namespaces: one deleted or edited by hand (inotify tells) is written back
// within a second, and the repair logged.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <set>
#include <string>

#include "lib/model/desired_state.h"

namespace vpcd {

class NetnsFiles {
 public:
  // `resolver`: whether the VPCs have resolvers, so resolv.conf is written.
  NetnsFiles(boost::asio::io_context& io, std::string etcNetnsDir, bool resolver);
  NetnsFiles(const NetnsFiles&) = delete;

  // The files as `state` has them: those of the namespaces whose object
  // changed since the last call are written or removed.
  void sync(const DesiredState& state);

  // The files of one namespace, by name (hosts, resolv.conf), for tests.
  static std::map<std::string, std::string> filesOf(const DesiredState& state,
                                                    const std::string& ns, bool resolver);

 private:
  using Files = std::map<std::string, std::string>;  // file name -> content
  static Files subnetFiles(const Vpc& vpc, const Subnet& s, bool resolver);
  static Files instanceFiles(const Instance& i, bool resolver);
  // Writes what differs from what was written; no files: removes them all.
  void write(const std::string& ns, const Files& files);
  void writeFile(const std::string& path, const std::string& content);

  // Drift: a watch on the directory and on each namespace's, the namespaces
  // they name marked, and those compared with what they should hold a
  // moment later (our own writes come back as events too, and find nothing
  // to do).
  void watch(const std::string& ns);
  void readEvents();
  void repair();

  std::string dir_;
  bool resolver_;
  DesiredState last_;
  std::map<std::string, Files> written_;  // by namespace
  boost::asio::posix::stream_descriptor inotify_;
  std::map<int, std::string> watched_;  // watch descriptor -> namespace ("" the directory)
  std::map<std::string, int> watchOf_;
  std::set<std::string> touched_;
  boost::asio::steady_timer settle_;
  char events_[8192];
};

// "<vpc>.internal": the DNS domain of a VPC's names.
std::string vpcDomain(const std::string& vpc);

}  // namespace vpcd
