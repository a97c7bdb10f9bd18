#pragma once
// Watches the commands of running instances and adds an event when one
// exits on its own (daemon/events.h). Each command is watched through a
// pidfd on the daemon's event loop: no polling, and a command is told
// apart from a later process with its pid by its start time.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <map>
#include <memory>
#include <string>

#include "lib/model/desired_state.h"

namespace vpcd {

class EventLog;

class CommandWatch {
 public:
  CommandWatch(boost::asio::io_context& io, EventLog& events);
  ~CommandWatch();

  // Watches exactly the commands `state` records as running; called with
  // every new desired state. A command the daemon stops itself is no longer
  // in the state by the time its exit is seen, and is not reported.
  void sync(const DesiredState& state);

 private:
  struct Watched;
  void arm(const std::shared_ptr<Watched>& w);

  boost::asio::io_context& io_;
  EventLog& events_;
  std::map<std::string, std::shared_ptr<Watched>> watched_;  // by instance
  // Commands whose exit was reported, while the state still records them
  // (until a reset or a stop): never watched, nor reported, twice.
  std::map<std::string, std::pair<int, uint64_t>> exited_;
};

}  // namespace vpcd
