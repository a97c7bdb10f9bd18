#pragma once
// An instance's console: a small process (vpcd itself, run as
// `vpcd --console-keeper …` by CommandRunner::startOnConsole) that owns the
// pseudo-terminal of one instance command, as conmon does for a container.
// It lives as long as the command, not as long as the daemon: a restart of
// vpcd leaves the terminal, the log and attached consoles alone.
//
// - Everything the command writes (and the terminal echoes) is appended to
//   the serial log, which it keeps under kLogLimit bytes while it runs.
// - Clients attach through the Unix socket: the daemon connects, sends one
//   message carrying the client's connection (SCM_RIGHTS) and a Greeting,
//   and leaves; from then on the keeper and the client talk directly —
//   bytes in are typed on the terminal, bytes out are what it shows.
// - When the command ends, the keeper drains the terminal, writes the exit
//   status to the log, closes the consoles and removes its socket.
#include <cstdint>
#include <string>
#include <string_view>

namespace vpcd {

// `argv` after "--console-keeper": namespace path, log, socket, hostname,
// hosts file, resolv.conf, "--", the command. Reports on descriptor 3.
int consoleKeeperMain(int argc, char** argv);

// The terminal's size, in the message that hands a client over.
struct Greeting {
  uint16_t rows = 0;  // 0: leave the size as it is
  uint16_t cols = 0;
};

// Whether no keeper serves `consolePath` any more.
bool keeperGone(const std::string& consolePath);

// Hands the connected client `fd` to the keeper serving `consolePath`,
// with the bytes the client sent past its request (`pending`, typed first).
// Empty on success, else why not.
std::string handConsole(const std::string& consolePath, int fd, Greeting size,
                        std::string_view pending);

}  // namespace vpcd
