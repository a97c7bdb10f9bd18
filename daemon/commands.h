#pragma once
// Instance commands (and the VPC resolvers): processes vpcd starts in a
// network namespace, with that namespace's hosts and resolv.conf files from
// the etc-netns directory on /etc (a mount namespace of their own, as `ip
// netns exec` makes), an instance's in a UTS namespace named after it, with
// the environment of a freshly booted machine rather than the daemon's. No
// shell: argv is executed as given. A resolver's output is appended to its
// log; an instance's command runs on a pseudo-terminal held by a console
// keeper (daemon/console_keeper.h), which writes the log.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/kernel/netns.h"

namespace vpcd {

class CommandRunner {
 public:
  // Children are reaped by the kernel (SIGCHLD ignored in vpcd); a command
  // gets the default disposition back before it executes.
  CommandRunner(std::string netnsDir, std::string etcNetnsDir);

  struct Started {
    int pid = 0;
    uint64_t startTime = 0;  // /proc/<pid>/stat field 22: tells a reused pid apart
  };
  // stdin /dev/null, stdout and stderr appended to `logPath`.
  Started start(const std::string& ns, const std::vector<std::string>& argv,
                const std::string& logPath);
  // On a console: a keeper process (this binary, re-executed) opens the
  // pseudo-terminal, starts the command on it in a UTS namespace named
  // `hostname`, copies what it writes to `logPath`, and serves attached
  // consoles on the Unix socket `consolePath`. Returns once the command's
  // process exists; the keeper outlives vpcd, as the command does.
  Started startOnConsole(const std::string& ns, const std::vector<std::string>& argv,
                         const std::string& logPath, const std::string& consolePath,
                         const std::string& hostname);
  // What a console's command must not see (vpcd's state directory, its
  // token file): hidden from it, and its root kept from uncovering them.
  void hideFromCommands(const std::vector<std::string>& paths);
  // Ends the command's process group: SIGTERM, SIGKILL after `grace`. With
  // `logPath`, vpcd's line saying so is appended (a console keeper writes
  // its own, with the exit status).
  void stop(int pid, uint64_t startTime, const std::string& logPath,
            std::chrono::milliseconds grace = std::chrono::seconds(5));

  static bool alive(int pid, uint64_t startTime);
  static uint64_t startTimeOf(int pid);  // 0: no such process

 private:
  Fd openNamespace(const std::string& ns) const;
  std::string netnsDir_;
  std::string etcNetnsDir_;
  std::string hidden_;  // colon-separated
};

// Serial logs past kLogLimit bytes are cut to their last kLogKeep.
constexpr uint64_t kLogLimit = 1 << 20;
constexpr uint64_t kLogKeep = 64 << 10;

// The program of a command, made before the fork: its argv, the
// environment it starts with (PATH, HOME, LANG, USER, LOGNAME; TERM on a
// console; HOSTNAME when it has one) and where argv[0] may be — searched in
// that PATH, not in vpcd's own (execvpe would search the caller's).
class Program {
 public:
  Program(const std::vector<std::string>& argv, const std::string& hostname, bool terminal);
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }
  const std::vector<std::string>& candidates() const { return candidates_; }

 private:
  std::vector<std::string> args_, env_, candidates_;
  std::vector<char*> argv_, envp_;
};

// What the child of a fork needs to become a command; every string is made
// before the fork, since only async-signal-safe calls may follow it.
struct ChildSpec {
  int nsFd = -1;
  const char* ns = "";        // the namespace's name, for sysfs
  const char* hosts = "";     // bound on /etc/hosts when it exists
  const char* resolv = "";    // bound on /etc/resolv.conf when it exists
  const char* hostname = "";  // a UTS namespace of its own with this name; none when empty
  const Program* program = nullptr;
  // An instance's command: these paths (colon-separated) hidden and its
  // capabilities cut down before exec; null for vpcd's own engines.
  const char* confine = nullptr;
};
// In the child, with its standard descriptors in place: enters the network
// namespace, makes the mount (and UTS) namespace, executes the program.
[[noreturn]] void execCommand(const ChildSpec& spec);
// Pointers to the strings, null-terminated, for exec.
std::vector<char*> cStrings(const std::vector<std::string>& items);

// The last `max` bytes of a serial log, and the offset they start at.
std::pair<std::string, uint64_t> readTail(const std::string& path, uint64_t max);
// Up to `max` bytes of a file from `offset` (the start again if it shrank).
std::string readFrom(const std::string& path, uint64_t& offset, uint64_t max);
// Appends one line from vpcd itself to a serial log.
void appendLog(const std::string& path, const std::string& line);

}  // namespace vpcd
