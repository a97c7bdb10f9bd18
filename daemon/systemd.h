#pragma once
// The systemd protocols vpcd speaks, without libsystemd: sd_notify(3)
// datagrams to $NOTIFY_SOCKET, and sockets passed by socket activation
// (sd_listen_fds(3): $LISTEN_PID, $LISTEN_FDS, descriptors from 3).
#include <chrono>
#include <optional>
#include <string>

namespace vpcd {

// Sends `state` ("READY=1\nSTATUS=…") when $NOTIFY_SOCKET is set; false when
// it is not set or the send failed (vpcd runs the same either way).
bool sdNotify(const std::string& state);

// The listening socket systemd passed to this process, or -1 when none was.
// Clears the variables so children do not see them.
int takeListenFd();

// How often to send WATCHDOG=1 (half of $WATCHDOG_USEC), when systemd asks.
std::optional<std::chrono::microseconds> watchdogInterval();

}  // namespace vpcd
