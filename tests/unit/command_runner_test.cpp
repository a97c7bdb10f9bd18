// Children started and stopped at once (a resolver whose router looked
// changed, an instance deleted right after its start), many times over:
// start never throws for a child that has already ended (reading its
// /proc/<pid>/stat then fails with ESRCH, which a stream threw: this test
// found it), and the stop's SIGTERM never reaches the daemon's own handler
// (a child signalled before its exec ran the daemon's handler, which wrote to
// the pipe it shares with the daemon; netns.lab saw vpcd stop "on signal 15"
// in the middle of an apply). The second is a race: this test makes it
// likely, not certain; the fork blocks every signal so it cannot happen.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <catch2/catch.hpp>
#include <fstream>

#include "daemon/commands.h"
#include "tests/unit/harness.h"

using namespace vpcd;

TEST_CASE("children started and stopped at once: start never throws, the daemon gets no signal") {
  test::TempDir dir;
  // Not a namespace: the child fails at setns, after the window that matters
  // (between fork and exec), which needs no root.
  std::ofstream(dir.path / "ns") << "";
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGTERM);
  int handled = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ++handled;
  });
  CommandRunner runner(dir.path.string(), dir.path.string());
  std::string log = (dir.path / "log").string();
  for (int i = 0; i < 5000; ++i) {
    auto started = runner.start("ns", {"/bin/true"}, log);
    runner.stop(started.pid, started.startTime, "", std::chrono::milliseconds(0));
  }
  io.poll();
  CHECK(handled == 0);
  signals.cancel();
  io.poll();
}
