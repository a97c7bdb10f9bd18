// Instance lifecycle: stop, start, reset, and the command each runs.

#include "daemon/log.h"
#include "daemon/service.h"
#include "lib/model/api_error.h"

namespace vpcd {

using nlohmann::json;

namespace {

constexpr uint64_t kSerialTail = 64 << 10;

ApiError wrongState(const Instance& i, const std::string& verb) {
  return ApiError::conflict("instance " + i.name + " is " + toString(i.status) + "; cannot " +
                            verb + " it");
}

}  // namespace

bool VpcService::commandRunning(const Instance& i) const {
  return runner_ && CommandRunner::alive(i.pid, i.pidStartTime);
}

void VpcService::startCommand(Instance& i) {
  if (!runner_ || i.command.empty()) return;
  auto started = runner_->start(instanceNamespace(i.name), i.command, store_.serialPath(i.name));
  i.pid = started.pid;
  i.pidStartTime = started.startTime;
}

void VpcService::stopCommand(Instance& i) {
  if (runner_) runner_->stop(i.pid, i.pidStartTime, store_.serialPath(i.name));
  i.pid = 0;
  i.pidStartTime = 0;
}

void VpcService::resumeCommands() {
  for (auto& [name, i] : instances_) {
    if (i.status == InstanceStatus::Provisioning) i.status = InstanceStatus::Running;
    bool running = i.status == InstanceStatus::Running;
    if (commandRunning(i) == running) continue;  // adopted, or rightly not running
    try {
      if (running) {
        startCommand(i);
      } else {
        stopCommand(i);  // a stop that a crash interrupted
      }
      store_.saveInstance(i);
    } catch (const std::exception& e) {
      // Its namespace may be missing after a failed start-up reconcile;
      // `reset` starts the command once the instance is whole again.
      logLine(3, "instance " + name + ": command not started: " + e.what());
    }
  }
}

Reply VpcService::stopInstance(const std::string& name) {
  Instance i = requireInstance(name);
  if (i.status != InstanceStatus::Running) throw wrongState(i, "stop");
  stopCommand(i);
  i.status = InstanceStatus::Stopped;
  i.lastStopAt = now();
  applyInstance(i);
  return {200, toJson(i, false)};
}

Reply VpcService::startInstance(const std::string& name) {
  Instance i = requireInstance(name);
  if (i.status != InstanceStatus::Stopped) throw wrongState(i, "start");
  i.status = InstanceStatus::Running;
  i.lastStartAt = now();
  applyInstance(i);
  Instance& live = instances_.at(name);
  startCommand(live);
  store_.saveInstance(live);
  return {200, toJson(live, commandRunning(live))};
}

Reply VpcService::resetInstance(const std::string& name) {
  Instance& i = requireInstance(name);
  if (i.status != InstanceStatus::Running) throw wrongState(i, "reset");
  stopCommand(i);
  startCommand(i);
  i.lastStartAt = now();
  store_.saveInstance(i);
  return {200, toJson(i, commandRunning(i))};
}

Reply VpcService::serialOutput(const std::string& name, const Query& q) const {
  requireInstance(name);
  auto [contents, start] = readTail(store_.serialPath(name), kSerialTail);
  if (q.count("follow") && q.at("follow") != "0" && q.at("follow") != "false") {
    // The tail, then whatever the command writes, until the instance goes.
    return {200, {}, Follow{store_.serialPath(name), start, [this, name] {
                              return instances_.count(name) > 0;
                            }}};
  }
  return {200, json{{"contents", contents}, {"start", start}, {"next", start + contents.size()}}};
}

}  // namespace vpcd
