#include "lib/kernel/event_source.h"

#include <arpa/inet.h>
#include <linux/net_namespace.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "lib/kernel/kernel.h"
#include "lib/kernel/netlink_socket.h"
#include "lib/model/names.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {
namespace {

Fd listenAll(Fd fd) {
  int one = 1;
  if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof one) != 0)
    throw KernelError("netlink listen all namespaces", "events", std::strerror(errno));
  return fd;
}

// RTM_NEWNSID or RTM_GETNSID for the namespace open at `nsFd`; returns the
// kernel's errno (0 on success) and, for GETNSID, the id.
int nsidRequest(int sock, uint16_t type, int nsFd, int32_t* id) {
  struct {
    nlmsghdr h;
    rtgenmsg g;
    char attrs[64];
  } req{};
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | (type == RTM_NEWNSID ? NLM_F_ACK : 0);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
  req.g.rtgen_family = AF_UNSPEC;
  auto put = [&](uint16_t attr, int32_t value) {
    auto* a =
        reinterpret_cast<nlattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.h.nlmsg_len));
    a->nla_type = attr;
    a->nla_len = NLA_HDRLEN + sizeof value;
    std::memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, &value, sizeof value);
    req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + NLA_ALIGN(a->nla_len);
  };
  put(NETNSA_FD, nsFd);
  if (type == RTM_NEWNSID) put(NETNSA_NSID, -1);  // -1: the kernel picks the lowest free id
  if (::send(sock, &req, req.h.nlmsg_len, 0) < 0) return errno;
  alignas(nlmsghdr) char buf[4096];
  for (;;) {
    ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf); messageFits(nlh, left);
         nlh = NLMSG_NEXT(nlh, left)) {
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        return -static_cast<nlmsgerr*>(NLMSG_DATA(nlh))->error;
      }
      if (nlh->nlmsg_type != RTM_NEWNSID) continue;
      int len = static_cast<int>(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(rtgenmsg)));
      auto* a = reinterpret_cast<nlattr*>(static_cast<char*>(NLMSG_DATA(nlh)) +
                                          NLMSG_ALIGN(sizeof(rtgenmsg)));
      for (; len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len;
           len -= NLA_ALIGN(a->nla_len),
           a = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(a) + NLA_ALIGN(a->nla_len))) {
        if ((a->nla_type & NLA_TYPE_MASK) == NETNSA_NSID && id)
          std::memcpy(id, reinterpret_cast<char*>(a) + NLA_HDRLEN, sizeof *id);
      }
      return 0;
    }
  }
}

// "10.10.2.2:40112 -> 10.10.1.2:22 tcp" from the start of an IPv4 packet.
std::string describePacket(const uint8_t* p, size_t len) {
  if (len < 20 || (p[0] >> 4) != 4) return "(not IPv4)";
  size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  auto addr = [&](size_t at) {
    return std::to_string(p[at]) + "." + std::to_string(p[at + 1]) + "." +
           std::to_string(p[at + 2]) + "." + std::to_string(p[at + 3]);
  };
  uint8_t proto = p[9];
  bool ports = (proto == IPPROTO_TCP || proto == IPPROTO_UDP) && len >= ihl + 4;
  auto port = [&](size_t at) { return ":" + std::to_string((p[ihl + at] << 8) | p[ihl + at + 1]); };
  std::string name = proto == IPPROTO_TCP    ? "tcp"
                     : proto == IPPROTO_UDP  ? "udp"
                     : proto == IPPROTO_ICMP ? "icmp"
                                             : "proto " + std::to_string(proto);
  return addr(12) + (ports ? port(0) : "") + " -> " + addr(16) + (ports ? port(2) : "") + " " +
         name;
}

// Logging is a convenience: a namespace where the group cannot be had is
// still watched for drift.
Fd tryNflog() {
  try {
    return nflogSocket(kPolicyLogGroup, 64);  // the IPv4 header and the ports
  } catch (const KernelError&) {
    return Fd();
  }
}

// A host message after which the device of the default route may differ:
// an IPv4 route of the main table with no destination (a default route),
// or a link (a link going away takes its routes without a route message).
bool mayMoveUplink(const char* buf, ssize_t n) {
  int left = static_cast<int>(n);
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); messageFits(h, left);
       h = NLMSG_NEXT(h, left)) {
    if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) return true;
    if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) continue;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) continue;
    const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
    // A table past 255 is in RTA_TABLE and rtm_table says RT_TABLE_COMPAT:
    // not the main table either way.
    if (r->rtm_family == AF_INET && r->rtm_dst_len == 0 && r->rtm_table == RT_TABLE_MAIN)
      return true;
  }
  return false;
}

}  // namespace

bool mayBeDrift(const char* buf, size_t size) {
  int left = static_cast<int>(std::min<size_t>(size, INT_MAX));
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); messageFits(h, left);
       h = NLMSG_NEXT(h, left)) {
    bool link = h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK;
    if (!link || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return true;
    if (static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_family != AF_BRIDGE) return true;
  }
  return left > 0;  // bytes that are no whole message: not known to be harmless
}

namespace {

bool isRouter(const std::string& ns) {
  return ownerOfNamespace(ns).kind == NamespaceOwner::Kind::Router;
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
  epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw KernelError("epoll", "events", std::strerror(errno));
  add({inotify_.get(), kNetnsDirKey});
  allRoute_ = listenAll(netlinkSocket(
      NETLINK_ROUTE,
      RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE | RTMGRP_TC, 0));
  allNft_ = listenAll(netlinkSocket(NETLINK_NETFILTER, 0, NFNLGRP_NFTABLES));
  add({allRoute_.get(), kAllKey});
  add({allNft_.get(), kAllKey});
  rtnl_ = Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!rtnl_) throw KernelError("netlink socket", "namespace ids", std::strerror(errno));
}

int32_t EventSource::nsidOf(const std::string& ns) {
  Fd nsFd = dir_.open(ns);
  int err = nsidRequest(rtnl_.get(), RTM_NEWNSID, nsFd.get(), nullptr);
  if (err && err != EEXIST)
    throw KernelError("assign namespace id", displayName(ns), std::strerror(err), err);
  int32_t id = -1;
  err = nsidRequest(rtnl_.get(), RTM_GETNSID, nsFd.get(), &id);
  if (err || id < 0)
    throw KernelError("read namespace id", displayName(ns), std::strerror(err ? err : ENOENT));
  return id;
}

void EventSource::add(const Watched& w) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = w.fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, w.fd, &ev) != 0)
    throw KernelError("epoll add", displayName(w.ns), std::strerror(errno));
  byFd_[w.fd] = w;
}

std::vector<EventSource::Watched> EventSource::ready() const {
  std::vector<epoll_event> evs(byFd_.size() + 1);
  int n = ::epoll_wait(epoll_.get(), evs.data(), static_cast<int>(evs.size()), 0);
  std::vector<Watched> out;
  for (int i = 0; i < n; ++i) {
    auto it = byFd_.find(evs[static_cast<size_t>(i)].data.fd);
    if (it != byFd_.end()) out.push_back(it->second);
  }
  return out;
}

void EventSource::watch(const std::set<std::string>& namespaces) {
  std::set<std::string> wanted = namespaces;
  wanted.insert("");
  for (auto it = watched_.begin(); it != watched_.end();) {
    std::string ns = it->first;
    ++it;
    if (!wanted.count(ns)) forget(ns);
  }
  for (const auto& ns : wanted) watchOne(ns);
}

void EventSource::watchOne(const std::string& ns) {
  if (watched_.count(ns) || (!ns.empty() && !dir_.exists(ns))) return;
  try {
    Watch w;
    // The daemon's own namespace: its messages carry no id.
    if (!ns.empty()) w.nsid = nsidOf(ns);
    if (isRouter(ns)) {
      Fd nsFd = dir_.open(ns);
      NetnsGuard in(nsFd.get());
      w.nflog = tryNflog();
    }
    if (w.nflog) add({w.nflog.get(), ns, true});
    if (w.nsid >= 0) byNsid_[w.nsid] = ns;  // an id freed by a dead namespace is reused
    watched_.emplace(ns, std::move(w));
  } catch (const KernelError&) {
    // Gone between the check and the open; the inotify event covers it.
    forget(ns);
  }
}

std::vector<EventSource::Watched> EventSource::descriptorsOf(const std::string& ns) const {
  auto it = watched_.find(ns);
  if (it == watched_.end() || !it->second.nflog) return {};
  return {{it->second.nflog.get(), ns, true}};
}

void EventSource::forget(const std::string& ns) {
  auto it = watched_.find(ns);
  if (it == watched_.end()) return;
  // Closing a descriptor takes it out of the epoll set.
  if (it->second.nflog) byFd_.erase(it->second.nflog.get());
  if (auto id = byNsid_.find(it->second.nsid); id != byNsid_.end() && id->second == ns)
    byNsid_.erase(id);
  watched_.erase(it);
}

std::vector<EventSource::Watched> EventSource::descriptors() const {
  std::vector<Watched> out{
      {inotify_.get(), kNetnsDirKey}, {allRoute_.get(), kAllKey}, {allNft_.get(), kAllKey}};
  for (const auto& [ns, w] : watched_) {
    if (w.nflog) out.push_back({w.nflog.get(), ns, true});
  }
  return out;
}

std::set<std::string> EventSource::drainAll(const Watched& w) {
  std::set<std::string> changed;
  alignas(nlmsghdr) char buf[64 * 1024];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int32_t))];
  for (;;) {
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(w.fd, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      // Overflow: something changed somewhere, and which is lost.
      for (const auto& [ns, watch] : watched_) changed.insert(ns);
      changed.insert(kUplinkKey);
      continue;
    }
    if (n <= 0) break;
    int32_t nsid = -1;  // no id: the daemon's own namespace
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_LISTEN_ALL_NSID)
        std::memcpy(&nsid, CMSG_DATA(c), sizeof nsid);
    }
    bool route = w.fd == allRoute_.get();
    if (nsid < 0) {
      if (route && mayMoveUplink(buf, n)) changed.insert(kUplinkKey);
      if (!route || mayBeDrift(buf, static_cast<size_t>(n))) changed.insert("");
    } else if (auto it = byNsid_.find(nsid); it != byNsid_.end()) {
      if (!route || mayBeDrift(buf, static_cast<size_t>(n))) changed.insert(it->second);
    }  // else: a namespace that is not ours (it has an id for another reason)
  }
  return changed;
}

std::set<std::string> EventSource::drain(const Watched& w) {
  if (w.ns == kAllKey) return drainAll(w);
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

std::vector<std::string> EventSource::readLog(const Watched& w) {
  std::vector<std::string> out;
  alignas(nlmsghdr) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(w.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      out.push_back("(log messages lost: receive queue overflowed)");
      continue;
    }
    if (n <= 0) break;
    auto lines = logLines(buf, static_cast<size_t>(n));
    out.insert(out.end(), lines.begin(), lines.end());
  }
  return out;
}

std::vector<std::string> logLines(const char* buf, size_t size) {
  std::vector<std::string> out;
  eachNflogPacket(buf, size, [&](std::string_view prefix, const uint8_t* data, size_t len) {
    out.push_back(std::string(prefix) + (data ? describePacket(data, len) : "(no payload)"));
  });
  return out;
}

}  // namespace vpcd
