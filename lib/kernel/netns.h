#pragma once
// Named network namespaces in a netns directory (default /run/netns), made
// the way `ip netns add` makes them so that `ip netns exec` works on ours:
// a file bind-mounted over a namespace, in a directory with shared
// propagation.
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

namespace vpcd {

// Writes all of `data` unless the descriptor fails (interrupted writes are
// resumed); false when it did not take everything.
inline bool writeAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// An open file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class NetnsDir {
 public:
  explicit NetnsDir(std::string path);
  // Makes the namespace mounts (and unmounts) in the mount namespace of
  // `mountNs` (e.g. /proc/1/ns/mnt) instead of our own. A hardened systemd
  // service runs in a mount namespace of its own whose mounts never reach
  // the host, so `ip netns exec` would find empty files; mounts made in the
  // host's namespace come back into the service's (a slave of it).
  void setMountNamespace(std::string mountNs) { mountNs_ = std::move(mountNs); }

  const std::string& path() const { return path_; }
  std::string pathOf(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> list() const;
  // True when `name` is a mounted namespace (not merely a file: a crash can
  // leave an empty file behind).
  bool exists(const std::string& name) const;
  // Creates namespace `name`, running `inside` in it before it is mounted at
  // its name; throws KernelError, leaves nothing behind on failure.
  void create(const std::string& name, const std::function<void()>& inside = {});
  // Unmounts and removes the file; the kernel destroys the namespace, with
  // every link in it, once nothing else holds it. Returns false if absent.
  bool remove(const std::string& name);
  // An fd of the namespace (the netns file), or of our own for "".
  Fd open(const std::string& name) const;
  // Whether `fd` (from open) is still the namespace mounted at `name`.
  bool holds(const std::string& name, int fd) const;

 private:
  void ensureMountPoint();

  std::string path_;
  std::string mountNs_;  // empty: our own
  bool mounted_ = false;
};

// Moves the calling thread into a namespace for the guard's lifetime. Sockets
// created meanwhile stay bound to that namespace after the guard ends.
class NetnsGuard {
 public:
  explicit NetnsGuard(int nsFd);  // nsFd < 0: stay where we are
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  Fd home_;
};

}  // namespace vpcd
