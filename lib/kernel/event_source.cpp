#include "lib/kernel/event_source.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/kernel/kernel.h"

namespace vpcd {
namespace {

Fd netlinkSocket(int protocol, uint32_t groups, int extraGroup) {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  if (!fd) throw KernelError("netlink socket", "events", std::strerror(errno));
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw KernelError("netlink bind", "events", std::strerror(errno));
  }
  if (extraGroup && ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &extraGroup,
                                 sizeof extraGroup) != 0) {
    throw KernelError("netlink join group", "events", std::strerror(errno));
  }
  // Bursts (a namespace with hundreds of links going away) must not be lost:
  // an overflow is still reported as a change, but a larger queue avoids it.
  int size = 1 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return fd;
}

}  // namespace

EventSource::EventSource(std::string netnsDir) : dir_(std::move(netnsDir)) {
  ::mkdir(dir_.path().c_str(), 0755);
  inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) throw KernelError("inotify", dir_.path(), std::strerror(errno));
  if (::inotify_add_watch(inotify_.get(), dir_.path().c_str(),
                          IN_CREATE | IN_DELETE | IN_MOVED_FROM) < 0) {
    throw KernelError("inotify watch", dir_.path(), std::strerror(errno));
  }
}

EventSource::Sockets EventSource::open(const std::string& ns) {
  Fd nsFd = dir_.open(ns);
  NetnsGuard in(ns.empty() ? -1 : nsFd.get());
  return Sockets{
      netlinkSocket(NETLINK_ROUTE, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE, 0),
      netlinkSocket(NETLINK_NETFILTER, 0, NFNLGRP_NFTABLES)};
}

void EventSource::watch(const std::set<std::string>& namespaces) {
  std::set<std::string> wanted = namespaces;
  wanted.insert("");
  for (auto it = sockets_.begin(); it != sockets_.end();) {
    it = wanted.count(it->first) ? std::next(it) : sockets_.erase(it);
  }
  for (const auto& ns : wanted) {
    if (sockets_.count(ns) || (!ns.empty() && !dir_.exists(ns))) continue;
    try {
      sockets_.emplace(ns, open(ns));
    } catch (const KernelError&) {
      // Gone between the check and the open; the inotify event covers it.
    }
  }
}

void EventSource::forget(const std::string& ns) {
  sockets_.erase(ns);
}

std::vector<EventSource::Watched> EventSource::descriptors() const {
  std::vector<Watched> out{{inotify_.get(), kNetnsDirKey}};
  for (const auto& [ns, s] : sockets_) {
    out.push_back({s.route.get(), ns});
    out.push_back({s.nft.get(), ns});
  }
  return out;
}

std::set<std::string> EventSource::drain(const Watched& w) {
  std::set<std::string> changed;
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(w.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      changed.insert(w.ns);  // overflow: something changed, we lost what
      continue;
    }
    if (n <= 0) break;
    if (w.ns != kNetnsDirKey) {
      changed.insert(w.ns);
      continue;
    }
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      if (e->len > 0) changed.insert(e->name);
      p += sizeof(inotify_event) + e->len;
    }
  }
  return changed;
}

}  // namespace vpcd
