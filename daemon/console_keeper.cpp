#include "daemon/console_keeper.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "daemon/commands.h"
#include "lib/kernel/netns.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

constexpr size_t kMaxPending = 4096;

sockaddr_un unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw std::runtime_error("console socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// The serial log, kept under kLogLimit while the command writes to it. The
// terminal ends lines with "\r\n"; the log is text, with "\n" alone, so
// that grep, tail and `serial` print it as any log (a "\r" on its own, a
// progress bar's, stays).
class SerialLog {
 public:
  explicit SerialLog(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) {
    if (!fd_) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  }
  void write(const char* data, size_t n) {
    std::string text;
    text.reserve(n + 1);
    for (size_t k = 0; k < n; ++k) {
      if (heldReturn_ && data[k] != '\n') text += '\r';
      heldReturn_ = data[k] == '\r';
      if (!heldReturn_) text += data[k];
    }
    append(text);
  }
  // A line of vpcd's own, at the start of a line.
  void line(const std::string& text) {
    heldReturn_ = false;
    append((last_ == '\n' || size_ == 0 ? "" : "\n") + text + "\n");
  }

 private:
  void append(const std::string& text) {
    if (text.empty()) return;
    writeAll(fd_.get(), text.data(), text.size());
    size_ += text.size();
    last_ = text.back();
    if (size_ > kLogLimit) cut();
  }
  // Readers following the log start again from its beginning when it shrinks.
  void cut() {
    std::string tail(kLogKeep, '\0');
    ssize_t n = ::pread(fd_.get(), tail.data(), tail.size(), static_cast<off_t>(size_ - kLogKeep));
    if (n < 0 || ::ftruncate(fd_.get(), 0) != 0) return;
    writeAll(fd_.get(), tail.data(), static_cast<size_t>(n));
    size_ = static_cast<uint64_t>(n);
  }
  Fd fd_;
  uint64_t size_ = 0;
  char last_ = '\n';
  bool heldReturn_ = false;
};

struct Args {
  std::string nsPath, log, socket, hostname, hosts, resolv, hidden;
  std::vector<std::string> argv;
};

Args parseArgs(int argc, char** argv) {
  if (argc < 10 || std::strcmp(argv[8], "--") != 0)
    throw std::runtime_error(
        "usage: vpcd --console-keeper NS LOG SOCKET HOSTNAME HOSTS RESOLV HIDDEN -- "
        "COMMAND...");
  return {argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], {argv + 9, argv + argc}};
}

Fd listenOn(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = unixAddress(path);
  ::unlink(path.c_str());      // a keeper before a reboot or a kill -9
  mode_t old = ::umask(0177);  // the daemon (root) alone connects
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(fd.get(), 8) != 0)
    throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
  return fd;
}

std::string exitLine(int status) {
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "ended by signal " + std::to_string(WTERMSIG(status)) +
                                            " (" + ::strsignal(WTERMSIG(status)) + ")";
  return "--- vpcd: " + how + " at " + isoTime(std::chrono::system_clock::now()) + " ---";
}

class Keeper {
 public:
  Keeper(Fd master, Fd listener, SerialLog& log)
      : master_(std::move(master)), listener_(std::move(listener)), log_(log) {}

  // Until the command `child` ends; returns its wait status.
  int run(pid_t child) {
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    while (true) {
      std::vector<pollfd> fds{
          {master_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
      for (const auto& c : clients_) fds.push_back({c.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      // Input first, while the clients are those polled; closed ones are
      // dropped at the end of the round, so no index moves under a loop.
      for (size_t k = 3; k < fds.size(); ++k) {
        if (fds[k].revents) pumpInput(k - 3);
      }
      if (fds[0].revents & POLLIN) pumpOutput();
      if (fds[1].revents & POLLIN) accept();
      dropClosed();
      if (fds[2].revents & POLLIN) break;
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    while (pumpOutput()) {
    }
    return status;
  }

  // A line of vpcd's own, to the log and the consoles.
  void broadcast(const std::string& line) {
    log_.line(line);
    std::string shown = "\r\n" + line + "\r\n";
    send(shown.data(), shown.size());
    dropClosed();
  }

 private:
  // What the terminal shows: to the log and to every console. A console
  // that cannot keep up is closed rather than holding the command back.
  bool pumpOutput() {
    char buf[16384];
    ssize_t n = ::read(master_.get(), buf, sizeof buf);
    if (n <= 0) return false;
    log_.write(buf, static_cast<size_t>(n));
    send(buf, static_cast<size_t>(n));
    return true;
  }

  void send(const char* data, size_t n) {
    for (auto& c : clients_) {
      if (c && ::send(c.get(), data, n, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(n))
        c = Fd();
    }
  }

  void dropClosed() {
    std::erase_if(clients_, [](const Fd& c) { return !c; });
  }

  // Typed on a console; what a full terminal input queue cannot take is lost,
  // as on a serial line.
  void pumpInput(size_t k) {
    char buf[4096];
    if (!clients_[k]) return;
    ssize_t n = ::read(clients_[k].get(), buf, sizeof buf);
    if (n <= 0) {
      clients_[k] = Fd();
      return;
    }
    writeAll(master_.get(), buf, static_cast<size_t>(n));
  }

  // The daemon hands a client over: one message, its descriptor attached.
  void accept() {
    Fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    char data[sizeof(Greeting) + kMaxPending];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    pollfd p{conn.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return;
    ssize_t n = ::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (n < static_cast<ssize_t>(sizeof(Greeting)) || !c || c->cmsg_type != SCM_RIGHTS) return;
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    Fd client(fd);
    Greeting g;
    std::memcpy(&g, data, sizeof g);
    if (g.rows && g.cols) {
      winsize ws{g.rows, g.cols, 0, 0};
      ::ioctl(master_.get(), TIOCSWINSZ, &ws);
    }
    writeAll(master_.get(), data + sizeof g, static_cast<size_t>(n) - sizeof g);
    clients_.push_back(std::move(client));
  }

  Fd master_;
  Fd listener_;
  SerialLog& log_;
  std::vector<Fd> clients_;
};

// The pseudo-terminal pair; the keeper keeps a slave open so that the
// master never reads EIO between the command's start and end.
std::pair<Fd, Fd> openTerminal() {
  Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  char name[64];
  if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
      ::ptsname_r(master.get(), name, sizeof name) != 0)
    throw std::runtime_error(std::string("cannot open a pseudo-terminal: ") + std::strerror(errno));
  Fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave)
    throw std::runtime_error(std::string("cannot open ") + name + ": " + std::strerror(errno));
  winsize ws{24, 80, 0, 0};
  ::ioctl(master.get(), TIOCSWINSZ, &ws);
  return {std::move(master), std::move(slave)};
}

int keep(const Args& a, Fd& report) {
  SerialLog log(a.log);
  auto [master, slave] = openTerminal();
  Fd listener = listenOn(a.socket);
  struct stat bound {};
  ::stat(a.socket.c_str(), &bound);
  Fd nsFd(::open(a.nsPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!nsFd) throw std::runtime_error("cannot open " + a.nsPath + ": " + std::strerror(errno));
  Program program(a.argv, a.hostname, true);
  std::string ns = a.nsPath.substr(a.nsPath.rfind('/') + 1);
  ChildSpec spec{nsFd.get(),         ns.c_str(), a.hosts.c_str(), a.resolv.c_str(),
                 a.hostname.c_str(), &program,   a.hidden.c_str()};
  pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // A session of its own whose controlling terminal is the console, as
    // getty makes for a login; its process group is what a stop ends.
    ::setsid();
    if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0 || ::dup2(slave.get(), 0) < 0 ||
        ::dup2(slave.get(), 1) < 0 || ::dup2(slave.get(), 2) < 0)
      _exit(127);
    execCommand(spec);
  }
  std::string pid = "pid " + std::to_string(child) + "\n";
  writeAll(report.get(), pid.data(), pid.size());
  report = Fd();
  Keeper keeper(std::move(master), std::move(listener), log);
  int status = keeper.run(child);
  keeper.broadcast(exitLine(status));
  // Only its own socket: after a quick reset the next keeper may have bound
  // the same path already.
  struct stat now {};
  if (::stat(a.socket.c_str(), &now) == 0 && now.st_ino == bound.st_ino) ::unlink(a.socket.c_str());
  return 0;
}

}  // namespace

bool keeperGone(const std::string& consolePath) {
  Fd conn(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = unixAddress(consolePath);
  // No socket, or one nobody listens on (a keeper ended by kill -9).
  return ::connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0;
}

int consoleKeeperMain(int argc, char** argv) {
  // vpcd ignores SIGCHLD (its children are reaped by the kernel); the
  // keeper waits for its command to learn how it ended.
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::setsid();  // out of the daemon's process group and session
  Fd report(3);
  try {
    return keep(parseArgs(argc, argv), report);
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (report) writeAll(report.get(), why.data(), why.size());
    return 1;
  }
}

std::string handConsole(const std::string& consolePath, int fd, Greeting size,
                        std::string_view pending) {
  if (pending.size() > kMaxPending) return "too much input before the console was attached";
  Fd conn(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = unixAddress(consolePath);
  if (::connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return "its console is gone (" + std::string(std::strerror(errno)) + ")";
  std::string data(reinterpret_cast<const char*>(&size), sizeof size);
  data += pending;
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (::sendmsg(conn.get(), &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
    return "cannot hand the console over (" + std::string(std::strerror(errno)) + ")";
  return "";
}

}  // namespace vpcd
