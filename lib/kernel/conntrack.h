#pragma once
// Connections of a namespace as conntrack holds them (ctnetlink, parsed by
// libnetfilter-conntrack): a dump of the table, and the events of
// connections that end. What the flow logs are made of.
#include <cstdint>
#include <functional>
#include <set>
#include <vector>

#include "lib/kernel/netns.h"
#include "lib/model/flow_record.h"

namespace vpcd {

// A socket in the current namespace hearing the connections that end
// (non-blocking). Throws KernelError.
Fd conntrackEvents();
// A socket in the current namespace to dump its table on (dumpConntrack).
Fd conntrackDumpSocket();
// Says from a connection's id and packet counts that it is as last seen.
using Unchanged = std::function<bool(uint32_t id, uint64_t origPackets, uint64_t replyPackets)>;
// The IPv4 connections of the namespace of `fd`, less those `unchanged`
// recognises (read without a full parse: most of a busy table is idle),
// and the ids of all of them in `ids`. Throws KernelError.
std::vector<ConnectionCount> dumpConntrack(int fd, const Unchanged& unchanged = {},
                                           std::set<uint32_t>* ids = nullptr);
// The IPv4 connections in a datagram of ctnetlink messages (events or dump
// answers); sets `*done` at the dump's end. Exposed for the fuzz target.
std::vector<ConnectionCount> conntrackEntries(const char* buf, size_t size, bool* done = nullptr,
                                              const Unchanged& unchanged = {},
                                              std::set<uint32_t>* ids = nullptr);

}  // namespace vpcd
