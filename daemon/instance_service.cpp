// Instances: create, read, delete, NICs, life cycle, the command each runs,
// its serial output, and the hosts files of their namespaces.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "daemon/console_keeper.h"
#include "daemon/log.h"
#include "daemon/reaper.h"
#include "daemon/service.h"
#include "lib/model/error.h"

namespace vpcd {

using nlohmann::json;

namespace {

constexpr uint64_t kSerialTail = 64 << 10;

// "env=lab" -> the instance has label env with value lab; "env" -> has env.
bool hasLabel(const Instance& i, const std::string& selector) {
  size_t eq = selector.find('=');
  auto it = i.labels.find(selector.substr(0, eq));
  return it != i.labels.end() && (eq == std::string::npos || it->second == selector.substr(eq + 1));
}

// ?rows=&cols= of a console: the client's terminal, 1 to 1000; 0 when absent.
uint16_t terminalSize(const Query& q, const std::string& key) {
  if (!q.count(key)) return 0;
  const std::string& text = q.at(key);
  bool digits = !text.empty() && text.size() <= 4 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(text) < 1 || std::stoi(text) > 1000)
    throw DomainError::invalid(key, "must be a number from 1 to 1000");
  return static_cast<uint16_t>(std::stoi(text));
}

DomainError wrongState(const Instance& i, const std::string& verb) {
  return DomainError::conflict("instance " + i.name + " is " + toString(i.status) + "; cannot " +
                               verb + " it");
}

}  // namespace

CommandRunner::Started InstanceService::runOnConsole(const Instance& i) {
  return runner_->startOnConsole(instanceNamespace(i.name), i.command,
                                 engine_.store().serialPath(i.name),
                                 engine_.store().consolePath(i.name), i.name);
}

bool InstanceService::commandRunning(const Instance& i) const {
  return runner_ && CommandRunner::alive(i.pid, i.pidStartTime);
}

void InstanceService::startCommand(const Instance& i) {
  if (!runner_ || i.command.empty()) return;
  auto started = runOnConsole(i);
  Instance running = i;
  running.pid = started.pid;
  running.pidStartTime = started.startTime;
  // Recorded so that a restarted daemon adopts the process instead of
  // starting a second one.
  engine_.commit(engine_.state().with(change::UpdateInstance{running}));
}

json InstanceService::shown(const Instance& i) const {
  bool running = commandRunning(i);
  json out = toJson(i, running);
  // Stopped in the state, its command not ended yet (within its grace).
  if (i.status == InstanceStatus::Stopped && running) out["status"] = "STOPPING";
  const DesiredState& s = engine_.state();
  if (s.findInstance(i.name))
    out["impairments"] = impairmentSummaries(s, s.impairmentsOnNic(i.name, ""));
  return engine_.withEnforcement(out, vpcsOf(i));
}

Reply InstanceService::launch(const std::string& name, int status) {
  startCommand(engine_.state().instance(name));
  return {status, shown(engine_.state().instance(name))};
}

void InstanceService::stopCommand(const Instance& i) {
  // SIGTERM now; the exit is awaited on the loop. Its console keeper writes
  // how the command ended to the log, then ends: a start after this stop
  // waits for both.
  if (!runner_ || !reaper_) return;
  reaper_->stop(i.name, i.pid, i.pidStartTime,
                [path = engine_.store().consolePath(i.name)] { return keeperGone(path); });
}

Reply InstanceService::whenStopped(const std::vector<std::string>& names, Finish finish) {
  bool waiting = reaper_ && std::any_of(names.begin(), names.end(),
                                        [&](const auto& n) { return reaper_->stopping(n); });
  if (!waiting) return finish();
  Reply r;
  r.later = [this, names, finish = std::move(finish)](Deliver deliver) {
    reaper_->after(names, [deliver, finish] { deliver(finish); });
  };
  return r;
}

void InstanceService::resume() {
  // A copy of the table: each commit below replaces the state it belongs to.
  const Table<Instance> instances = engine_.state().instances();
  for (const auto& [name, ptr] : instances) {
    Instance i = *ptr;
    if (i.status == InstanceStatus::Provisioning) i.status = InstanceStatus::Running;
    bool running = i.status == InstanceStatus::Running;
    if (commandRunning(i) == running && i == *ptr) continue;  // adopted, or rightly not running
    try {
      if (running && !commandRunning(i)) {
        engine_.commit(engine_.state().with(change::UpdateInstance{i}));
        startCommand(i);
      } else {
        // A stop that a crash interrupted: before the loop runs, so here.
        if (runner_) runner_->stop(i.pid, i.pidStartTime, "");
        i.pid = 0;
        i.pidStartTime = 0;
        engine_.commit(engine_.state().with(change::UpdateInstance{i}));
      }
    } catch (const std::exception& e) {
      // Its namespace may be missing after a failed start-up reconcile;
      // `reset` starts the command once the instance is whole again.
      logLine(3, "instance " + name + ": command not started: " + e.what());
    }
  }
}

void InstanceService::stopCommands(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (const Instance* i = engine_.state().findInstance(name)) stopCommand(*i);
  }
}

void InstanceService::startCommands(const std::vector<std::string>& names) {
  std::vector<Change> started;
  for (const auto& name : names) {
    const Instance* i = engine_.state().findInstance(name);
    if (!runner_ || !i || i->command.empty() || i->status != InstanceStatus::Running ||
        commandRunning(*i))
      continue;
    try {
      auto cmd = runOnConsole(*i);
      Instance running = *i;
      running.pid = cmd.pid;
      running.pidStartTime = cmd.startTime;
      started.push_back(change::UpdateInstance{running});
    } catch (const std::exception& e) {
      // Shown as "exited"; `reset` starts it once the cause is fixed.
      logLine(3, "instance " + name + ": command not started: " + e.what());
    }
  }
  // One commit records every pid, for a restarted daemon to adopt.
  if (!started.empty()) engine_.commit(engine_.state().with(started));
}

void InstanceService::forget(const std::string& name) {
  ::unlink(engine_.store().serialPath(name).c_str());
  ::unlink(engine_.store().consolePath(name).c_str());
}

Reply InstanceService::list(const Query& q) const {
  json items = json::array();
  for (const auto& [name, i] : engine_.state().instances()) {
    if (q.count("label") && !hasLabel(*i, q.at("label"))) continue;
    if (q.count("vpc") && !vpcsOf(*i).count(q.at("vpc"))) continue;
    items.push_back(shown(*i));
  }
  return {200, json{{"items", items}}};
}

Reply InstanceService::get(const std::string& name) const {
  return {200, shown(engine_.state().instance(name))};
}

Reply InstanceService::create(const json& body) {
  InstanceRequest req = parseInstanceRequest(body);
  std::string name = req.instance.name;
  engine_.commit(engine_.state().with(change::CreateInstance{req, nowSeconds()}));
  return launch(name, 201);
}

Reply InstanceService::remove(const std::string& name) {
  Instance i = engine_.state().instance(name);
  DesiredState next = engine_.state().with(change::DeleteInstance{name});  // refused: in use
  engine_.authorize(next);
  stopCommand(i);
  engine_.commit(next);
  forget(name);
  i.status = InstanceStatus::Stopped;
  // The answer once the command has ended (its namespace goes with it).
  return whenStopped({name}, [i] { return Reply{200, toJson(i, false)}; });
}

Reply InstanceService::stop(const std::string& name) {
  Instance i = engine_.state().instance(name);
  if (i.status != InstanceStatus::Running) throw wrongState(i, "stop");
  engine_.authorize(vpcsOf(i));
  stopCommand(i);
  // The pid stays recorded until the next start: a daemon restarted while
  // the command is still within its grace finishes the stop (resume).
  i.status = InstanceStatus::Stopped;
  i.lastStopAt = nowSeconds();
  engine_.commit(engine_.state().with(change::UpdateInstance{i}));
  return whenStopped({name}, [this, name] {
    return Reply{200, shown(engine_.state().instance(name))};
  });
}

Reply InstanceService::start(const std::string& name) {
  Instance i = engine_.state().instance(name);
  if (i.status != InstanceStatus::Stopped) throw wrongState(i, "start");
  i.status = InstanceStatus::Running;
  i.lastStartAt = nowSeconds();
  i.pid = 0;
  i.pidStartTime = 0;
  engine_.commit(engine_.state().with(change::UpdateInstance{i}));
  // A stop still in its grace ends first: one command per instance.
  return whenStopped({name}, [this, name] { return relaunch(name); });
}

Reply InstanceService::reset(const std::string& name) {
  Instance i = engine_.state().instance(name);
  if (i.status != InstanceStatus::Running) throw wrongState(i, "reset");
  engine_.authorize(vpcsOf(i));
  stopCommand(i);
  i.pid = 0;
  i.pidStartTime = 0;
  i.lastStartAt = nowSeconds();
  engine_.commit(engine_.state().with(change::UpdateInstance{i}));
  return whenStopped({name}, [this, name] { return relaunch(name); });
}

Reply InstanceService::relaunch(const std::string& name) {
  // Another request may have stopped, started or deleted it meanwhile: only
  // a running instance without a command gets one.
  const Instance& i = engine_.state().instance(name);
  if (i.status == InstanceStatus::Running && !commandRunning(i)) return launch(name, 200);
  return {200, shown(i)};
}

Reply InstanceService::addNic(const std::string& name, const json& body) {
  NicRequest r = parseNicRequest(body, "");
  engine_.commit(engine_.state().with(change::AddNic{name, r}));
  return {201, toJson(engine_.state().instance(name).nics.back(), false)};
}

Reply InstanceService::removeNic(const std::string& name, const std::string& nic) {
  const Instance& i = engine_.state().instance(name);
  auto it = std::find_if(i.nics.begin(), i.nics.end(), [&](const Nic& n) { return n.name == nic; });
  json gone = it == i.nics.end() ? json() : toJson(*it, false);
  engine_.commit(engine_.state().with(change::RemoveNic{name, nic}));
  return {200, gone};
}

Reply InstanceService::serialOutput(const std::string& name, const Query& q) const {
  engine_.state().instance(name);
  std::string path = engine_.store().serialPath(name);
  auto [contents, start] = readTail(path, kSerialTail);
  if (q.count("follow") && q.at("follow") != "0" && q.at("follow") != "false") {
    // The tail, then whatever the command writes, until the instance goes.
    return {200, {}, Follow{path, start, [this, name] {
                              return engine_.state().findInstance(name) != nullptr;
                            }}};
  }
  return {200, json{{"contents", contents}, {"start", start}, {"next", start + contents.size()}}};
}

}  // namespace vpcd

namespace vpcd {

Reply InstanceService::console(const std::string& name, const std::string& upgrade,
                               const Query& q) const {
  const Instance& i = engine_.state().instance(name);
  std::string protocol = upgrade;
  std::transform(protocol.begin(), protocol.end(), protocol.begin(), ::tolower);
  if (protocol != "vpcd-console")
    throw DomainError::invalid("Upgrade",
                               "the console is a byte stream: ask for it with `Connection: "
                               "Upgrade` and `Upgrade: vpcd-console` (vpcctl instance console "
                               "does)");
  if (i.command.empty())
    throw DomainError::conflict("instance " + name +
                                " has no command: nothing runs on its console");
  if (!commandRunning(i))
    throw DomainError::conflict("instance " + name + " is " + toString(i.status) +
                                " and its command is not running; start or reset it first");
  engine_.authorize(vpcsOf(i));  // typing there acts there
  std::string path = engine_.store().consolePath(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
    throw DomainError::conflict("the console of instance " + name +
                                " is gone (its keeper ended); reset the instance for a new one");
  ConsoleAttach attach{path, 0, 0};
  attach.rows = terminalSize(q, "rows");
  attach.cols = terminalSize(q, "cols");
  return {101, {}, std::nullopt, attach};
}

}  // namespace vpcd
