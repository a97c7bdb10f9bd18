#pragma once
// Instance commands (and the VPC resolvers): processes vpcd starts in a
// network namespace, with that namespace's hosts and resolv.conf files from
// the etc-netns directory on /etc (a mount namespace of their own, as `ip
// netns exec` makes), an instance's in a UTS namespace named after it, stdout
// and stderr appended to a log. No shell: argv is executed as given.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

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
  // `hostname` non-empty: the process gets a UTS namespace with that name.
  Started start(const std::string& ns, const std::vector<std::string>& argv,
                const std::string& logPath, const std::string& hostname = "");
  // Ends the command's process group: SIGTERM, SIGKILL after `grace`.
  void stop(int pid, uint64_t startTime, const std::string& logPath,
            std::chrono::milliseconds grace = std::chrono::seconds(5));

  static bool alive(int pid, uint64_t startTime);
  static uint64_t startTimeOf(int pid);  // 0: no such process

 private:
  std::string netnsDir_;
  std::string etcNetnsDir_;
};

// The last `max` bytes of a serial log, and the offset they start at.
std::pair<std::string, uint64_t> readTail(const std::string& path, uint64_t max);
// Up to `max` bytes of a file from `offset` (the start again if it shrank).
std::string readFrom(const std::string& path, uint64_t& offset, uint64_t max);
// Appends one line from vpcd itself to a serial log.
void appendLog(const std::string& path, const std::string& line);

}  // namespace vpcd
