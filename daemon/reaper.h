#pragma once
// Ends commands without holding the I/O thread. A stop sends SIGTERM to the
// command's process group at once; its exit is then awaited on the loop (a
// pidfd), SIGKILL goes to the group after the grace, and whatever waits on
// the stop runs once the command is gone. A command that ignores SIGTERM
// therefore delays only the request that stops it, never another client's
// request or a drift repair.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace vpcd {

class Reaper {
 public:
  explicit Reaper(boost::asio::io_context& io) : io_(io) {}
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Stops the command `pid` (if it is still the process that started at
  // `startTime`) under `key` (an instance's name). `alsoGone`, when given, is
  // another end to wait for once the command has exited (the instance's
  // console keeper, which writes the exit line), polled for up to a second.
  void stop(const std::string& key, int pid, uint64_t startTime,
            std::function<bool()> alsoGone = nullptr,
            std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Runs `then` on the loop once no stop under any of `keys` is in flight
  // (at once, still from the loop, when none is).
  void after(const std::vector<std::string>& keys, std::function<void()> then);
  // Stops under `key` not ended yet.
  bool stopping(const std::string& key) const { return inFlight_.count(key) > 0; }

 private:
  struct Stop;
  void ended(const std::string& key);
  void release();

  boost::asio::io_context& io_;
  std::map<std::string, int> inFlight_;  // key -> stops not ended
  struct Waiter {
    std::vector<std::string> keys;
    std::function<void()> then;
  };
  std::vector<Waiter> waiters_;
};

// Calls `ready` on the loop every `period` until it says yes or `limit` has
// passed, then `then(timedOut)`; the loop serves others in between.
void pollUntil(boost::asio::io_context& io, std::function<bool()> ready,
               std::chrono::milliseconds period, std::chrono::milliseconds limit,
               std::function<void(bool timedOut)> then);

}  // namespace vpcd
