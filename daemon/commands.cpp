#include "daemon/commands.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "daemon/console_keeper.h"
#include "lib/kernel/netns.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

// In the child only: async-signal-safe calls, then exec or _exit.
[[noreturn]] void fail(const char* step) {
  const char* err = std::strerror(errno);
  for (const char* s : {"vpcd: ", step, ": ", err, "\n"}) {
    if (::write(2, s, std::strlen(s)) < 0) break;
  }
  _exit(127);
}

void bindIfThere(const char* from, const char* onto, const char* step) {
  struct stat st {};
  if (::stat(from, &st) == 0 && ::mount(from, onto, nullptr, MS_BIND, nullptr) != 0) fail(step);
}

// The capabilities an instance's root keeps: Docker's default set without
// CAP_MKNOD (no device cgroup here: a node of the host's disk would be
// raw access to it), with CAP_NET_ADMIN and CAP_NET_BROADCAST (its own
// network is the point of an instance). Gone with the rest: CAP_SYS_ADMIN
// (mount, umount, setns back to the host), CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH
// (open_by_handle_at), CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_BPF.
bool keptCapability(int cap) {
  for (int k : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID,
                CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST, CAP_NET_ADMIN,
                CAP_NET_RAW, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP}) {
    if (cap == k) return true;
  }
  return false;
}

// An instance's command (docs/security.md): each path of the colon-separated
// list covered in its mount namespace (a directory by an empty read-only
// tmpfs, a file by /dev/null), then the capabilities that could uncover them
// dropped from the bounding set, so that exec gives root only the rest.
void confine(const char* list) {
  char path[PATH_MAX];
  for (const char* p = list; *p;) {
    size_t n = 0;
    while (p[n] && p[n] != ':') ++n;
    if (n > 0 && n < sizeof path) {
      std::memcpy(path, p, n);
      path[n] = '\0';
      struct stat st {};
      if (::stat(path, &st) == 0) {
        int rc = S_ISDIR(st.st_mode)
                     ? ::mount("vpcd-hidden", path, "tmpfs",
                               MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
                     : ::mount("/dev/null", path, nullptr, MS_BIND, nullptr);
        if (rc != 0) fail("hide vpcd's files");
      }
    }
    p += n;
    if (*p == ':') ++p;
  }
  for (int cap = 0; cap < 64; ++cap) {
    if (!keptCapability(cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      fail("drop capabilities");
  }
}

void defaultSignals() {
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
}

// fork() with every signal blocked until the child has put the default
// handlers back. A signal meant for the child before its exec (a stop right
// after a start) would otherwise run the daemon's own handler in it, and
// Asio's SIGTERM handler writes to a pipe the child shares with the daemon,
// which then stopped as if it had been sent SIGTERM itself.
pid_t forkChild() {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    }
    defaultSignals();  // and unblocked: a pending SIGTERM now ends the child
    return 0;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

void rotate(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= kLogLimit) return;
  auto [tail, offset] = readTail(path, kLogKeep);
  std::ofstream(path, std::ios::trunc) << tail;
}

std::string startLine(const std::vector<std::string>& argv) {
  std::string line = "--- vpcd: starting";
  for (const auto& a : argv) line += " " + a;
  return line + " at " + isoTime(std::chrono::system_clock::now()) + " ---";
}

}  // namespace

[[noreturn]] void execCommand(const ChildSpec& spec) {
  // The daemon's descriptors go at once, all but the namespace's: its state
  // lock among them, which a child still setting up would hold past the
  // daemon's exit (a restart then found the directory "in use").
  auto ns = static_cast<unsigned>(spec.nsFd);
  if (ns > 3) ::syscall(SYS_close_range, 3u, ns - 1, 0u);
  ::syscall(SYS_close_range, ns + 1, ~0u, 0u);
  defaultSignals();
  if (::setns(spec.nsFd, CLONE_NEWNET) != 0) fail("enter network namespace");
  int flags = CLONE_NEWNS | (*spec.hostname ? CLONE_NEWUTS : 0);
  if (::unshare(flags) != 0) fail("new mount and UTS namespaces");
  if (*spec.hostname && ::sethostname(spec.hostname, std::strlen(spec.hostname)) != 0)
    fail("set the hostname");
  if (::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail("make / a slave mount");
  bindIfThere(spec.hosts, "/etc/hosts", "bind the hosts file");
  bindIfThere(spec.resolv, "/etc/resolv.conf", "bind the resolv.conf file");
  // /sys shows the devices of the namespace that mounts it, as in `ip netns exec`.
  if (::umount2("/sys", MNT_DETACH) == 0) ::mount(spec.ns, "/sys", "sysfs", 0, nullptr);
  if (spec.confine) confine(spec.confine);
  ::syscall(SYS_close_range, 3u, ~0u, 0u);
  // As execvp does, but in the command's PATH: a missing or unusable file
  // moves on to the next directory, the first other error is the answer.
  int first = ENOENT;
  for (const auto& path : spec.program->candidates()) {
    ::execve(path.c_str(), spec.program->argv(), spec.program->envp());
    if (errno != ENOENT && errno != ENOTDIR && first == ENOENT) first = errno;
  }
  errno = first;
  fail(spec.program->argv()[0]);
}

constexpr const char* kCommandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Program::Program(const std::vector<std::string>& argv, const std::string& hostname, bool terminal)
    : args_(argv) {
  // Not the daemon's: a command must not depend on how vpcd was started (a
  // service manager sets almost nothing; a shell, anything).
  env_ = {std::string("PATH=") + kCommandPath, "HOME=/root", "LANG=C.UTF-8", "USER=root",
          "LOGNAME=root"};
  if (terminal) env_.emplace_back("TERM=xterm-256color");
  if (!hostname.empty()) env_.push_back("HOSTNAME=" + hostname);
  const std::string& name = args_.at(0);
  if (name.find('/') != std::string::npos) {
    candidates_.push_back(name);
  } else {
    std::istringstream dirs(kCommandPath);
    for (std::string dir; std::getline(dirs, dir, ':');) candidates_.push_back(dir + "/" + name);
  }
  argv_ = cStrings(args_);
  envp_ = cStrings(env_);
}

std::vector<char*> cStrings(const std::vector<std::string>& items) {
  std::vector<char*> out;
  for (const auto& i : items) out.push_back(const_cast<char*>(i.c_str()));
  out.push_back(nullptr);
  return out;
}

CommandRunner::CommandRunner(std::string netnsDir, std::string etcNetnsDir)
    : netnsDir_(std::move(netnsDir)), etcNetnsDir_(std::move(etcNetnsDir)) {
  ::signal(SIGCHLD, SIG_IGN);
}

Fd CommandRunner::openNamespace(const std::string& ns) const {
  Fd fd(::open((netnsDir_ + "/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw std::runtime_error("cannot open namespace " + ns + ": " + std::strerror(errno));
  return fd;
}

CommandRunner::Started CommandRunner::start(const std::string& ns,
                                            const std::vector<std::string>& argv,
                                            const std::string& logPath) {
  rotate(logPath);
  appendLog(logPath, startLine(argv));
  // Everything the child needs is made before fork.
  Fd nsFd = openNamespace(ns);
  Fd logFd(::open(logPath.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  Fd nullFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!logFd || !nullFd)
    throw std::runtime_error("cannot open " + logPath + ": " + std::strerror(errno));
  std::string hosts = etcNetnsDir_ + "/" + ns + "/hosts";
  std::string resolv = etcNetnsDir_ + "/" + ns + "/resolv.conf";
  Program program(argv, "", false);
  ChildSpec spec{nsFd.get(), ns.c_str(), hosts.c_str(), resolv.c_str(), "", &program};
  pid_t pid = forkChild();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (::dup2(nullFd.get(), 0) < 0 || ::dup2(logFd.get(), 1) < 0 || ::dup2(logFd.get(), 2) < 0)
      _exit(127);
    ::setsid();  // its own process group, ended as a whole on stop
    execCommand(spec);
  }
  return {pid, startTimeOf(pid)};
}

void CommandRunner::hideFromCommands(const std::vector<std::string>& paths) {
  hidden_.clear();
  for (const auto& p : paths) {
    if (p.empty() || p.find(':') != std::string::npos) continue;  // a colon cannot be listed
    hidden_ += (hidden_.empty() ? "" : ":") + p;
  }
}

CommandRunner::Started CommandRunner::startOnConsole(const std::string& ns,
                                                     const std::vector<std::string>& argv,
                                                     const std::string& logPath,
                                                     const std::string& consolePath,
                                                     const std::string& hostname) {
  // The keeper of the run before (a reset) ends right after its command,
  // writing how it ended: its line comes before this run's.
  for (int k = 0; k < 100 && !keeperGone(consolePath); ++k) ::usleep(10000);
  rotate(logPath);
  appendLog(logPath, startLine(argv));
  openNamespace(ns);  // a missing namespace is said here, not in the log
  std::vector<std::string> keeper{"vpcd",
                                  "--console-keeper",
                                  netnsDir_ + "/" + ns,
                                  logPath,
                                  consolePath,
                                  hostname,
                                  etcNetnsDir_ + "/" + ns + "/hosts",
                                  etcNetnsDir_ + "/" + ns + "/resolv.conf",
                                  hidden_,
                                  "--"};
  keeper.insert(keeper.end(), argv.begin(), argv.end());
  auto args = cStrings(keeper);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  Fd readEnd(report[0]), writeEnd(report[1]);
  pid_t pid = forkChild();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The keeper reports on descriptor 3: the command's pid, or why not.
    if (::dup2(writeEnd.get(), 3) < 0) _exit(127);
    ::syscall(SYS_close_range, 4u, ~0u, 0u);
    defaultSignals();
    // This very binary, even if the file was replaced by an upgrade since.
    ::execv("/proc/self/exe", args.data());
    _exit(127);
  }
  writeEnd = Fd();
  std::string answer;
  pollfd p{.fd = readEnd.get(), .events = POLLIN, .revents = 0};
  char buf[256];
  while (::poll(&p, 1, 5000) > 0) {
    ssize_t n = ::read(readEnd.get(), buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  if (answer.rfind("pid ", 0) != 0) {
    throw std::runtime_error("the console keeper did not start the command" +
                             (answer.empty() ? std::string() : ": " + answer));
  }
  int child = std::stoi(answer.substr(4));
  return {child, startTimeOf(child)};
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
  if (logPath.empty()) return;
  appendLog(logPath, "--- vpcd: stopped" + std::string(ended ? "" : " (killed)") + " at " +
                         isoTime(std::chrono::system_clock::now()) + " ---");
}

uint64_t CommandRunner::startTimeOf(int pid) {
  if (pid <= 0) return 0;
  // read(2), not a stream: a process that ends between the open and the read
  // makes the read fail with ESRCH, which libstdc++'s filebuf throws (found by
  // starting and stopping commands at once); it has ended, so 0.
  Fd fd(::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  char buf[4096];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return 0;
  std::string stat(buf, static_cast<size_t>(n));
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
