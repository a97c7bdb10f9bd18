#include "lib/kernel/xtables.h"

#include <linux/netfilter_ipv4/ip_tables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <vector>

namespace vpcd {
namespace {

// Whether the filter table exists in this namespace: asking for one that
// does not would create it (and its default ACCEPT chains).
bool hasLegacyFilter() {
  std::ifstream names("/proc/net/ip_tables_names");
  for (std::string name; std::getline(names, name);) {
    if (name == "filter") return true;
  }
  return false;
}

// A rule that matches every packet: no address, interface or protocol, and
// no match extension before its target.
bool unconditional(const ipt_entry& e) {
  static const ipt_ip any{};
  return std::memcmp(&e.ip, &any, sizeof any) == 0 && e.target_offset == sizeof(ipt_entry);
}

}  // namespace

std::vector<std::string> legacyForwardBlockers(const unsigned char* entries, size_t size,
                                               unsigned hookEntry, unsigned underflow) {
  std::vector<std::string> out;
  const std::string chain = "iptables-legacy table filter chain FORWARD";
  for (size_t at = hookEntry; at <= underflow && at + sizeof(ipt_entry) <= size;) {
    ipt_entry e;
    std::memcpy(&e, entries + at, sizeof e);
    if (e.next_offset < sizeof(ipt_entry) || at + e.next_offset > size ||
        e.target_offset + sizeof(xt_entry_target) > e.next_offset)
      break;  // not what the kernel writes: stop reading
    xt_entry_target target;
    std::memcpy(&target, entries + at + e.target_offset, sizeof target);
    std::string name(target.u.user.name, strnlen(target.u.user.name, sizeof target.u.user.name));
    int verdict = 0;
    bool standard = name.empty() && e.target_offset + sizeof(xt_standard_target) <= e.next_offset;
    if (standard) {
      std::memcpy(&verdict, entries + at + e.target_offset + sizeof(xt_entry_target),
                  sizeof verdict);
    }
    bool drops = (standard && verdict == -NF_DROP - 1) || name == "REJECT" || name == "DROP";
    if (at == underflow) {
      if (standard && verdict == -NF_DROP - 1) out.push_back(chain + " (policy DROP)");
      break;
    }
    if (drops && unconditional(e))
      out.push_back(chain + " (rule: -j " + (name.empty() ? "DROP" : name) + ")");
    at += e.next_offset;
  }
  return out;
}

std::vector<std::string> legacyForwardBlockers() {
  if (!hasLegacyFilter()) return {};
  int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return {};
  std::vector<std::string> out;
  ipt_getinfo info{};
  std::strncpy(info.name, "filter", sizeof info.name - 1);
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &len) == 0 &&
      (info.valid_hooks & (1u << NF_INET_FORWARD))) {
    std::vector<unsigned char> buf(offsetof(ipt_get_entries, entrytable) + info.size);
    auto* entries = reinterpret_cast<ipt_get_entries*>(buf.data());
    std::strncpy(entries->name, "filter", sizeof entries->name - 1);
    entries->size = info.size;
    len = static_cast<socklen_t>(buf.size());
    if (::getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, entries, &len) == 0) {
      out =
          legacyForwardBlockers(buf.data() + offsetof(ipt_get_entries, entrytable), info.size,
                                info.hook_entry[NF_INET_FORWARD], info.underflow[NF_INET_FORWARD]);
    }
  }
  ::close(fd);
  return out;
}

}  // namespace vpcd
