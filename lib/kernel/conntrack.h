#pragma once
// Connections of a namespace as conntrack holds them (ctnetlink, parsed by
// libnetfilter-conntrack): a dump of the table, and the events of
// connections that end. What the flow logs are made of.
#include <cstdint>
#include <vector>

#include "lib/kernel/netns.h"
#include "lib/model/flow_record.h"

namespace vpcd {

// A socket in the current namespace hearing the connections that end
// (non-blocking). Throws KernelError.
Fd conntrackEvents();
// A socket in the current namespace to dump its table on (dumpConntrack).
Fd conntrackDumpSocket();
// Every IPv4 connection of the namespace of `fd`. Throws KernelError.
std::vector<ConnectionCount> dumpConntrack(int fd);
// The IPv4 connections in a datagram of ctnetlink messages (events or dump
// answers); sets `*done` at the dump's end. Exposed for the fuzz target.
std::vector<ConnectionCount> conntrackEntries(const char* buf, size_t size, bool* done = nullptr);

}  // namespace vpcd
