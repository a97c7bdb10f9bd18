#include "daemon/reaper.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "daemon/commands.h"

namespace vpcd {

// One stop in flight: the pidfd (readable once the process has exited) and
// the timer of its grace, then of the SIGKILL's wait, then of the keeper's.
struct Reaper::Stop : std::enable_shared_from_this<Reaper::Stop> {
  Stop(Reaper& r, std::string k, int p, std::function<bool()> gone)
      : reaper(r),
        key(std::move(k)),
        pid(p),
        alsoGone(std::move(gone)),
        pidfd(r.io_),
        timer(r.io_) {}

  void awaitExit(std::chrono::milliseconds limit, bool killed) {
    auto self = shared_from_this();
    timer.expires_after(limit);
    timer.async_wait([self, killed](boost::system::error_code ec) {
      // The command exited first (its handler may run after this one was
      // queued: expired timers are not cancelled).
      if (ec || self->finished) return;
      boost::system::error_code ignored;
      self->pidfd.cancel(ignored);
      if (killed) return self->exited();  // cannot be killed (uninterruptible): given up
      ::kill(-self->pid, SIGKILL);
      self->awaitExit(std::chrono::seconds(2), true);
    });
    pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [self](boost::system::error_code ec) {
                       if (ec || self->finished) return;  // cancelled by the timer
                       self->timer.cancel();
                       self->exited();
                     });
  }

  void exited() {
    if (finished) return;
    finished = true;
    // Whatever else of its group is left goes too, as a synchronous stop did.
    ::kill(-pid, SIGKILL);
    awaitAlsoGone(100);
  }

  void awaitAlsoGone(int polls) {
    if (!alsoGone || alsoGone() || polls == 0) return reaper.ended(key);
    auto self = shared_from_this();
    timer.expires_after(std::chrono::milliseconds(10));
    timer.async_wait([self, polls](boost::system::error_code ec) {
      if (!ec) self->awaitAlsoGone(polls - 1);
    });
  }

  Reaper& reaper;
  std::string key;
  int pid;
  bool finished = false;  // exited() ran: the stop ends once, whichever handler comes first
  std::function<bool()> alsoGone;
  boost::asio::posix::stream_descriptor pidfd;
  boost::asio::steady_timer timer;
};

void Reaper::stop(const std::string& key, int pid, uint64_t startTime,
                  std::function<bool()> alsoGone, std::chrono::milliseconds grace) {
  ++inFlight_[key];
  auto s = std::make_shared<Stop>(*this, key, pid, std::move(alsoGone));
  // The pidfd first: once it is open the pid cannot name another process.
  int fd = CommandRunner::alive(pid, startTime)
               ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))
               : -1;
  if (fd < 0 || !CommandRunner::alive(pid, startTime)) {
    if (fd >= 0) ::close(fd);
    // Gone already (or no pidfd): only what else is awaited, from the loop.
    boost::asio::post(io_, [s] { s->awaitAlsoGone(100); });
    return;
  }
  s->pidfd.assign(fd);
  ::kill(-pid, SIGTERM);
  s->awaitExit(grace, false);
}

void pollUntil(boost::asio::io_context& io, std::function<bool()> ready,
               std::chrono::milliseconds period, std::chrono::milliseconds limit,
               std::function<void(bool timedOut)> then) {
  struct Poll : std::enable_shared_from_this<Poll> {
    Poll(boost::asio::io_context& io) : timer(io) {}
    void next() {
      if (ready()) return then(false);
      if (std::chrono::steady_clock::now() >= deadline) return then(true);
      timer.expires_after(period);
      timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->next();
      });
    }
    boost::asio::steady_timer timer;
    std::function<bool()> ready;
    std::function<void(bool)> then;
    std::chrono::milliseconds period{};
    std::chrono::steady_clock::time_point deadline;
  };
  auto p = std::make_shared<Poll>(io);
  p->ready = std::move(ready);
  p->then = std::move(then);
  p->period = period;
  p->deadline = std::chrono::steady_clock::now() + limit;
  boost::asio::post(io, [p] { p->next(); });
}

void Reaper::after(const std::vector<std::string>& keys, std::function<void()> then) {
  waiters_.push_back({keys, std::move(then)});
  boost::asio::post(io_, [this] { release(); });
}

void Reaper::ended(const std::string& key) {
  if (--inFlight_[key] <= 0) inFlight_.erase(key);
  release();
}

void Reaper::release() {
  // Those that can run are taken out first: one may add another waiter.
  std::vector<std::function<void()>> ready;
  std::erase_if(waiters_, [&](Waiter& w) {
    for (const auto& k : w.keys) {
      if (stopping(k)) return false;
    }
    ready.push_back(std::move(w.then));
    return true;
  });
  for (auto& f : ready) f();
}

}  // namespace vpcd
