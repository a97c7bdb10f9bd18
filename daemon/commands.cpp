#include "daemon/commands.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lib/kernel/netns.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

constexpr uint64_t kLogLimit = 1 << 20;  // rotated down to its tail past this
constexpr uint64_t kLogKeep = 64 << 10;

// In the child only: async-signal-safe calls, then exec or _exit.
[[noreturn]] void fail(const char* step) {
  const char* err = std::strerror(errno);
  for (const char* s : {"vpcd: ", step, ": ", err, "\n"}) {
    if (::write(2, s, std::strlen(s)) < 0) break;
  }
  _exit(127);
}

struct ChildFiles {
  const char* ns;
  const char* hosts;     // bound on /etc/hosts when it exists
  const char* resolv;    // bound on /etc/resolv.conf when it exists
  const char* hostname;  // a UTS namespace of its own with this name; none when empty
};

void bindIfThere(const char* from, const char* onto, const char* step) {
  struct stat st {};
  if (::stat(from, &st) == 0 && ::mount(from, onto, nullptr, MS_BIND, nullptr) != 0) fail(step);
}

[[noreturn]] void runChild(int nsFd, int logFd, int nullFd, const ChildFiles& files,
                           char* const* argv) {
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  if (::dup2(nullFd, 0) < 0 || ::dup2(logFd, 1) < 0 || ::dup2(logFd, 2) < 0) _exit(127);
  ::setsid();  // its own process group, ended as a whole on stop
  if (::setns(nsFd, CLONE_NEWNET) != 0) fail("enter network namespace");
  int flags = CLONE_NEWNS | (*files.hostname ? CLONE_NEWUTS : 0);
  if (::unshare(flags) != 0) fail("new mount and UTS namespaces");
  if (*files.hostname && ::sethostname(files.hostname, std::strlen(files.hostname)) != 0)
    fail("set the hostname");
  if (::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail("make / a slave mount");
  bindIfThere(files.hosts, "/etc/hosts", "bind the hosts file");
  bindIfThere(files.resolv, "/etc/resolv.conf", "bind the resolv.conf file");
  // /sys shows the devices of the namespace that mounts it, as in `ip netns exec`.
  if (::umount2("/sys", MNT_DETACH) == 0) ::mount(files.ns, "/sys", "sysfs", 0, nullptr);
  ::syscall(SYS_close_range, 3u, ~0u, 0u);
  ::execvp(argv[0], argv);
  fail(argv[0]);
}

void rotate(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= kLogLimit) return;
  auto [tail, offset] = readTail(path, kLogKeep);
  std::ofstream(path, std::ios::trunc) << tail;
}

}  // namespace

CommandRunner::CommandRunner(std::string netnsDir, std::string etcNetnsDir)
    : netnsDir_(std::move(netnsDir)), etcNetnsDir_(std::move(etcNetnsDir)) {
  ::signal(SIGCHLD, SIG_IGN);
}

CommandRunner::Started CommandRunner::start(const std::string& ns,
                                            const std::vector<std::string>& argv,
                                            const std::string& logPath,
                                            const std::string& hostname) {
  rotate(logPath);
  std::string line = "--- vpcd: starting";
  for (const auto& a : argv) line += " " + a;
  appendLog(logPath, line + " at " + isoTime(std::chrono::system_clock::now()) + " ---");
  // Everything the child needs is made before fork.
  Fd nsFd(::open((netnsDir_ + "/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
  if (!nsFd) throw std::runtime_error("cannot open namespace " + ns + ": " + std::strerror(errno));
  Fd logFd(::open(logPath.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  Fd nullFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!logFd || !nullFd)
    throw std::runtime_error("cannot open " + logPath + ": " + std::strerror(errno));
  std::string hosts = etcNetnsDir_ + "/" + ns + "/hosts";
  std::string resolv = etcNetnsDir_ + "/" + ns + "/resolv.conf";
  ChildFiles files{ns.c_str(), hosts.c_str(), resolv.c_str(), hostname.c_str()};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) runChild(nsFd.get(), logFd.get(), nullFd.get(), files, args.data());
  return {pid, startTimeOf(pid)};
}

void CommandRunner::stop(int pid, uint64_t startTime, const std::string& logPath,
                         std::chrono::milliseconds grace) {
  if (!alive(pid, startTime)) return;
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto waitExit = [&](std::chrono::milliseconds limit) {
    if (!pidfd) return !alive(pid, startTime);
    pollfd p{.fd = pidfd.get(), .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
  };
  ::kill(-pid, SIGTERM);
  bool ended = waitExit(grace);
  // Whatever else of its group is left, and the command itself past its grace.
  ::kill(-pid, SIGKILL);
  if (!ended) waitExit(std::chrono::seconds(2));
  appendLog(logPath, "--- vpcd: stopped" + std::string(ended ? "" : " (killed)") + " at " +
                         isoTime(std::chrono::system_clock::now()) + " ---");
}

uint64_t CommandRunner::startTimeOf(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  // After "pid (comm) ", field 3 (state) comes first; start time is field 22.
  for (int n = 3; n < 22 && rest >> field; ++n) {
  }
  uint64_t start = 0;
  rest >> start;
  // A zombie is gone as far as the instance is concerned.
  return stat.compare(paren + 2, 1, "Z") == 0 ? 0 : start;
}

bool CommandRunner::alive(int pid, uint64_t startTime) {
  return pid > 0 && startTime != 0 && startTimeOf(pid) == startTime;
}

std::pair<std::string, uint64_t> readTail(const std::string& path, uint64_t max) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {"", 0};
  auto size = static_cast<uint64_t>(st.st_size);
  uint64_t from = size > max ? size - max : 0, offset = from;
  return {readFrom(path, offset, max), from};
}

std::string readFrom(const std::string& path, uint64_t& offset, uint64_t max) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return "";
  auto size = static_cast<uint64_t>(f.tellg());
  if (size < offset) offset = 0;  // rotated
  std::string out(std::min(max, size - offset), '\0');
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  offset += out.size();
  return out;
}

void appendLog(const std::string& path, const std::string& line) {
  std::ofstream(path, std::ios::app) << line << "\n";
}

}  // namespace vpcd
