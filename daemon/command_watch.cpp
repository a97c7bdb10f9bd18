#include "daemon/command_watch.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/commands.h"
#include "daemon/events.h"

namespace vpcd {

struct CommandWatch::Watched {
  std::string instance;
  int pid;
  uint64_t startTime;
  boost::asio::posix::stream_descriptor pidfd;
  bool closed = false;
};

CommandWatch::CommandWatch(boost::asio::io_context& io, EventLog& events)
    : io_(io), events_(events) {}

CommandWatch::~CommandWatch() {
  for (auto& [name, w] : watched_) {
    w->closed = true;
    boost::system::error_code ec;
    w->pidfd.close(ec);
  }
}

void CommandWatch::sync(const DesiredState& state) {
  for (auto it = watched_.begin(); it != watched_.end();) {
    const Instance* i = state.findInstance(it->first);
    const auto& w = it->second;
    if (i && i->status == InstanceStatus::Running && i->pid == w->pid &&
        i->pidStartTime == w->startTime) {
      ++it;
      continue;
    }
    w->closed = true;
    boost::system::error_code ec;
    w->pidfd.close(ec);  // cancels the wait: no event
    it = watched_.erase(it);
  }
  std::erase_if(exited_, [&](const auto& e) {
    const Instance* i = state.findInstance(e.first);
    return !i || std::make_pair(i->pid, i->pidStartTime) != e.second;
  });
  for (const auto& [name, i] : state.instances()) {
    if (i->status != InstanceStatus::Running || i->pid <= 0 || watched_.count(name) ||
        exited_.count(name))
      continue;
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, i->pid, 0));
    if (fd < 0 || !CommandRunner::alive(i->pid, i->pidStartTime)) {
      // Gone already: a command that ended within moments of its start, or
      // while no daemon ran. Its exit is reported now, once.
      if (fd >= 0) ::close(fd);
      events_.add("instance", "command_exited", name, {{"pid", i->pid}});
      exited_[name] = {i->pid, i->pidStartTime};
      continue;
    }
    auto w = std::make_shared<Watched>(
        Watched{name, i->pid, i->pidStartTime, boost::asio::posix::stream_descriptor(io_, fd)});
    watched_[name] = w;
    arm(w);
  }
}

void CommandWatch::arm(const std::shared_ptr<Watched>& w) {
  // A pidfd becomes readable when its process ends.
  w->pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this, w](const boost::system::error_code& ec) {
                        if (ec || w->closed) return;
                        events_.add("instance", "command_exited", w->instance, {{"pid", w->pid}});
                        exited_[w->instance] = {w->pid, w->startTime};
                        w->closed = true;
                        boost::system::error_code ignored;
                        w->pidfd.close(ignored);
                        auto it = watched_.find(w->instance);
                        if (it != watched_.end() && it->second == w) watched_.erase(it);
                      });
}

}  // namespace vpcd
