#include "daemon/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace vpcd {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

// The variable is for this process (systemd sets the pid it started).
bool forUs(const char* pidVar) {
  const char* pid = std::getenv(pidVar);
  return !pid || std::strtol(pid, nullptr, 10) == ::getpid();
}

}  // namespace

bool sdNotify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  bool sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               size) == static_cast<ssize_t>(state.size());
  ::close(fd);
  return sent;
}

int takeListenFd() {
  const char* fds = std::getenv("LISTEN_FDS");
  int fd = -1;
  if (fds && forUs("LISTEN_PID") && std::strtol(fds, nullptr, 10) >= 1) {
    fd = kListenFdsStart;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (const char* var : {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"}) ::unsetenv(var);
  return fd;
}

std::optional<std::chrono::microseconds> watchdogInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !forUs("WATCHDOG_PID")) return std::nullopt;
  long long value = std::strtoll(usec, nullptr, 10);
  if (value <= 0) return std::nullopt;
  return std::chrono::microseconds(value / 2);
}

}  // namespace vpcd
