#pragma once
// Kernel change notifications, as file descriptors to poll: per watched
// namespace one rtnetlink socket (links, IPv4 addresses, IPv4 routes) and one
// nfnetlink socket (nftables), plus inotify on the netns directory (namespace
// files created or deleted, e.g. by `ip netns del`). Router namespaces also
// get an NFLOG socket for the packets policy rules log.
//
// A socket keeps its namespace alive: forget(ns) must run before a namespace
// is deleted, or the kernel could not destroy it.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "lib/kernel/netns.h"

namespace vpcd {

// The lines of the packets in an NFLOG datagram (what readLog reads), one
// per logged packet; bytes that are not NFLOG messages are skipped. Exposed
// for the fuzz target: these bytes come from the kernel, but a packet's
// contents come from whoever sent it.
std::vector<std::string> logLines(const char* buf, size_t size);

// Whether rtnetlink messages (one receive buffer) may say that something
// vpcd keeps changed. A bridge port's own notifications (RTM_NEWLINK and
// RTM_DELLINK of family AF_BRIDGE: its STP state and port flags, none of
// which vpcd sets) do not: the kernel sends one per port long after a build
// (linkwatch), and each made a drift pass over a whole VPC. A port leaving
// its bridge is also said by an AF_UNSPEC link message, which counts.
bool mayBeDrift(const char* buf, size_t size);

class EventSource {
 public:
  static inline const std::string kNetnsDirKey = "*netns-dir*";
  // The two sockets that hear every watched namespace (see below).
  static inline const std::string kAllKey = "*all-namespaces*";
  // Reported with the host when its default route, or a link, may have
  // changed: the uplink may have moved (daemon/engine.h followUplink). Not a
  // namespace, so a pass over the host does not discard it.
  static inline const std::string kUplinkKey = "*uplink*";

  explicit EventSource(std::string netnsDir);

  // Watches exactly `namespaces` (and always the host, ""): opens sockets for
  // new ones that exist, closes those no longer named.
  void watch(const std::set<std::string>& namespaces);
  // Starts watching `ns` if it exists and is not watched yet (a pass over a
  // few namespaces costs what it touches, not what the host holds).
  void watchOne(const std::string& ns);
  void forget(const std::string& ns);

  struct Watched {
    int fd;
    std::string ns;    // "" host, kNetnsDirKey for the inotify descriptor
    bool log = false;  // the NFLOG socket of a router (policy rules with "log")
  };
  std::vector<Watched> descriptors() const;
  std::vector<Watched> descriptorsOf(const std::string& ns) const;
  // The descriptors with something to read now, found without reading any
  // (one epoll_wait, not a read per namespace).
  std::vector<Watched> ready() const;

  // Reads everything pending on `fd`. Returns the namespaces that changed:
  // the socket's own namespace if any message arrived (or the queue
  // overflowed), or for inotify the names of namespace files that changed.
  std::set<std::string> drain(const Watched& w);

  // Reads the packets logged to kPolicyLogGroup on a log socket, one line
  // each: "<rule prefix>10.10.2.2:40112 -> 10.10.1.2:22 tcp".
  std::vector<std::string> readLog(const Watched& w);

 private:
  // One rtnetlink and one nftables socket in the daemon's own namespace hear
  // every namespace that has an id there (NETLINK_LISTEN_ALL_NSID; the
  // message's namespace comes as a control message). The kernel delivers a
  // notification by walking every socket subscribed to its group, on every
  // namespace: one socket per namespace made each notification cost what the
  // host holds. Only the NFLOG socket of a router lives in the router (a log
  // group is bound per namespace).
  struct Watch {
    int32_t nsid = -1;
    Fd nflog;  // routers only
  };
  void add(const Watched& w);
  // The id of `ns` in the daemon's namespace, assigned if it has none.
  int32_t nsidOf(const std::string& ns);
  std::set<std::string> drainAll(const Watched& w);

  NetnsDir dir_;
  Fd inotify_;
  Fd epoll_;  // every descriptor, level-triggered, for ready()
  std::map<int, Watched> byFd_;
  Fd allRoute_, allNft_;
  Fd rtnl_;                               // requests: RTM_NEWNSID, RTM_GETNSID
  std::map<std::string, Watch> watched_;  // by namespace ("" the host)
  std::map<int32_t, std::string> byNsid_;
};

}  // namespace vpcd
