#include "daemon/metrics.h"

#include <linux/netfilter.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cctype>
#include <map>

#include "daemon/api.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "lib/model/names.h"

namespace vpcd {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

// Request latencies: a read is about a millisecond, a change to a large
// policy seconds.
const Histogram::BucketBoundaries kRequestBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const Histogram::BucketBoundaries kPassBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// The names of a path's collections stay; the names of objects go. A
// collection and its object alternate after the API's prefix.
std::string templated(const std::vector<std::string>& seg, size_t prefix) {
  std::string out;
  for (size_t i = 0; i < seg.size(); ++i)
    out += "/" + (i >= prefix && (i - prefix) % 2 == 1 ? std::string("{}") : seg[i]);
  return out;
}

std::string kindOf(const std::string& ns) {
  if (ns.empty()) return "host";
  switch (ownerOfNamespace(ns).kind) {
    case NamespaceOwner::Kind::Router:
      return "router";
    case NamespaceOwner::Kind::Subnet:
      return "subnet";
    case NamespaceOwner::Kind::Instance:
      return "instance";
    default:
      return "other";
  }
}

// A gauge per label set, in a registry made for one scrape.
class Scrape {
 public:
  void gauge(const std::string& name, const std::string& help,
             const std::map<prometheus::Labels, double>& values) {
    auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(registry_);
    for (const auto& [labels, v] : values) family.Add(labels).Set(v);
  }
  // A counter whose total is kept elsewhere (the kernel, the engine).
  void counter(const std::string& name, const std::string& help,
               const std::map<prometheus::Labels, double>& values) {
    auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(registry_);
    for (const auto& [labels, v] : values) family.Add(labels).Increment(v);
  }
  std::vector<prometheus::MetricFamily> collect() const { return registry_.Collect(); }

 private:
  prometheus::Registry registry_;
};

// Label values in lower case, as Prometheus users write them.
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void objects(Scrape& out, const DesiredState& state) {
  std::map<prometheus::Labels, double> subnets{{{{"type", "public"}}, 0},
                                               {{{"type", "private"}}, 0}};
  for (const auto& [name, vpc] : state.vpcs()) {
    for (const auto& s : vpc->subnets) subnets[{{"type", toString(s.type)}}] += 1;
  }
  std::map<prometheus::Labels, double> instances;
  for (auto st : {InstanceStatus::Provisioning, InstanceStatus::Running, InstanceStatus::Stopped})
    instances[{{"status", lower(toString(st))}}] = 0;
  for (const auto& [name, i] : state.instances())
    instances[{{"status", lower(toString(i->status))}}] += 1;
  std::map<prometheus::Labels, double> peerings;
  for (auto st :
       {PeeringState::Pending, PeeringState::Active, PeeringState::Rejected, PeeringState::Expired})
    peerings[{{"state", toString(st)}}] = 0;
  for (const auto& [name, p] : state.peerings()) peerings[{{"state", toString(p.state)}}] += 1;
  out.gauge("vpcd_vpcs", "VPCs in the desired state", {{{}, double(state.vpcs().size())}});
  out.gauge("vpcd_subnets", "Subnets, by type", subnets);
  out.gauge("vpcd_instances", "Instances, by status", instances);
  out.gauge("vpcd_peerings", "Peerings, by state", peerings);
  out.gauge("vpcd_policies", "Firewall policies", {{{}, double(state.policies().size())}});
  out.gauge("vpcd_labs", "Labs applied", {{{}, double(state.labs().size())}});
  out.gauge("vpcd_port_forwards", "Port forwards", {{{}, double(state.portForwards().size())}});
  double enabled = 0;
  for (const auto& [name, i] : state.impairments()) enabled += i->enabled ? 1 : 0;
  out.gauge("vpcd_impairments", "Impairments, by whether they are in effect",
            {{{{"enabled", "true"}}, enabled},
             {{{"enabled", "false"}}, double(state.impairments().size()) - enabled}});
  double logging = 0;
  for (const auto& [name, f] : state.flowLogs()) logging += f->enabled ? 1 : 0;
  out.gauge("vpcd_flow_logs", "Flow logs, by whether they are on",
            {{{{"enabled", "true"}}, logging},
             {{{"enabled", "false"}}, double(state.flowLogs().size()) - logging}});
  out.gauge("vpcd_held_objects",
            "Objects held back at start because their state file could not be read",
            {{{}, double(state.quarantine().held.size())}});
}

// Per policy rule, the packets and bytes of its map entries, summed over
// the routers it is in: one table read per router with a policy.
void ruleCounters(Scrape& out, Services& s) {
  const DesiredState& state = s.engine.state();
  std::set<std::string> vpcs;
  for (const auto& [name, p] : state.policies()) {
    for (const auto& section : p->sections) {
      for (const auto& t : section.appliesTo) vpcs.insert(t.substr(0, t.find('/')));
    }
  }
  std::map<prometheus::Labels, double> packets, bytes;
  for (const auto& vpc : vpcs) {
    std::optional<NftTable> table;
    try {
      table = s.engine.kernel().readTable(routerNamespace(vpc), NFPROTO_INET);
    } catch (const KernelError& e) {
      logLine(4,
              std::string("metrics: cannot read the policy counters of ") + vpc + ": " + e.what());
    }
    if (!table) continue;
    for (const auto& set : table->sets) {
      for (const auto& el : set.elems) {
        auto colon = el.comment.find(':');
        if (colon == std::string::npos || !state.findPolicy(el.comment.substr(0, colon))) continue;
        prometheus::Labels l{{"policy", el.comment.substr(0, colon)},
                             {"rule", el.comment.substr(colon + 1)}};
        packets[l] += double(el.packets);
        bytes[l] += double(el.bytes);
      }
    }
  }
  out.counter("vpcd_policy_rule_packets_total",
              "Packets that new connections matched a policy rule with (its entries' counters)",
              packets);
  out.counter("vpcd_policy_rule_bytes_total", "Bytes of the packets counted by a policy rule",
              bytes);
}

}  // namespace

std::string routeOf(const std::string& target) {
  std::vector<std::string> seg = segments(target);
  if (seg.size() > 8) return "other";
  if (!seg.empty() && seg[0] == "v1") return templated(seg, 1);
  if (seg.size() >= 2 && seg[0] == "compute" && seg[1] == "v1") return templated(seg, 2);
  if (seg.size() == 2 && seg[0] == "compute" && seg[1] == "health") return "/compute/health";
  if (seg.size() == 3 && seg[0] == "batch" && seg[1] == "compute") return "/batch/compute/v1";
  return "other";
}

Metrics::Metrics(Services& services)
    : s_(services),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("vpcd_api_requests_total")
                    .Help("API requests, by method, route and status code")
                    .Register(*registry_)),
      requestSeconds_(prometheus::BuildHistogram()
                          .Name("vpcd_api_request_duration_seconds")
                          .Help("Time to answer an API request, by method and route")
                          .Register(*registry_)),
      passes_(prometheus::BuildCounter()
                  .Name("vpcd_reconcile_passes_total")
                  .Help("Reconcile passes, by trigger (start, request, drift) and result")
                  .Register(*registry_)),
      passSeconds_(prometheus::BuildHistogram()
                       .Name("vpcd_reconcile_duration_seconds")
                       .Help("Duration of a reconcile pass, by trigger")
                       .Register(*registry_)),
      repairs_(prometheus::BuildCounter()
                   .Name("vpcd_drift_repairs_total")
                   .Help("Drift repairs that changed the kernel, by kind of namespace")
                   .Register(*registry_)) {
  // Every kind present from the first scrape: a rate over a series that
  // appears late misses its first increase.
  for (const char* kind : {"host", "router", "subnet", "instance"}) repairs_.Add({{"kind", kind}});
}

Metrics::~Metrics() = default;

void Metrics::request(const std::string& method, const std::string& target, int status,
                      double seconds) {
  std::string route = routeOf(target);
  requests_.Add({{"method", method}, {"route", route}, {"code", std::to_string(status)}})
      .Increment();
  requestSeconds_.Add({{"method", method}, {"route", route}}, kRequestBuckets).Observe(seconds);
}

void Metrics::pass(const std::string& trigger, bool ok, double seconds) {
  passes_.Add({{"trigger", trigger}, {"result", ok ? "ok" : "error"}}).Increment();
  passSeconds_.Add({{"trigger", trigger}}, kPassBuckets).Observe(seconds);
}

void Metrics::repaired(const std::set<std::string>& namespaces) {
  std::set<std::string> kinds;
  for (const auto& ns : namespaces) kinds.insert(kindOf(ns));
  for (const auto& k : kinds) repairs_.Add({{"kind", k}}).Increment();
}

std::string Metrics::scrape() {
  Scrape now;
  const DesiredState& state = s_.engine.state();
  objects(now, state);
  std::map<prometheus::Labels, double> commands{{{{"state", "running"}}, 0},
                                                {{{"state", "exited"}}, 0}};
  for (const auto& [name, i] : state.instances()) {
    if (i->command.empty() || i->status != InstanceStatus::Running) continue;
    commands[{{"state", s_.instances.commandRunning(*i) ? "running" : "exited"}}] += 1;
  }
  now.gauge("vpcd_instance_commands",
            "Commands of running instances: running, or exited (until a reset)", commands);
  now.counter("vpcd_kernel_mutations_total", "Kernel calls that changed something, since start",
              {{{}, double(s_.engine.kernel().mutatingCalls())}});
  now.counter("vpcd_uplink_moves_total", "Times the uplink followed the default route elsewhere",
              {{{}, double(s_.engine.uplinkMoves())}});
  now.gauge("vpcd_uplink_up", "1 while the host has an uplink (a default route, or --uplink)",
            {{{}, state.host().uplink.empty() ? 0.0 : 1.0}});
  ruleCounters(now, s_);
  if (auto written = s_.flowLogs.written()) {
    std::map<prometheus::Labels, double> records, incomplete;
    for (const auto& [vpc, w] : *written) {
      records[{{"vpc", vpc}, {"action", "ACCEPT"}}] = double(w.accepted);
      records[{{"vpc", vpc}, {"action", "REJECT"}}] = double(w.rejected);
      incomplete[{{"vpc", vpc}}] = double(w.incomplete);
    }
    now.counter("vpcd_flow_records_total", "Flow records written since start, by VPC and action",
                records);
    now.counter("vpcd_flow_windows_incomplete_total",
                "Flow log windows whose records are incomplete (SKIPDATA: a queue overflowed)",
                incomplete);
  }
  std::vector<prometheus::MetricFamily> all = registry_->Collect();
  for (auto& f : now.collect()) all.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace vpcd
