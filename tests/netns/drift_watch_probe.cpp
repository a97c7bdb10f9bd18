// Drives the drift watch directly (tests/netns/drift_watch_test.sh, inside
// the sandbox): two namespaces change, a pass over only the first one ends,
// and the change to the second must still be reported as drift. Prints the
// namespaces reported; exits 0 when exactly the second one was.
//   drift_watch_probe NETNS_DIR A B
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "daemon/drift_watcher.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: drift_watch_probe NETNS_DIR A B\n";
    return 2;
  }
  std::string a = argv[2], b = argv[3];
  boost::asio::io_context io;
  std::set<std::string> reported;
  vpcd::DriftWatcher watcher(io, argv[1], [&](const std::set<std::string>& changed) {
    reported.insert(changed.begin(), changed.end());
    io.stop();
    return true;
  });
  watcher.watch({a, b});
  // Hand-made changes in both namespaces. A notification is queued on the
  // watch's socket before the command that caused it returns.
  for (const auto& ns : {a, b}) {
    std::string cmd = "ip -n " + ns + " link set lo up";
    if (std::system(cmd.c_str()) != 0) return 2;
  }
  // A pass over `a` alone ends: what it looked at is not drift, the rest is.
  watcher.discardPending({a});
  io.run_for(std::chrono::seconds(5));
  for (const auto& ns : reported) std::cout << ns << "\n";
  return reported == std::set<std::string>{b} ? 0 : 1;
}
