// vpcd: the VPC daemon.
#include <grp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "daemon/api.h"
#include "daemon/command_watch.h"
#include "daemon/config.h"
#include "daemon/console_keeper.h"
#include "daemon/drift_watcher.h"
#include "daemon/flow_collector.h"
#include "daemon/http_server.h"
#include "daemon/log.h"
#include "daemon/netns_files.h"
#include "daemon/reaper.h"
#include "daemon/resolvers.h"
#include "daemon/service.h"
#include "daemon/systemd.h"
#include "daemon/token.h"
#include "lib/kernel/crash_after.h"
#include "lib/kernel/fake_kernel.h"
#include "lib/kernel/real_kernel.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"

namespace {

using vpcd::logLine;

// A full reconcile holds a namespace fd and two sockets per namespace at
// once; a thousand subnets need more than the usual soft limit of 1024.
void raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::unique_ptr<vpcd::Kernel> makeKernel(const vpcd::DaemonConfig& config,
                                         vpcd::RealKernel*& real) {
  if (config.dryRun) {
    logLine(5, "dry run: the in-memory kernel is used, the real one is never touched");
    return std::make_unique<vpcd::FakeKernel>();
  }
  auto kernel = std::make_unique<vpcd::RealKernel>(config.netnsDir);
  kernel->setMountNamespace(config.mountNamespace);
  real = kernel.get();
  return kernel;
}

void logStart(const vpcd::ReconcileReport& report, size_t vpcs) {
  for (const auto& change : report.applied) logLine(5, "start-up repair: " + change);
  for (const auto& ns : report.conflicts)
    logLine(4, "namespace " + ns + " exists and is not ours, ignoring");
  if (!report.error.empty()) logLine(3, "start-up reconcile failed: " + report.error);
  logLine(6, "reconciled " + std::to_string(vpcs) + " VPCs with " +
                 std::to_string(report.applied.size()) + " changes in " +
                 std::to_string(report.duration.count() / 1000) + " ms");
}

// WATCHDOG=1 every half WATCHDOG_USEC, when systemd asks for it.
void petWatchdog(boost::asio::steady_timer& timer) {
  auto interval = vpcd::watchdogInterval();
  if (!interval) return;
  vpcd::sdNotify("WATCHDOG=1");
  timer.expires_after(*interval);
  timer.async_wait([&timer](const boost::system::error_code& ec) {
    if (!ec) petWatchdog(timer);
  });
}

// Timed impairments end on the second (docs/impairments.md): the clock is
// set for the earliest end after every change, and sleeps while none is
// timed. Looked at again after it rings, in case the wall clock (which ends
// are in) and the timer's disagree by a moment.
void armImpairmentClock(boost::asio::steady_timer& timer, vpcd::Services& service) {
  int64_t next = 0;
  for (const auto& [name, i] : service.engine.state().impairments()) {
    if (i->endsAt() && (!next || i->endsAt() < next)) next = i->endsAt();
  }
  if (!next) {
    timer.cancel();
    return;
  }
  timer.expires_after(std::chrono::seconds(std::max<int64_t>(0, next - ::time(nullptr))));
  timer.async_wait([&timer, &service](const boost::system::error_code& ec) {
    if (ec) return;
    try {
      service.impairments.expire();
      armImpairmentClock(timer, service);
    } catch (const std::exception& e) {
      logLine(3, std::string("ending timed impairments: ") + e.what());
      timer.expires_after(std::chrono::seconds(1));
      timer.async_wait([&timer, &service](const boost::system::error_code& again) {
        if (!again) armImpairmentClock(timer, service);
      });
    }
  });
}

int run(vpcd::DaemonConfig config) {
  // A bad roles file stops vpcd before it does anything.
  vpcd::Authorizer authz(config.apiGroup, config.rolesFile, config.rolesFileGiven);
  raiseFileLimit();
  vpcd::StateStore store(config.stateDir);
  store.lock();
  vpcd::RealKernel* real = nullptr;
  std::unique_ptr<vpcd::Kernel> kernel = makeKernel(config, real);
  // A named uplink is pinned; otherwise the uplink is the default route's
  // device, followed as it moves (Engine::followUplink), and may be none yet.
  config.uplinkPinned = !config.uplink.empty();
  if (!config.uplinkPinned) {
    config.uplink = kernel->defaultRouteDevice();
    if (config.uplink.empty())
      logLine(4, "no default route: VPCs reach no internet until one appears (or pass --uplink)");
  }
  vpcd::Reconciler reconciler(*kernel);
  if (const char* n = std::getenv("VPCD_FAULT_AFTER_OPS")) {
    vpcd::crashAfter(*kernel, std::strtoull(n, nullptr, 10));
  }
  vpcd::Services service(config, store, *kernel, reconciler);
  std::unique_ptr<vpcd::CommandRunner> runner;
  if (real) {
    runner = std::make_unique<vpcd::CommandRunner>(config.netnsDir, config.etcNetnsDir);
    runner->hideFromCommands({config.stateDir, config.tokenFile});
  }

  boost::asio::io_context io(1);
  std::unique_ptr<vpcd::Reaper> reaper;
  if (runner) {
    reaper = std::make_unique<vpcd::Reaper>(io);
    service.instances.setCommandRunner(runner.get(), reaper.get());
  }
  std::unique_ptr<vpcd::NetnsFiles> files;
  std::unique_ptr<vpcd::Resolvers> resolvers;
  std::unique_ptr<vpcd::CommandWatch> commands;
  std::unique_ptr<vpcd::FlowCollector> flows;
  if (real) {
    std::string dnsmasq = config.dns ? vpcd::findDnsmasq() : "";
    if (config.dns && dnsmasq.empty())
      logLine(4, "dnsmasq not found: VPCs get no resolver (install dnsmasq-base)");
    if (!dnsmasq.empty()) {
      auto upstreams = config.dnsUpstreams.empty() ? vpcd::hostUpstreams() : config.dnsUpstreams;
      if (upstreams.empty()) logLine(4, "no upstream resolver: VPC names resolve, others do not");
      resolvers = std::make_unique<vpcd::Resolvers>(io, *runner, config.netnsDir,
                                                    config.runDir + "/dns", dnsmasq, upstreams);
    }
    files = std::make_unique<vpcd::NetnsFiles>(io, config.etcNetnsDir, resolvers != nullptr);
    commands = std::make_unique<vpcd::CommandWatch>(io, service.engine.events());
    flows = std::make_unique<vpcd::FlowCollector>(io, config.netnsDir, [&](const std::string& vpc) {
      return service.engine.store().flowRecordsPath(vpc);
    });
    service.flowLogs.setCollector(flows.get());
  }
  boost::asio::steady_timer impairmentClock(io);
  service.engine.setAfterCommit([&](const vpcd::DesiredState& state) {
    if (files) files->sync(state);
    if (resolvers) resolvers->sync(state);
    if (commands) commands->sync(state);
    if (flows) flows->follow(state);
    armImpairmentClock(impairmentClock, service);
  });
  std::unique_ptr<vpcd::DriftWatcher> watcher;
  if (real) {
    // Drift watch: kernel notifications in the host and every namespace of
    // ours -> debounced reconcile of the VPCs they belong to.
    watcher = std::make_unique<vpcd::DriftWatcher>(
        io, config.netnsDir,
        [&](const std::set<std::string>& changed) { return service.engine.repairDrift(changed); });
    real->setBeforeNamespaceDelete([&](const std::string& ns) {
      if (resolvers) resolvers->beforeNamespaceDelete(ns);
      flows->release(ns);
      watcher->forget(ns);
    });
    // A router deleted by hand is kept alive by the flow log's sockets
    // until they go: they must, or its links would outlive it.
    watcher->setOnGone([&](const std::string& ns) { flows->release(ns); });
    reconciler.setBeforePass([&] { real->invalidate(watcher->takePending()); });
    service.engine.setAfterReconcile([&](const vpcd::Engine::PassDone& done) {
      if (done.everything) {
        watcher->watch(done.watch);
      } else {
        watcher->watchSome(done.watch, done.unwatch);
      }
      // What the pass did itself is no drift; a change by hand to a
      // namespace outside the pass still is, and is repaired.
      watcher->discardPending(done.passed);
      if (resolvers) resolvers->recheck(done.passed);
    });
  }

  // A token file that cannot serve stops the start before any work.
  std::string token =
      config.listen.empty() ? "" : vpcd::loadOrCreateToken(config.tokenFile, config.apiGroup);
  logLine(6, "reconciling state from " + config.stateDir + " (uplink " +
                 (config.uplink.empty() ? "none" : config.uplink) +
                 (config.uplinkPinned ? ", pinned" : ", following the default route") + ")");
  // Made first: its metrics count the start-up pass too.
  vpcd::Api api(service, authz);
  api.setLoop(&io);
  service.load();
  vpcd::sdNotify("STATUS=reconciling " + std::to_string(service.vpcCount()) + " VPCs");
  logStart(service.start(), service.vpcCount());

  vpcd::AuditLog audit(config.auditLog.empty() ? config.stateDir + "/audit.log" : config.auditLog);
  api.setAuditLog(&audit);
  int passed = vpcd::takeListenFd();
  vpcd::HttpLimits limits{std::chrono::seconds(config.apiTimeoutSeconds), config.apiMaxConnections};
  auto server = passed >= 0
                    ? std::make_unique<vpcd::HttpServer>(io, api, passed, limits)
                    : std::make_unique<vpcd::HttpServer>(io, api, config.socketPath, limits);
  std::unique_ptr<vpcd::HttpServer> tcp;
  if (!config.listen.empty()) {
    tcp = std::make_unique<vpcd::HttpServer>(io, api, vpcd::parseListen(config.listen),
                                             std::move(token), limits);
    logLine(6, "listening on http://" + config.listen + "/ (token in " + config.tokenFile + ")");
  }
  if (passed < 0) {
    // As vpcd.socket's SocketGroup would: the API group's members connect.
    // Until now the socket was 0660 root:root, narrower, never wider.
    if (struct group* g = ::getgrnam(config.apiGroup.c_str())) {
      if (::chown(config.socketPath.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
        logLine(4, "cannot give " + config.socketPath + " to group " + config.apiGroup + ": " +
                       std::strerror(errno));
    }
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    // The network stays up: only explicit deletes tear anything down.
    vpcd::sdNotify("STOPPING=1");
    logLine(6, "signal " + std::to_string(sig) + ": stopping, leaving the network in place");
    io.stop();
  });
  boost::asio::steady_timer watchdog(io);
  petWatchdog(watchdog);
  logLine(6,
          "ready: listening on " + (passed >= 0 ? "the socket systemd passed" : config.socketPath));
  // Ready only now: the first reconcile is done and the socket accepts.
  vpcd::sdNotify("READY=1\nSTATUS=" + service.engine.summary());
  io.run();
  // The windows open now are written: a restart loses no counted traffic.
  if (flows) flows->flush();
  // Probes still waiting post their answers to a loop that no longer runs;
  // it must outlive them.
  service.reach.joinProbes();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // An instance's console keeper: vpcd re-executed by itself, before any of
  // the daemon's set-up (daemon/console_keeper.h).
  if (argc > 1 && std::string_view(argv[1]) == "--console-keeper")
    return vpcd::consoleKeeperMain(argc - 1, argv + 1);
  // Flags are parsed into their own copy; the config file goes on the
  // defaults first, then every flag given on the command line on top.
  vpcd::DaemonConfig flags, config;
  std::string configPath = vpcd::kDefaultConfigFile;
  CLI::App app{"vpcd: VPCs, subnets, NAT, peerings, policies and instances on one Linux host"};
  app.set_version_flag("--version", std::string("vpcd ") + VPCD_VERSION);
  auto* configOpt = app.add_option("--config", configPath, "JSON config file; flags override it")
                        ->capture_default_str();
  std::vector<std::pair<CLI::Option*, std::function<void()>>> given;
  auto option = [&](const char* name, std::string vpcd::DaemonConfig::*field, const char* help) {
    auto* o = app.add_option(name, flags.*field, help);
    o->default_str(config.*field);
    given.emplace_back(o, [&config, &flags, field] { config.*field = flags.*field; });
  };
  option("--socket", &vpcd::DaemonConfig::socketPath, "API socket path");
  option("--state-dir", &vpcd::DaemonConfig::stateDir, "directory of the state files");
  option("--uplink", &vpcd::DaemonConfig::uplink,
         "host device toward the outside (default: the default route's)");
  option("--transit-pool", &vpcd::DaemonConfig::transitPoolText,
         "pool of /30 links between the host and VPC routers");
  option("--etc-netns-dir", &vpcd::DaemonConfig::etcNetnsDir,
         "per-namespace /etc files (instance hosts files), as ip-netns reads them");
  option("--netns-dir", &vpcd::DaemonConfig::netnsDir, "directory of named network namespaces");
  option("--run-dir", &vpcd::DaemonConfig::runDir,
         "runtime files (the VPC resolvers'); must be traversable by others");
  option("--log-level", &vpcd::DaemonConfig::logLevel, "error, warning, notice, info or debug");
  option("--api-group", &vpcd::DaemonConfig::apiGroup,
         "group whose members may change things through the API");
  option("--roles-file", &vpcd::DaemonConfig::rolesFile,
         "JSON grants of resource:verb permissions to users and groups");
  option("--listen", &vpcd::DaemonConfig::listen,
         "also serve the API over HTTP on ADDR:PORT, to clients with the token (off by default)");
  option("--token-file", &vpcd::DaemonConfig::tokenFile,
         "the token --listen's clients send (created with 32 random bytes if missing)");
  option("--audit-log", &vpcd::DaemonConfig::auditLog,
         "JSON lines, one per change asked of the API (default: <state-dir>/audit.log)");
  option("--mount-ns", &vpcd::DaemonConfig::mountNamespace,
         "mount namespace for namespace names (/proc/1/ns/mnt under a hardened unit)");
  auto flag = [&](const char* name, bool vpcd::DaemonConfig::*field, const char* help) {
    given.emplace_back(app.add_flag(name, flags.*field, help),
                       [&config, &flags, field] { config.*field = flags.*field; });
  };
  flag("--dry-run", &vpcd::DaemonConfig::dryRun,
       "use an in-memory kernel: nothing on the host changes");
  app.add_option("--dns-upstream", flags.dnsUpstreams,
                 "resolver the VPC resolvers forward to (repeatable; default: the host's)")
      ->check(CLI::ValidIPV4);
  given.emplace_back(app.get_option("--dns-upstream"),
                     [&config, &flags] { config.dnsUpstreams = flags.dnsUpstreams; });
  bool noDns = false;
  given.emplace_back(app.add_flag("--no-dns", noDns, "no resolver per VPC"),
                     [&config] { config.dns = false; });
  app.add_option("--api-timeout", flags.apiTimeoutSeconds,
                 "seconds a request may take to arrive; idle connections close after it")
      ->check(CLI::Range(1, 100000));
  given.emplace_back(app.get_option("--api-timeout"),
                     [&config, &flags] { config.apiTimeoutSeconds = flags.apiTimeoutSeconds; });
  app.add_option("--api-max-connections", flags.apiMaxConnections,
                 "API connections served at once; more are answered 503")
      ->check(CLI::Range(1, 100000));
  given.emplace_back(app.get_option("--api-max-connections"),
                     [&config, &flags] { config.apiMaxConnections = flags.apiMaxConnections; });
  flag("--docker-compat", &vpcd::DaemonConfig::dockerCompat,
       "let VPC traffic past Docker's FORWARD drop (DOCKER-USER accepts)");
  CLI11_PARSE(app, argc, argv);
  try {
    vpcd::applyConfigFile(config, configPath, configOpt->count() > 0);
    for (auto& [opt, apply] : given) {
      if (opt->count() > 0) apply();
    }
    if (app.get_option("--roles-file")->count() > 0) config.rolesFileGiven = true;
    int level = vpcd::logLevelOf(config.logLevel);
    if (level < 0)
      throw std::invalid_argument("log level \"" + config.logLevel +
                                  "\" is not error, warning, notice, info or debug");
    vpcd::setLogLevel(level);
    config.transitPool = vpcd::parseTransitPool(config.transitPoolText);
    if (!config.listen.empty()) vpcd::parseListen(config.listen);  // said before any work
    return run(config);
  } catch (const std::exception& e) {
    logLine(3, std::string("vpcd: ") + e.what());
    return 1;
  }
}
