// vpcctl instance serial --follow and vpcctl instance console: an instance's
// terminal as a stream, read-only or interactive.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "cli/command.h"
#include "lib/kernel/netns.h"

namespace vpcctl {
namespace {

using vpcd::writeAll;

// Ctrl-], as in telnet and `virsh console`: detaches, the command goes on.
constexpr char kDetach = 0x1d;

// The local terminal in raw mode while attached, as it was on every way out.
class RawTerminal {
 public:
  RawTerminal() : active_(::isatty(0) && ::tcgetattr(0, &saved_) == 0) {
    if (!active_) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    ::tcsetattr(0, TCSANOW, &raw);
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_;
};

std::string sizeQuery() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return "";
  return "?rows=" + std::to_string(ws.ws_row) + "&cols=" + std::to_string(ws.ws_col);
}

// Copies between the terminal and the console until either side ends.
// Returns true when the user detached, false when the console closed.
bool relay(int fd, bool interactive) {
  bool stdinOpen = true;
  char buf[8192];
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stdinOpen ? 0 : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[0].revents) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      writeAll(1, buf, static_cast<size_t>(n));
    }
    if (fds[1].revents) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        // Input piped in and used up: what it started still answers, until
        // the command ends the console.
        stdinOpen = false;
        continue;
      }
      auto* detach = interactive
                         ? static_cast<char*>(std::memchr(buf, kDetach, static_cast<size_t>(n)))
                         : nullptr;
      writeAll(fd, buf, detach ? static_cast<size_t>(detach - buf) : static_cast<size_t>(n));
      if (detach) return true;
    }
  }
}

}  // namespace

int followSerial(const Options& o, const std::string& name) {
  Response r = stream(o.socket, "/v1/instances/" + name + "/serial-output?follow=1",
                      [](std::string_view piece) {
                        std::cout.write(piece.data(), static_cast<std::streamsize>(piece.size()));
                        std::cout.flush();
                      });
  if (r.status >= 200 && r.status < 300) return 0;
  printError(r);
  return 1;
}

int attachConsole(const Options& o, const std::string& name) {
  std::string early;
  Response r;
  int fd = upgrade(o.socket, "/v1/instances/" + name + "/console" + sizeQuery(), "vpcd-console",
                   early, r);
  if (fd < 0) {
    printError(r);
    return 1;
  }
  bool detached = false;
  {
    RawTerminal raw;
    if (raw.active())
      std::cerr << "Connected to the console of " << name << " (detach with Ctrl-])\r\n";
    writeAll(1, early.data(), early.size());
    detached = relay(fd, raw.active());
  }
  ::close(fd);
  if (detached) {
    std::cerr << "\nDetached from the console of " << name << "; its command goes on\n";
  } else {
    std::cerr << "\nThe console of " << name << " closed: its command ended\n";
  }
  return 0;
}

}  // namespace vpcctl
