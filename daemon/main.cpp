// vpcd: the VPC daemon.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/drift_watcher.h"
#include "daemon/http_server.h"
#include "daemon/service.h"
#include "lib/kernel/fake_kernel.h"
#include "lib/kernel/real_kernel.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"

namespace {

void logLine(int priority, const std::string& text) {
  std::cerr << "<" << priority << ">" << text << std::endl;
}

// A full reconcile holds a namespace fd and two sockets per namespace at
// once; a thousand subnets need more than the usual soft limit of 1024.
void raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int run(vpcd::DaemonConfig config) {
  raiseFileLimit();
  vpcd::StateStore store(config.stateDir);
  store.lock();
  std::unique_ptr<vpcd::Kernel> kernel;
  vpcd::RealKernel* real = nullptr;
  if (config.dryRun) {
    kernel = std::make_unique<vpcd::FakeKernel>();
    logLine(5, "dry run: the in-memory kernel is used, the real one is never touched");
  } else {
    kernel = std::make_unique<vpcd::RealKernel>(config.netnsDir);
    real = static_cast<vpcd::RealKernel*>(kernel.get());
  }
  if (config.uplink.empty()) {
    config.uplink = kernel->defaultRouteDevice();
    if (config.uplink.empty()) {
      logLine(3, "no default route to take the uplink from; pass --uplink DEVICE");
      return 1;
    }
  }
  vpcd::Reconciler reconciler(*kernel);
  if (const char* n = std::getenv("VPCD_FAULT_AFTER_OPS")) {
    kernel->setAbortAfter(std::strtoull(n, nullptr, 10));
  }
  vpcd::VpcService service(config, store, *kernel, reconciler);
  std::unique_ptr<vpcd::CommandRunner> runner;
  if (real) {
    runner = std::make_unique<vpcd::CommandRunner>(config.netnsDir, config.etcNetnsDir);
    service.setCommandRunner(runner.get());
  }

  boost::asio::io_context io(1);
  std::unique_ptr<vpcd::DriftWatcher> watcher;
  if (real) {
    // Drift watch: kernel notifications in the host and every namespace of
    // ours -> debounced reconcile of the VPCs they belong to.
    watcher = std::make_unique<vpcd::DriftWatcher>(
        io, config.netnsDir,
        [&](const std::set<std::string>& changed) { return service.repairDrift(changed); });
    real->setBeforeNamespaceDelete([&](const std::string& ns) { watcher->forget(ns); });
    service.setAfterReconcile([&](const std::set<std::string>& namespaces) {
      watcher->watch(namespaces);
      watcher->discardPending();  // what we just did ourselves is no drift
    });
  }

  logLine(6, "reconciling state from " + config.stateDir + " (uplink " + config.uplink + ")");
  vpcd::ReconcileReport report = service.start();
  for (const auto& change : report.applied) logLine(5, "start-up repair: " + change);
  for (const auto& ns : report.conflicts)
    logLine(4, "namespace " + ns + " exists and is not ours, ignoring");
  if (!report.error.empty()) logLine(3, "start-up reconcile failed: " + report.error);
  logLine(6, "reconciled " + std::to_string(service.vpcCount()) + " VPCs with " +
                 std::to_string(report.applied.size()) + " changes in " +
                 std::to_string(report.duration.count() / 1000) + " ms");

  vpcd::Api api(service);
  vpcd::HttpServer server(io, api, config.socketPath);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    // The network stays up: only explicit deletes tear anything down.
    logLine(6, "signal " + std::to_string(sig) + ": stopping, leaving the network in place");
    io.stop();
  });
  logLine(6, "ready: listening on " + config.socketPath);
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vpcd::DaemonConfig config;
  std::string pool = "169.254.64.0/18";
  CLI::App app{"vpcd: VPCs, subnets and NAT on one Linux host, over netlink"};
  app.set_version_flag("--version", std::string("vpcd ") + VPCD_VERSION);
  app.add_option("--socket", config.socketPath, "API socket path")->capture_default_str();
  app.add_option("--state-dir", config.stateDir, "directory of the state files")
      ->capture_default_str();
  app.add_option("--uplink", config.uplink,
                 "host device toward the outside (default: the default route's)");
  app.add_option("--transit-pool", pool, "pool of /30 links between the host and VPC routers")
      ->capture_default_str();
  app.add_option("--etc-netns-dir", config.etcNetnsDir,
                 "per-namespace /etc files (instance hosts files), as ip-netns reads them")
      ->capture_default_str();
  app.add_option("--netns-dir", config.netnsDir, "directory of named network namespaces")
      ->capture_default_str();
  app.add_flag("--dry-run", config.dryRun, "use an in-memory kernel: nothing on the host changes");
  CLI11_PARSE(app, argc, argv);
  try {
    config.transitPool = vpcd::parseTransitPool(pool);
    return run(config);
  } catch (const std::exception& e) {
    logLine(3, std::string("vpcd: ") + e.what());
    return 1;
  }
}
