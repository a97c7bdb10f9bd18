#pragma once
// The services per resource, over the one shared desired state (Engine):
// each parses a request into a change, makes `next = state.with(change)`,
// hands `next` to Engine::commit and answers. None keeps state of its own
// or decides which namespaces a change touches. Each class is implemented in
// a file of its own (vpc_service.cpp, peering_service.cpp, …).
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "daemon/commands.h"
#include "daemon/config.h"
#include "daemon/engine.h"
#include "daemon/probe.h"

namespace boost::asio {
class io_context;
}

namespace vpcd {

struct LabPlan;  // lib/model/lab_document.h
class Reaper;    // daemon/reaper.h

// A file the HTTP layer streams as it grows (serial output with ?follow=1),
// from `offset`, until `active` says the writer is gone.
struct Follow {
  std::string path;
  uint64_t offset = 0;
  std::function<bool()> active;
  // Instead of a file: what to send next ("" when nothing yet); nullopt
  // ends the stream (the event stream, daemon/events.h).
  std::function<std::optional<std::string>()> read;
  std::string contentType = "text/plain; charset=utf-8";
};

// A connection the HTTP layer hands to an instance's console keeper after
// answering 101 Switching Protocols (daemon/console_keeper.h).
struct ConsoleAttach {
  std::string path;  // the keeper's socket
  uint16_t rows = 0, cols = 0;
};

struct Reply;
// What finishes a reply that comes later: a function that makes it (and may
// throw, as a service does), handed to the Deliver given to Reply::later.
using Finish = std::function<Reply()>;
using Deliver = std::function<void(Finish)>;

// A result for the API: the HTTP status and the JSON body, or a stream.
struct Reply {
  int status = 200;
  nlohmann::json body;
  std::optional<Follow> follow;
  std::optional<ConsoleAttach> console;
  // A body that is not JSON (a lab's graph): sent as is, with its type.
  std::optional<std::string> text;
  std::string contentType = "application/json";
  // An answer that waits for something to end (a command's stop): called
  // once with a Deliver, which is called once from the I/O loop when it has
  // ended. The state has been changed already; the loop serves other clients
  // and drift repairs meanwhile.
  std::function<void(Deliver)> later;
};

using Query = std::map<std::string, std::string>;

// Unix seconds now: changes carry the time so that `with` stays pure.
int64_t nowSeconds();

class VpcService {
 public:
  explicit VpcService(Engine& engine) : engine_(engine) {}
  Reply list() const;
  Reply get(const std::string& vpc) const;
  Reply create(const nlohmann::json& body);
  Reply remove(const std::string& vpc);
  Reply listSubnets(const std::string& vpc) const;
  Reply getSubnet(const SubnetRef& ref) const;
  Reply createSubnet(const std::string& vpc, const nlohmann::json& body);
  Reply removeSubnet(const SubnetRef& ref);
  Reply availableIps(const SubnetRef& ref, const Query& q) const;

 private:
  Engine& engine_;
};

class PeeringService {
 public:
  explicit PeeringService(Engine& engine) : engine_(engine) {}
  Reply list();
  Reply get(const std::string& name);
  Reply create(const nlohmann::json& body);
  Reply accept(const std::string& name);
  Reply reject(const std::string& name);
  Reply remove(const std::string& name);

 private:
  // Pending requests past their expiry become expired (and are saved so).
  void expire();
  // The peering as the API shows it, with its enforcement.
  nlohmann::json shown(const std::string& name) const;
  Engine& engine_;
};

class PolicyService {
 public:
  explicit PolicyService(Engine& engine) : engine_(engine) {}
  Reply list() const;
  Reply get(const std::string& name) const;
  Reply put(const std::string& name, const nlohmann::json& body);
  Reply remove(const std::string& name);
  // Packets and bytes per rule, read from the routers' tables.
  Reply stats(const std::string& name);

 private:
  Engine& engine_;
};

class InstanceService {
 public:
  explicit InstanceService(Engine& engine) : engine_(engine) {}
  // Commands run only when a runner is set (not in a dry run or unit tests).
  void setCommandRunner(CommandRunner* runner, Reaper* reaper) {
    runner_ = runner;
    reaper_ = reaper;
  }
  // The reply `finish` makes once the commands of `names` have ended (at
  // once when none is ending).
  Reply whenStopped(const std::vector<std::string>& names, Finish finish);
  // At start: each RUNNING instance's command adopted if still alive or
  // started again.
  void resume();

  Reply list(const Query& q) const;
  Reply get(const std::string& name) const;
  Reply create(const nlohmann::json& body);
  Reply remove(const std::string& name);
  Reply stop(const std::string& name);
  Reply start(const std::string& name);
  Reply reset(const std::string& name);
  Reply addNic(const std::string& name, const nlohmann::json& body);
  Reply removeNic(const std::string& name, const std::string& nic);
  Reply serialOutput(const std::string& name, const Query& q) const;
  // The command's terminal, for a client that asked to upgrade to the
  // `vpcd-console` protocol (`upgrade`: its Upgrade header).
  Reply console(const std::string& name, const std::string& upgrade, const Query& q) const;

  // For a lab's apply, around its one commit: the commands of these
  // instances ended before (deleted, replaced, or given a new command), and
  // started after, their pids recorded in one commit.
  void stopCommands(const std::vector<std::string>& names);
  void startCommands(const std::vector<std::string>& names);
  // The serial log of an instance that is gone.
  void forget(const std::string& name);
  // Whether the recorded pid of its command is that command, alive.
  bool commandRunning(const Instance& i) const;

 private:
  // The command of `i` started (or stopped), and the pid recorded.
  void startCommand(const Instance& i);
  CommandRunner::Started runOnConsole(const Instance& i);
  void stopCommand(const Instance& i);
  // The command of instance `name` (RUNNING in the state) started, and the
  // instance as the answer.
  Reply launch(const std::string& name, int status);
  // After a stop's end: the command started if the instance is still running
  // without one.
  Reply relaunch(const std::string& name);
  // The instance as the API shows it: its command's state and enforcement.
  nlohmann::json shown(const Instance& i) const;

  Engine& engine_;
  CommandRunner* runner_ = nullptr;
  Reaper* reaper_ = nullptr;
};

// Port forwards: a host port led to a host in a VPC (docs/port-forwards.md).
class ForwardService {
 public:
  explicit ForwardService(Engine& engine) : engine_(engine) {}
  Reply list() const;
  Reply get(const std::string& name) const;
  Reply create(const nlohmann::json& body);
  Reply remove(const std::string& name);

 private:
  nlohmann::json shown(const PortForward& f) const;
  Engine& engine_;
};

// Impairments: delay, loss, rate and links down on purpose
// (docs/impairments.md).
class ImpairmentService {
 public:
  explicit ImpairmentService(Engine& engine) : engine_(engine) {}
  Reply list();
  Reply get(const std::string& name);
  // Creates or replaces; `enabled` switches it on and off with its values kept.
  Reply put(const std::string& name, const nlohmann::json& body);
  Reply remove(const std::string& name);
  // Timed impairments whose time is up switched off (and saved so): called
  // by the daemon's clock at the earliest end, and before each answer.
  void expire();

 private:
  nlohmann::json shown(const Impairment& i) const;
  Engine& engine_;
};

// 422 naming the field when an enabled impairment of `next` needs a qdisc
// this kernel does not have (netem is a module some kernels lack): nothing
// is stored that the kernel cannot enforce.
// `pathOf` names where an impairment was written (a lab's "impairments[0]").
void requireEnforceable(Engine& engine, const DesiredState& next,
                        const std::function<std::string(const std::string&)>& pathOf = {});

// The impairments `names` in short, as a subnet or an instance shows them.
nlohmann::json impairmentSummaries(const DesiredState& s, const std::vector<std::string>& names);

class FlowCollector;  // daemon/flow_collector.h

// What the flow logs wrote since start, for one VPC (the metrics).
struct FlowRecordCounts {
  uint64_t accepted = 0, rejected = 0;
  uint64_t incomplete = 0;  // windows that said SKIPDATA
};

// Flow logs: which traffic of a VPC is written as flow records, and the
// records (docs/operations.md, "Flow logs").
class FlowLogService {
 public:
  explicit FlowLogService(Engine& engine) : engine_(engine) {}
  // The daemon's collector (none with the fake kernel: records are then
  // only read from their files).
  void setCollector(FlowCollector* c) { collector_ = c; }
  // By VPC; nullopt without a collector.
  std::optional<std::map<std::string, FlowRecordCounts>> written() const;
  Reply list() const;
  Reply get(const std::string& name) const;
  Reply put(const std::string& name, const nlohmann::json& body);
  Reply remove(const std::string& name);
  // GET /v1/vpcs/{vpc}/flow-logs
  Reply records(const std::string& vpc, const Query& q);

 private:
  nlohmann::json shown(const FlowLog& f) const;
  Engine& engine_;
  FlowCollector* collector_ = nullptr;
};

// Labs: a whole environment applied as one change (docs/labs.md).
class LabService {
 public:
  LabService(Engine& engine, InstanceService& instances) : engine_(engine), instances_(instances) {}
  Reply list() const;
  Reply get(const std::string& name) const;
  // Apply; ?dry_run=true answers the plan and changes nothing; ?adopt=true
  // takes over the objects made outside any lab that the document names.
  Reply put(const std::string& name, const nlohmann::json& body, const Query& q);
  Reply remove(const std::string& name);
  // The lab (or with `name` empty the whole host) as a document; ?name= names it.
  Reply exportDocument(const std::string& name, const Query& q) const;
  // DOT text or SVG (?format=dot|svg).
  Reply graph(const std::string& name, const Query& q) const;

 private:
  nlohmann::json shown(const Lab& lab) const;
  // Carries out a plan: commands stopped, one commit, commands started once
  // the old ones have ended; then the reply `finish` makes.
  Reply carryOut(const LabPlan& plan, Finish finish);
  Engine& engine_;
  InstanceService& instances_;
};

// Reachability: the model's answer, real packets, and whether they agree
// (docs/reachability.md); and a lab's expectations checked the same way.
class ReachService {
 public:
  explicit ReachService(Engine& engine) : engine_(engine) {}
  ~ReachService();
  ReachService(const ReachService&) = delete;
  ReachService& operator=(const ReachService&) = delete;
  // With a loop, probes wait in threads of their own and the answer comes
  // later; without one (unit tests), in the request.
  void setLoop(boost::asio::io_context* io) { io_ = io; }
  Reply check(const nlohmann::json& body);
  Reply verify(const std::string& lab);
  // Waits for the probes in flight (at shutdown, while the loop still exists).
  void joinProbes();

 private:
  struct Pending;
  struct Batch;
  // The model's answers, and which questions to probe (when `probe` and not
  // a dry run).
  std::shared_ptr<Pending> prepare(const std::vector<nlohmann::json>& questions, bool probe);
  Batch nextBatch(const Pending& p);
  void record(Pending& p, const Batch& b, const std::vector<ProbeResult>& results);
  // The probes run in the request (no loop).
  void probeNow(Pending& p);
  // The batches probed one after another off the loop; `done` on the loop.
  void probeLater(std::shared_ptr<Pending> p, std::function<void()> done);
  static Reply verdicts(const std::string& lab, const nlohmann::json& expect,
                        const std::vector<nlohmann::json>& answers);
  Engine& engine_;
  boost::asio::io_context* io_ = nullptr;
  std::map<uint64_t, std::thread> probes_;  // by id; touched on the loop only
  uint64_t lastProbe_ = 0;
};

// Everything the daemon serves, over one engine.
class Services {
 public:
  Services(DaemonConfig config, StateStore& store, Kernel& kernel, Reconciler& reconciler)
      : engine(std::move(config), store, kernel, reconciler),
        vpcs(engine),
        peerings(engine),
        policies(engine),
        instances(engine),
        forwards(engine),
        impairments(engine),
        flowLogs(engine),
        labs(engine, instances),
        reach(engine) {}
  void load() { engine.load(); }
  ReconcileReport start() {
    ReconcileReport report = engine.start();
    instances.resume();
    return report;
  }
  size_t vpcCount() const { return engine.state().vpcs().size(); }

  Engine engine;
  VpcService vpcs;
  PeeringService peerings;
  PolicyService policies;
  InstanceService instances;
  ForwardService forwards;
  ImpairmentService impairments;
  FlowLogService flowLogs;
  LabService labs;
  ReachService reach;
};

}  // namespace vpcd
