#include "daemon/engine.h"

#include <chrono>
#include <ctime>
#include <thread>

#include "daemon/http_error.h"
#include "daemon/log.h"
#include "lib/ipam/ipam.h"
#include "lib/kernel/event_source.h"
#include "lib/model/fields.h"
#include "lib/model/timestamp.h"
#include "lib/plan/nft_rules.h"

namespace vpcd {
namespace {

using nlohmann::json;

double millis(std::chrono::microseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

}  // namespace

Engine::Engine(DaemonConfig config, StateStore& store, Kernel& kernel, Reconciler& reconciler)
    : config_(std::move(config)),
      store_(store),
      kernel_(kernel),
      reconciler_(reconciler),
      state_(HostSettings{config_.uplink, config_.transitPool}) {}

void Engine::load() {
  // A file that cannot be read holds back what it describes instead of
  // stopping the daemon (lib/model/quarantine.h); the rest is served.
  std::vector<StateDamage> damage;
  auto vpcs = store_.loadVpcs(&damage);
  auto peerings = store_.loadPeerings(&damage);
  auto policies = store_.loadPolicies(&damage);
  auto instances = store_.loadInstances(&damage);
  auto labs = store_.loadLabs(&damage);
  auto forwards = store_.loadPortForwards(&damage);
  auto impairments = store_.loadImpairments(&damage);
  auto flowLogs = store_.loadFlowLogs(&damage);
  Quarantine held =
      quarantine(std::move(damage), vpcs, peerings, policies, instances, labs, &forwards);
  if (!held.empty()) reserveHeldTransit(held);
  separateTransit(vpcs, peerings, held);
  HostSettings host{config_.uplink, config_.transitPool};
  state_ = DesiredState(host, std::move(vpcs), std::move(peerings), std::move(policies),
                        std::move(instances), std::move(labs), std::move(forwards),
                        std::move(impairments), std::move(flowLogs));
  // Timed impairments whose time ran out while vpcd was down end before the
  // first pass, rather than being put back for the second the clock takes.
  DesiredState ended =
      state_.with(change::ExpireImpairments{static_cast<int64_t>(::time(nullptr))});
  if (ended.impairments() != state_.impairments()) {
    store_.commit(state_, ended);
    state_ = std::move(ended);
  }
  if (!held.empty()) {
    for (const auto& d : held.damage) logLine(3, "cannot read state file " + d.error);
    for (const auto& [what, why] : held.held)
      logLine(4, "holding " + what.first + " " + what.second + " as it is in the kernel: " + why);
    if (!held.all.empty()) logLine(4, "holding every object as it is in the kernel: " + held.all);
    state_.hold(std::move(held));
  }
  reconciler_.setHold(state_.quarantine());
  loaded_ = true;
}

namespace {

// The /30 of the transit pool an address is in.
int transitIndexOf(const Cidr& pool, const Ipv4& addr) {
  return static_cast<int>((addr.value - pool.network().value) / 4);
}

}  // namespace

void Engine::reserveHeldTransit(Quarantine& held) {
  // A damaged VPC file no longer says which /30 its uplink has; the host end
  // of its transit link in the kernel does, or else the router's end. A
  // damaged peering file may still.
  Namespace host = kernel_.observe(kHostNamespace, nullptr);
  const Cidr& pool = config_.transitPool;
  for (const auto& vpc : held.names("vpc")) {
    for (const auto& a : host.addresses) {
      if (a.link == transitLinkName(vpc) && pool.contains(a.cidr.addr))
        held.transitIndexes.insert(transitIndexOf(pool, a.cidr.addr));
    }
    Namespace router = kernel_.observe(routerNamespace(vpc), nullptr);
    for (const auto& a : router.addresses) {
      if (a.link == kRouterUplink && pool.contains(a.cidr.addr))
        held.transitIndexes.insert(transitIndexOf(pool, a.cidr.addr));
    }
  }
  for (const auto& d : held.damage) {
    // Any JSON at all: only an object holding an object is looked into.
    if (d.kind != "peering" || !d.doc || !d.doc->is_object()) continue;
    auto body = d.doc->find("peering");
    if (body == d.doc->end() || !body->is_object()) continue;
    try {
      int index = integerOr<int>(*body, "transit_index", -1);
      if (index >= 0) held.transitIndexes.insert(index);
    } catch (const DomainError&) {
      // Not a number vpcd wrote: no /30 to keep.
    }
  }
}

void Engine::separateTransit(std::vector<Vpc>& vpcs, const std::vector<Peering>& peerings,
                             const Quarantine& held) {
  // Taken for sure: what active peerings and held objects use in the kernel.
  std::set<int> used(held.transitIndexes.begin(), held.transitIndexes.end());
  for (const auto& p : peerings) {
    if (p.state == PeeringState::Active) used.insert(p.transitIndex);
  }
  std::map<int, std::vector<Vpc*>> byIndex;
  for (auto& v : vpcs) byIndex[v.transitIndex].push_back(&v);
  std::vector<Vpc*> moving;
  Namespace host;
  bool observed = false;
  for (auto& [index, group] : byIndex) {
    if (group.size() == 1 && !used.count(index)) {
      used.insert(index);
      continue;
    }
    // Shared: a VPC made while another's file was damaged and its /30
    // unknown, that file repaired since. The VPC whose host link holds the
    // /30 keeps it (traffic goes on); the others move to a free one.
    if (!observed) host = kernel_.observe(kHostNamespace, nullptr);
    observed = true;
    Vpc* keeper = nullptr;
    for (Vpc* v : group) {
      for (const auto& a : host.addresses) {
        if (!keeper && a.link == transitLinkName(v->name) &&
            config_.transitPool.contains(a.cidr.addr) &&
            transitIndexOf(config_.transitPool, a.cidr.addr) == index)
          keeper = v;
      }
    }
    if (used.count(index)) keeper = nullptr;  // an active peering or a held object has it
    if (!keeper && !used.count(index)) keeper = group.front();
    for (Vpc* v : group) {
      if (v != keeper) moving.push_back(v);
    }
    used.insert(index);
  }
  for (Vpc* v : moving) {
    auto index = lowestFreeIndex(used, transitCapacity(config_.transitPool));
    if (!index) {
      logLine(3, "vpc " + v->name + " shares transit /30 " +
                     transitFor(config_.transitPool, v->transitIndex).hostEnd.str() +
                     " and the pool has no free one left");
      continue;
    }
    logLine(4, "vpc " + v->name + " shared transit /30 " +
                   transitFor(config_.transitPool, v->transitIndex).hostEnd.str() +
                   " with another object; it moves to " +
                   transitFor(config_.transitPool, *index).hostEnd.str());
    v->transitIndex = *index;
    used.insert(*index);
    store_.saveVpc(*v);
  }
}

ReconcileReport Engine::start() {
  if (!loaded_) load();
  if (afterCommit_) afterCommit_(state_);
  picture_.update(state_);
  startReport_ = reconcile(Scope::all(), "start");
  // Nothing is served yet: the links dying with the orphans this pass removed
  // are awaited here (as a request's are before its answer), so that a ready
  // daemon has left nothing of them.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (settleVanishing(false)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      settleVanishing(true);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  updateCoexistence();
  for (const auto& [name, vpc] : state_.vpcs()) record(name, startReport_, false);
  return startReport_;
}

ReconcileReport Engine::reconcile(const Scope& scope, const std::string& trigger,
                                  const std::set<std::string>& drifted) {
  ReconcileReport report = reconciler_.reconcile(picture_.state(), scope, &picture_.primaries());
  vanishing_.insert(vanishing_.end(), report.vanishing.begin(), report.vanishing.end());
  vanishingReported_ += report.vanishing.size();
  if (passObserver_) passObserver_(trigger, report, drifted);
  if (afterReconcile_) {
    PassDone done{.everything = scope.everything};
    const KernelState& want = picture_.state();
    if (scope.everything) {
      for (const auto& [ns, content] : want) {
        if (ns != kHostNamespace) done.watch.insert(ns);
      }
      done.passed = done.watch;
    } else {
      for (const auto& ns : scope.namespaces) {
        if (ns == kHostNamespace) continue;
        (want.count(ns) ? done.watch : done.unwatch).insert(ns);
      }
      done.passed = scope.namespaces;
    }
    done.passed.insert(kHostNamespace);
    afterReconcile_(done);
  }
  return report;
}

bool Engine::settleVanishing(bool force) {
  // A link of that name that a later pass wants is that pass's, not a dying
  // one: never waited for, never deleted here.
  const KernelState& want = picture_.state();
  std::erase_if(vanishing_, [&](const auto& v) {
    auto ns = want.find(v.first);
    return ns != want.end() && ns->second.links.count(v.second);
  });
  std::vector<std::string> applied;
  try {
    vanishing_ = reconciler_.settle(vanishing_, force, applied);
  } catch (const KernelError& e) {
    // Its namespace went too, or the kernel refused: the next pass sees it.
    logLine(4, std::string("a vanishing link: ") + e.what());
    vanishing_.clear();
  }
  for (const auto& a : applied) logLine(4, "deleted a link its namespace kept alive: " + a);
  return !vanishing_.empty();
}

void Engine::record(const std::string& vpc, const ReconcileReport& report, bool drift) {
  bool first = status_.count(vpc) == 0;
  VpcStatus& st = status_[vpc];
  bool failing = !st.error.empty();
  st.lastReconcile = std::chrono::system_clock::now();
  st.duration = report.duration;
  st.applied = report.applied.size();
  st.error = report.error;
  if (st.error.empty() && !report.conflicts.empty()) {
    st.error = "namespace " + report.conflicts.front() + " is not managed by vpcd";
  }
  if (first || failing != !st.error.empty()) st.since = st.lastReconcile;
  if (drift && !report.applied.empty()) {
    ++st.repairs;
    st.lastRepair = st.lastReconcile;
  }
}

void Engine::requireFreeNamespaces(const std::vector<std::string>& added) {
  for (const auto& ns : added) {
    if (ns == kHostNamespace) continue;
    Namespace seen = kernel_.observe(ns, nullptr);
    if (seen.exists && !seen.owned) {
      throw DomainError::conflict("namespace " + ns + " exists and is not managed by vpcd", "name");
    }
  }
}

void Engine::commit(const DesiredState& next) {
  authorize(next);
  KernelPicture::Delta delta = picture_.delta(next);
  requireFreeNamespaces(delta.added);
  store_.commit(state_, next);
  Scope scope = Scope::of(delta.scope());
  // The VPCs the pass is about, as the old picture has them (a deleted VPC
  // is only there) and, below, as the new one does.
  std::set<std::string> vpcs;
  for (const auto& ns : scope.namespaces) {
    auto of = picture_.vpcsOf(ns);
    vpcs.insert(of.begin(), of.end());
  }
  bool vpcsChanged = next.vpcs().size() != state_.vpcs().size();
  events_.addChanges(state_, next);
  state_ = next;
  picture_.apply(std::move(delta));
  if (afterCommit_) afterCommit_(state_);
  // A VPC whose last pass failed is retried with any change: a user who
  // repeats a request after a 500 gets the repair, not a no-op.
  for (const auto& [vpc, st] : status_) {
    if (st.error.empty()) continue;
    auto group = picture_.groupOf(routerNamespace(vpc));
    scope.namespaces.insert(group.begin(), group.end());
  }
  for (const auto& ns : scope.namespaces) {
    auto of = picture_.vpcsOf(ns);
    vpcs.insert(of.begin(), of.end());
  }
  if (scope.namespaces.empty()) return;  // nothing in the kernel changes
  ReconcileReport report = reconcile(scope, "request");
  for (const auto& vpc : vpcs) {
    if (state_.findVpc(vpc)) {
      record(vpc, report, false);
    } else {
      status_.erase(vpc);
    }
  }
  if (vpcsChanged) updateCoexistence();
  if (!report.error.empty()) {
    events_.add("reconcile", "error", "", {{"trigger", "request"}, {"error", report.error}});
    HttpError e(kInternal, report.error);
    if (report.failure) e.details = kernelDetails(*report.failure);
    throw e;
  }
  if (!report.conflicts.empty()) {
    throw DomainError::conflict(
        "namespace " + report.conflicts.front() +
        " exists and is not managed by vpcd; remove it or choose another name");
  }
}

bool Engine::followUplink() {
  if (config_.uplinkPinned) return false;
  std::string device;
  try {
    device = kernel_.defaultRouteDevice();
  } catch (const KernelError& e) {
    logLine(3, std::string("cannot read the host's default route: ") + e.what());
    return false;
  }
  HostSettings host = state_.host();
  if (device == host.uplink) return false;
  if (device.empty()) {
    logLine(4, "uplink " + host.uplink +
                   " gone: the host has no default route; VPCs reach no internet until one "
                   "appears");
  } else {
    logLine(5, host.uplink.empty() ? "uplink is " + device + ": the default route is back"
                                   : "uplink moved from " + host.uplink + " to " + device);
  }
  events_.add("uplink", "moved", device, {{"from", host.uplink}, {"to", device}});
  host.uplink = device;
  uplinkSince_ = std::chrono::system_clock::now();
  ++uplinkMoves_;
  // Only the host's side depends on the uplink; nothing is stored (it is
  // read from the kernel at every start).
  state_ = state_.withHost(std::move(host));
  picture_.update(state_);
  return true;
}

bool Engine::repairDrift(const std::set<std::string>& reported) {
  std::set<std::string> drifted = reported;
  bool routeMoved = drifted.erase(EventSource::kUplinkKey) > 0;
  std::set<std::string> changed = drifted;
  // An uplink that moved is the host's to reconcile, but it is no drift.
  // Until a pass applies it: a failed one is retried with the same batch.
  if (routeMoved && (followUplink() || uplinkPending_)) {
    uplinkPending_ = true;
    changed.insert(kHostNamespace);
    // The host's event was the move itself, not a hand-made change.
    drifted.erase(kHostNamespace);
  }
  kernel_.invalidate(changed);
  std::set<std::string> scope, vpcs;
  bool host = changed.count(kHostNamespace) > 0;
  for (const auto& ns : changed) {
    auto group = picture_.groupOf(ns);
    scope.insert(group.begin(), group.end());
    auto of = picture_.vpcsOf(ns);
    vpcs.insert(of.begin(), of.end());
  }
  if (scope.empty() && !host) return true;  // someone else's namespace
  ReconcileReport report = reconcile(Scope::of(scope), "drift", drifted);
  for (const auto& vpc : vpcs) record(vpc, report, true);
  if (host && report.error.empty()) uplinkPending_ = false;
  if (host) updateCoexistence();  // another firewall may have changed too
  std::string what;
  for (const auto& ns : drifted) what += (what.empty() ? "" : ", ") + displayName(ns);
  std::string pass = what.empty() ? "the uplink's move" : "drift in " + what;
  for (const auto& change : report.applied) {
    logLine(5, pass + (what.empty() ? " applied: " : " repaired: ") + change);
  }
  if (!what.empty() && !report.applied.empty())
    events_.add("drift", "repaired", what, {{"changes", report.applied}});
  if (!report.error.empty()) {
    events_.add("reconcile", "error", what, {{"trigger", "drift"}, {"error", report.error}});
    logLine(
        3, pass + (what.empty() ? " failed" : ": repair failed") + ", will retry: " + report.error);
  }
  return report.error.empty();
}

std::string forwardFix(const std::string& blocker, const Cidr& pool) {
  // Everything the VPCs send reaches the host from the transit pool (each
  // router masquerades to its transit address), and replies go back to it:
  // what to accept is the same for every firewall, written in its own tool.
  const std::string p = pool.str();
  if (blocker.rfind("table inet firewalld ", 0) == 0)
    return "firewall-cmd --permanent --zone=trusted --add-source=" + p +
           " && firewall-cmd --reload";
  if (blocker.rfind("iptables-legacy ", 0) == 0)
    return "iptables-legacy -I FORWARD -s " + p + " -j ACCEPT && iptables-legacy -I FORWARD -d " +
           p + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
  if (blocker.rfind("table ip filter chain FORWARD ", 0) == 0)
    return "iptables -I FORWARD -s " + p + " -j ACCEPT && iptables -I FORWARD -d " + p +
           " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT (under Docker: run vpcd with "
           "--docker-compat instead)";
  // "table <family> <table> chain <chain> (...)": an nftables table of its own.
  std::string where = blocker.substr(6, blocker.find(" (") - 6);
  auto chainAt = where.find(" chain ");
  std::string table = where.substr(0, chainAt), chain = where.substr(chainAt + 7);
  return "nft insert rule " + table + " " + chain + " ip saddr " + p +
         " accept && nft insert rule " + table + " " + chain + " ip daddr " + p +
         " ct state established,related accept";
}

void Engine::updateCoexistence() {
  std::vector<std::string> blockers;
  try {
    blockers = kernel_.forwardBlockers();
    if (config_.dockerCompat) {
      std::vector<std::string> transit;
      for (const auto& [name, vpc] : state_.vpcs()) transit.push_back(transitLinkName(name));
      auto rules = transitAccepts(transit);
      dockerUser_ = kernel_.syncMarkedRules(kDockerUserChain, "vpcd", rules)
                        ? std::to_string(rules.size()) + " rules"
                        : "no DOCKER-USER chain in table ip filter";
    }
  } catch (const KernelError& e) {
    blockers = {std::string("(cannot read the host's nftables: ") + e.what() + ")"};
  }
  if (!state_.vpcs().empty() && blockers != warned_) {
    warned_ = blockers;
    for (const auto& b : blockers) {
      logLine(
          config_.dockerCompat ? 5 : 4,
          "forwarded traffic is dropped by " + b +
              (config_.dockerCompat
                   ? "; transit links accepted in DOCKER-USER (" + dockerUser_ + ")"
                   : "; VPCs cannot reach the uplink. Fix: " + forwardFix(b, config_.transitPool)));
    }
  }
  forwardBlockers_ = blockers;
}

std::string Engine::summary() const {
  return "ready: " + std::to_string(state_.vpcs().size()) + " VPCs, " +
         std::to_string(state_.subnetCount()) + " subnets, " +
         std::to_string(state_.instances().size()) + " instances";
}

json Engine::withEnforcement(json object, const std::set<std::string>& vpcs) const {
  const VpcStatus* failed = nullptr;
  std::chrono::system_clock::time_point since{};
  for (const auto& vpc : vpcs) {
    auto it = status_.find(vpc);
    if (it == status_.end()) continue;
    const VpcStatus& st = it->second;
    if (!st.error.empty() && (!failed || st.since < failed->since)) failed = &st;
    since = std::max(since, st.since);  // enforced: since all of them are
  }
  object["enforced"] = failed == nullptr;
  if (failed) {
    object["enforcement"] = {{"since", isoTime(failed->since)}, {"error", failed->error}};
  } else {
    object["enforcement"] = json::object();
    if (since != std::chrono::system_clock::time_point{})
      object["enforcement"]["since"] = isoTime(since);
  }
  return object;
}

json Engine::preview(const DesiredState& next) {
  KernelPicture::Delta delta = picture_.delta(next);
  requireFreeNamespaces(delta.added);
  Scope scope = Scope::of(delta.scope());
  KernelPicture after = picture_;
  after.apply(std::move(delta));
  json actions = json::array();
  if (scope.namespaces.empty()) return actions;
  Plan p = reconciler_.plan(after.state(), scope, &after.primaries());
  for (const auto& a : p.actions) actions.push_back(a.describe());
  return actions;
}

json Engine::plan() {
  Plan p = reconciler_.plan(picture_.state(), Scope::all(), &picture_.primaries());
  json actions = json::array();
  for (const auto& a : p.actions) actions.push_back(a.describe());
  return json{{"actions", actions}, {"conflicts", p.conflicts}, {"converged", p.empty()}};
}

json Engine::status() {
  // Live: a plan over everything says which VPCs differ from their state now.
  Plan live = reconciler_.plan(picture_.state(), Scope::all(), &picture_.primaries());
  std::map<std::string, uint64_t> pending;
  for (const auto& a : live.actions) {
    NamespaceOwner owner = ownerOfNamespace(a.ns);
    if (!owner.vpc.empty() && state_.findVpc(owner.vpc)) ++pending[owner.vpc];
  }
  json vpcs = json::array();
  for (const auto& [name, st] : status_) {
    std::string state = !st.error.empty()     ? "error"
                        : pending.count(name) ? "drifting"
                                              : "converged";
    vpcs.push_back({{"name", name},
                    {"state", state},
                    {"pending_changes", pending.count(name) ? pending.at(name) : 0},
                    {"last_reconcile", isoTime(st.lastReconcile)},
                    {"last_duration_ms", millis(st.duration)},
                    {"last_changes", st.applied},
                    {"last_error", st.error},
                    {"repairs", st.repairs},
                    {"last_repair", isoTime(st.lastRepair)}});
  }
  // What start-up held back, and the files that made it (docs/reconcile.md).
  const Quarantine& q = state_.quarantine();
  json held = json::array(), damaged = json::array();
  for (const auto& [what, why] : q.held)
    held.push_back({{"kind", what.first}, {"name", what.second}, {"reason", why}});
  for (const auto& d : q.damage) damaged.push_back({{"file", d.file}, {"error", d.error}});
  json fixes = json::array();
  for (const auto& b : forwardBlockers_) {
    // "(cannot read ...)" is no firewall: nothing to fix there.
    if (b.rfind("table ", 0) == 0 || b.rfind("iptables-legacy ", 0) == 0)
      fixes.push_back({{"blocker", b}, {"fix", forwardFix(b, config_.transitPool)}});
  }
  return json{{"vpcs", vpcs},
              {"held", held},
              {"held_everything", q.all},
              {"damaged_state_files", damaged},
              {"uplink", state_.host().uplink},
              {"uplink_state", state_.host().uplink.empty() ? "no default route" : "up"},
              {"uplink_pinned", config_.uplinkPinned},
              {"uplink_since", isoTime(uplinkSince_)},
              {"uplink_moves", uplinkMoves_},
              {"transit_pool", config_.transitPool.str()},
              {"dry_run", config_.dryRun},
              {"kernel_mutations", kernel_.mutatingCalls()},
              {"forward_blockers", forwardBlockers_},
              {"forward_blocker_fixes", fixes},
              {"docker_compat", {{"enabled", config_.dockerCompat}, {"docker_user", dockerUser_}}},
              {"startup",
               {{"changes", startReport_.applied.size()},
                {"duration_ms", millis(startReport_.duration)},
                {"conflicts", startReport_.conflicts},
                {"error", startReport_.error}}}};
}

}  // namespace vpcd
