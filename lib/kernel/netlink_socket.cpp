#include "lib/kernel/netlink_socket.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "lib/kernel/kernel.h"

namespace vpcd {

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
  // The shared sockets hear every namespace: as root, past rmem_max.
  int size = 1 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  int big = 16 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  return fd;
}

Fd nflogSocket(uint16_t group, uint32_t copyRange) {
  Fd fd = netlinkSocket(NETLINK_NETFILTER, 0, 0);
  auto config = [&](uint16_t attr, const void* data, uint16_t len) {
    alignas(nlmsghdr) char buf[128] = {};
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    auto* nfg = reinterpret_cast<nfgenmsg*>(buf + NLMSG_HDRLEN);
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(group);
    auto* nla = reinterpret_cast<nlattr*>(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)));
    nla->nla_type = attr;
    nla->nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    std::memcpy(reinterpret_cast<char*>(nla) + NLA_HDRLEN, data, len);
    nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)) + NLA_ALIGN(nla->nla_len);
    if (::send(fd.get(), buf, nlh->nlmsg_len, 0) < 0)
      throw KernelError("nflog bind", "group " + std::to_string(group), std::strerror(errno));
  };
  nfulnl_msg_config_cmd bind{NFULNL_CFG_CMD_BIND};
  config(NFULA_CFG_CMD, &bind, sizeof bind);
  nfulnl_msg_config_mode mode{};
  mode.copy_range = htonl(copyRange);
  mode.copy_mode = NFULNL_COPY_PACKET;
  config(NFULA_CFG_MODE, &mode, sizeof mode);
  return fd;
}

void eachNflogPacket(const char* buf, size_t size,
                     const std::function<void(std::string_view, const uint8_t*, size_t)>& packet) {
  int left = static_cast<int>(std::min<size_t>(size, 1 << 30));
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); messageFits(nlh, left);
       nlh = NLMSG_NEXT(nlh, left)) {
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) continue;
    std::string_view prefix;
    const uint8_t* payload = nullptr;
    size_t payloadLen = 0;
    int attrLeft = static_cast<int>(nlh->nlmsg_len) -
                   static_cast<int>(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)));
    const char* at = static_cast<const char*>(NLMSG_DATA(nlh)) + NLMSG_ALIGN(sizeof(nfgenmsg));
    while (attrLeft >= static_cast<int>(NLA_HDRLEN)) {
      auto* attr = reinterpret_cast<const nlattr*>(at);
      if (attr->nla_len < NLA_HDRLEN || attr->nla_len > attrLeft) break;
      auto* data = reinterpret_cast<const uint8_t*>(at) + NLA_HDRLEN;
      size_t len = attr->nla_len - NLA_HDRLEN;
      if ((attr->nla_type & NLA_TYPE_MASK) == NFULA_PREFIX)
        prefix = std::string_view(reinterpret_cast<const char*>(data),
                                  strnlen(reinterpret_cast<const char*>(data), len));
      if ((attr->nla_type & NLA_TYPE_MASK) == NFULA_PAYLOAD) {
        payload = data;
        payloadLen = len;
      }
      attrLeft -= NLA_ALIGN(attr->nla_len);
      at += NLA_ALIGN(attr->nla_len);
    }
    packet(prefix, payload, payloadLen);
  }
}

}  // namespace vpcd
