#pragma once
// The legacy iptables (x_tables) filter table of the current namespace,
// read with getsockopt as iptables-legacy reads it: rules there are not
// nftables and no nftables dump shows them, yet they drop forwarded traffic
// all the same. Read only, never changed.
#include <cstddef>
#include <string>
#include <vector>

namespace vpcd {

// What in the legacy FORWARD chain drops every forwarded packet: its policy
// DROP, or a rule with no condition whose target is DROP or REJECT, as
// "iptables-legacy table filter chain FORWARD (policy DROP)". Empty when
// there is no legacy filter table (/proc/net/ip_tables_names does not list
// it: asking for it then would create it).
std::vector<std::string> legacyForwardBlockers();

// The same from the bytes IPT_SO_GET_ENTRIES gave, with the FORWARD chain
// from `hookEntry` to `underflow` (its policy rule); exposed for the tests.
std::vector<std::string> legacyForwardBlockers(const unsigned char* entries, size_t size,
                                               unsigned hookEntry, unsigned underflow);

}  // namespace vpcd
