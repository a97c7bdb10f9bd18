#include "lib/kernel/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "lib/kernel/kernel.h"

namespace vpcd {
namespace {

std::string errnoText() {
  return std::strerror(errno);
}

// Runs the caller's mounts in another mount namespace for its lifetime. The
// process must be single-threaded (setns(CLONE_NEWNS) refuses otherwise),
// which vpcd is.
class MountNsGuard {
 public:
  MountNsGuard(const std::string& path, const std::string& what) {
    if (path.empty()) return;
    Fd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    home_ = Fd(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!target || !home_ || ::setns(target.get(), CLONE_NEWNS) != 0) {
      std::string err = errnoText();
      home_ = Fd();
      throw KernelError(what, "mount namespace " + path, err);
    }
  }
  ~MountNsGuard() {
    if (home_ && ::setns(home_.get(), CLONE_NEWNS) != 0) std::abort();
  }
  MountNsGuard(const MountNsGuard&) = delete;
  MountNsGuard& operator=(const MountNsGuard&) = delete;

 private:
  Fd home_;
};

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

NetnsDir::NetnsDir(std::string path) : path_(std::move(path)) {}

std::vector<std::string> NetnsDir::list() const {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path_.c_str());
  if (!dir) return out;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(dir);
  return out;
}

bool NetnsDir::exists(const std::string& name) const {
  struct statfs st {};
  return ::statfs(pathOf(name).c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

void NetnsDir::ensureMountPoint() {
  if (mounted_) return;
  MountNsGuard in(mountNs_, "mount --make-shared");
  if (::mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) {
    throw KernelError("mkdir", path_, errnoText());
  }
  // As iproute2 does: the directory must be a mount point with shared
  // propagation so that namespace mounts made here are seen by `ip netns exec`
  // and by other mount namespaces. EINVAL means it is not a mount point yet.
  if (::mount("", path_.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) throw KernelError("mount --make-shared", path_, errnoText());
    if (::mount(path_.c_str(), path_.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
      throw KernelError("mount --bind", path_, errnoText());
    }
    if (::mount("", path_.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
      throw KernelError("mount --make-shared", path_, errnoText());
    }
  }
  mounted_ = true;
}

void NetnsDir::create(const std::string& name, const std::function<void()>& inside) {
  ensureMountPoint();
  std::string file = pathOf(name);
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0 && !exists(name)) {
    ::unlink(file.c_str());  // an empty file left by a crash before its mount
  }
  Fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) throw KernelError("create netns", name, "cannot open own namespace: " + errnoText());
  if (::unshare(CLONE_NEWNET) != 0)
    throw KernelError("create netns", name, "unshare: " + errnoText());
  std::string failure;
  try {
    if (inside) inside();
    Fd f(::open(file.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    std::optional<MountNsGuard> host;
    if (f) host.emplace(mountNs_, "create netns");
    if (!f) {
      failure = errnoText();
    } else if (::mount("/proc/thread-self/ns/net", file.c_str(), "none", MS_BIND, nullptr) != 0) {
      failure = "bind mount: " + errnoText();
      ::unlink(file.c_str());
    }
  } catch (const KernelError& e) {
    failure = e.what();
  }
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    // Staying in the wrong namespace would misdirect every later call.
    throw KernelError("create netns", name, "cannot return to own namespace: " + errnoText());
  }
  if (!failure.empty()) throw KernelError("create netns", name, failure);
}

bool NetnsDir::remove(const std::string& name) {
  std::string file = pathOf(name);
  if (!exists(name)) return false;
  {
    MountNsGuard in(mountNs_, "delete netns");
    if (::umount2(file.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
      throw KernelError("delete netns", name, "umount: " + errnoText());
    }
  }
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    throw KernelError("delete netns", name, "unlink: " + errnoText());
  }
  return true;
}

Fd NetnsDir::open(const std::string& name) const {
  std::string file = name.empty() ? "/proc/thread-self/ns/net" : pathOf(name);
  Fd f(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) throw KernelError("open netns", name.empty() ? "host" : name, errnoText());
  return f;
}

bool NetnsDir::holds(const std::string& name, int fd) const {
  struct stat file {
  }, held{};
  return ::stat(pathOf(name).c_str(), &file) == 0 && ::fstat(fd, &held) == 0 &&
         file.st_dev == held.st_dev && file.st_ino == held.st_ino;
}

NetnsGuard::NetnsGuard(int nsFd) {
  if (nsFd < 0) return;
  home_ = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home_) throw KernelError("setns", "self", errnoText());
  if (::setns(nsFd, CLONE_NEWNET) != 0) {
    home_ = Fd();
    throw KernelError("setns", "netns", errnoText());
  }
}

NetnsGuard::~NetnsGuard() {
  // Failing to return would leave the daemon in a VPC's namespace; there is
  // no sane way to continue from that.
  if (home_ && ::setns(home_.get(), CLONE_NEWNET) != 0) std::abort();
}

}  // namespace vpcd
