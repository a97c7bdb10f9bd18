#include "lib/kernel/conntrack.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "lib/kernel/kernel.h"
#include "lib/kernel/netlink_socket.h"

namespace vpcd {

namespace {

ConnectionCount entryOf(const nf_conntrack* ct) {
  ConnectionCount e;
  e.id = nfct_get_attr_u32(ct, ATTR_ID);
  e.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  e.origSrc = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
  e.origDst = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  e.replySrc = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  e.replyDst = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST));
  bool ports = e.proto == IPPROTO_TCP || e.proto == IPPROTO_UDP || e.proto == IPPROTO_SCTP ||
               e.proto == IPPROTO_UDPLITE;
  if (ports) {
    e.origSport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    e.origDport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    e.replySport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
    e.replyDport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
  }
  auto u64 = [&](nf_conntrack_attr a) {
    return nfct_attr_is_set(ct, a) > 0 ? nfct_get_attr_u64(ct, a) : 0;
  };
  e.origPackets = u64(ATTR_ORIG_COUNTER_PACKETS);
  e.origBytes = u64(ATTR_ORIG_COUNTER_BYTES);
  e.replyPackets = u64(ATTR_REPL_COUNTER_PACKETS);
  e.replyBytes = u64(ATTR_REPL_COUNTER_BYTES);
  return e;
}

// The id and packet counts of a ctnetlink message, read without parsing
// the rest; false when it has no id.
bool quickLook(const nlmsghdr* nlh, uint32_t& id, uint64_t& origPackets, uint64_t& replyPackets) {
  // libmnl's iteration macros assign void*, which C++ does not convert.
  auto each = [](const nlattr* a, int left, auto&& fn) {
    for (; mnl_attr_ok(a, left);
         left -= static_cast<int>(MNL_ALIGN(a->nla_len)), a = mnl_attr_next(a))
      fn(a);
  };
  bool hasId = false;
  int left = static_cast<int>(nlh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(nfgenmsg)));
  auto* first = reinterpret_cast<const nlattr*>(static_cast<const char*>(NLMSG_DATA(nlh)) +
                                                NLMSG_ALIGN(sizeof(nfgenmsg)));
  each(first, left, [&](const nlattr* a) {
    uint16_t type = mnl_attr_get_type(a);
    if (type == CTA_ID && mnl_attr_get_payload_len(a) >= 4) {
      id = ntohl(mnl_attr_get_u32(a));
      hasId = true;
    } else if (type == CTA_COUNTERS_ORIG || type == CTA_COUNTERS_REPLY) {
      uint64_t& packets = type == CTA_COUNTERS_ORIG ? origPackets : replyPackets;
      auto* inner = static_cast<const nlattr*>(mnl_attr_get_payload(a));
      each(inner, static_cast<int>(mnl_attr_get_payload_len(a)), [&](const nlattr* c) {
        if (mnl_attr_get_type(c) == CTA_COUNTERS_PACKETS && mnl_attr_get_payload_len(c) >= 8)
          packets = be64toh(mnl_attr_get_u64(c));
      });
    }
  });
  return hasId;
}

}  // namespace

std::vector<ConnectionCount> conntrackEntries(const char* buf, size_t size, bool* done,
                                              const Unchanged& unchanged, std::set<uint32_t>* ids) {
  std::vector<ConnectionCount> out;
  int left = static_cast<int>(std::min<size_t>(size, 1 << 30));
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); messageFits(nlh, left);
       nlh = NLMSG_NEXT(nlh, left)) {
    if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) {
      if (done) *done = true;
      continue;
    }
    if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) continue;
    uint8_t type = nlh->nlmsg_type & 0xff;
    if (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE) continue;
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) continue;
    auto* nfg = static_cast<const nfgenmsg*>(NLMSG_DATA(nlh));
    if (nfg->nfgen_family != AF_INET) continue;
    // A connection is known by its id: a message without one is skipped
    // before libnetfilter-conntrack parses it.
    uint32_t id = 0;
    uint64_t origPackets = 0, replyPackets = 0;
    if (!quickLook(nlh, id, origPackets, replyPackets)) continue;
    if (ids) ids->insert(id);
    if (unchanged && unchanged(id, origPackets, replyPackets)) continue;
    std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> one(nfct_new(), nfct_destroy);
    if (!one || nfct_nlmsg_parse(nlh, one.get()) < 0) continue;
    ConnectionCount e = entryOf(one.get());
    e.destroyed = type == IPCTNL_MSG_CT_DELETE;
    out.push_back(e);
  }
  return out;
}

Fd conntrackEvents() {
  return netlinkSocket(NETLINK_NETFILTER, NF_NETLINK_CONNTRACK_DESTROY, 0);
}

Fd conntrackDumpSocket() {
  return netlinkSocket(NETLINK_NETFILTER, 0, 0);
}

std::vector<ConnectionCount> dumpConntrack(int fd, const Unchanged& unchanged,
                                           std::set<uint32_t>* ids) {
  struct {
    nlmsghdr h;
    nfgenmsg g;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg));
  req.h.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.g.nfgen_family = AF_INET;
  req.g.version = NFNETLINK_V0;
  if (::send(fd, &req, req.h.nlmsg_len, 0) < 0)
    throw KernelError("conntrack dump", "request", std::strerror(errno));
  std::vector<ConnectionCount> out;
  alignas(nlmsghdr) static thread_local char buf[64 * 1024];
  for (bool done = false; !done;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // The kernel answers a dump at once; a second without a word is a
      // namespace that is going away.
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) throw KernelError("conntrack dump", "answer", "timed out");
      continue;
    }
    if (n <= 0) throw KernelError("conntrack dump", "answer", std::strerror(errno));
    auto entries = conntrackEntries(buf, static_cast<size_t>(n), &done, unchanged, ids);
    out.insert(out.end(), entries.begin(), entries.end());
  }
  return out;
}

}  // namespace vpcd
