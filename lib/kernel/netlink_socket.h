#pragma once
// Netlink sockets the daemon reads notifications from (event_source.h, the
// flow collector): opening one, walking a datagram's messages, NFLOG.
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "lib/kernel/netns.h"

namespace vpcd {

// NLMSG_OK without the macro's comparison of signed and unsigned (which
// clang reports inside it).
inline bool messageFits(const nlmsghdr* h, int left) {
  return left >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
         h->nlmsg_len <= static_cast<unsigned>(left);
}

// A non-blocking netlink socket of `protocol` in the current namespace,
// bound to the legacy group mask `groups` and joined to `extraGroup` (0:
// none), with a receive queue large enough for bursts. Throws KernelError.
Fd netlinkSocket(int protocol, uint32_t groups, int extraGroup);

// Binds NFLOG group `group` of the current namespace, copying the first
// `copyRange` bytes of each packet. Throws KernelError.
Fd nflogSocket(uint16_t group, uint32_t copyRange);

// Calls `packet(prefix, data, len)` for each packet in an NFLOG datagram
// (`data` the copied start of the packet, null when none was copied);
// bytes that are not NFLOG packet messages are skipped.
void eachNflogPacket(
    const char* buf, size_t size,
    const std::function<void(std::string_view prefix, const uint8_t* data, size_t len)>& packet);

}  // namespace vpcd
