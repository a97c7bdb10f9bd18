// Drives the drift watch directly (tests/netns/drift_watch_test.sh, inside
// the sandbox): two namespaces change, a pass over only the first one ends,
// and the change to the second must still be reported as drift. Prints the
// namespaces reported; exits 0 when exactly the second one was.
// With "bridge": A holds a bridge with port p0, whose learning flag changes
// (the kernel says so in AF_BRIDGE link messages only: no drift, since vpcd
// sets no bridge-port flag), while B changes; again only B is drift.
//   drift_watch_probe NETNS_DIR A B [bridge]
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "daemon/drift_watcher.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: drift_watch_probe NETNS_DIR A B [bridge]\n";
    return 2;
  }
  std::string a = argv[2], b = argv[3];
  bool bridge = argc == 5 && std::string(argv[4]) == "bridge";
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
    // (lo is up after the first run: the second takes it down.)
    std::string cmd = !bridge   ? "ip -n " + ns + " link set lo up"
                      : ns == a ? "bridge -n " + ns + " link set dev p0 learning off"
                                : "ip -n " + ns + " link set lo down";
    if (std::system(cmd.c_str()) != 0) return 2;
  }
  // A pass over `a` alone ends: what it looked at is not drift, the rest is.
  if (!bridge) watcher.discardPending({a});
  io.run_for(std::chrono::seconds(5));
  for (const auto& ns : reported) std::cout << ns << "\n";
  return reported == std::set<std::string>{b} ? 0 : 1;
}
