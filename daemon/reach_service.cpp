// Reachability questions: the model's answer (lib/plan/reach), then real
// packets (daemon/probe), then whether the two agree and, when they do not,
// what outside vpcd's tables may be dropping the packets.
#include <linux/netfilter.h>

#include <algorithm>

#include "daemon/probe.h"
#include "daemon/service.h"
#include "lib/model/error.h"
#include "lib/plan/reach.h"

namespace vpcd {

using nlohmann::json;

namespace {

constexpr auto kProbeTimeout = std::chrono::milliseconds(2000);
constexpr size_t kProbesAtOnce = 64;  // sockets in flight per batch

ProbeSpec specOf(const ReachAnswer& a, const ReachQuery& q) {
  bool inside =
      a.to.kind == ReachEndpoint::Kind::SubnetHost || a.to.kind == ReachEndpoint::Kind::Instance;
  return ProbeSpec{.srcNs = a.from.ns,
                   .source = a.source,
                   .dstNs = inside ? a.to.ns : "",
                   .dest = a.to.address,
                   .proto = q.proto,
                   .port = q.port};
}

// Packets counted by vpcd's own rules in one router: each policy rule (its
// map elements carry the rule's name and a counter) and each chain's
// counted default verdict.
std::map<std::string, uint64_t> counters(Kernel& kernel, const std::string& ns) {
  std::map<std::string, uint64_t> out;
  std::optional<NftTable> t = kernel.readTable(ns, NFPROTO_INET);
  if (!t) return out;
  for (const auto& set : t->sets) {
    for (const auto& el : set.elems) {
      if (el.counter && !el.comment.empty()) out["rule " + el.comment] += el.packets;
    }
  }
  for (const auto& r : t->rules) {
    if (r.exprs.size() == 2 && r.exprs[0].name == "counter") {
      bool drop = static_cast<int32_t>(r.exprs[1].key) == NF_DROP;
      out["default " + std::string(drop ? "drop" : "accept") + " of chain " + r.chain] +=
          r.exprs[0].packets;
    }
  }
  return out;
}

using Snapshot = std::map<std::string, std::map<std::string, uint64_t>>;  // by namespace

Snapshot snapshot(Kernel& kernel, const std::set<std::string>& routers) {
  Snapshot out;
  for (const auto& ns : routers) out[ns] = counters(kernel, ns);
  return out;
}

// The counters the probe moved, as {namespace, counter, packets}.
json moved(const Snapshot& before, const Snapshot& after) {
  json out = json::array();
  for (const auto& [ns, now] : after) {
    const auto& then = before.at(ns);
    for (const auto& [name, packets] : now) {
      auto it = then.find(name);
      uint64_t was = it == then.end() ? 0 : it->second;
      if (packets > was)
        out.push_back({{"namespace", ns}, {"counter", name}, {"packets", packets - was}});
    }
  }
  return out;
}

std::set<std::string> routersOf(const ReachAnswer& a) {
  std::set<std::string> out{routerNamespace(a.from.vpc)};
  if (!a.to.vpc.empty()) out.insert(routerNamespace(a.to.vpc));
  return out;
}

// Model and packets differ: what outside vpcd's rules may be the cause,
// the other tables' forward chains in the routers along the way and the
// host's forward chains that drop.
json disagreement(Kernel& kernel, const ReachAnswer& a) {
  json chains = json::array();
  for (const auto& ns : routersOf(a)) {
    for (const auto& c : kernel.foreignForwardChains(ns)) chains.push_back(ns + ": " + c);
  }
  for (const auto& c : kernel.forwardBlockers()) chains.push_back("host: " + c);
  return {{"message", a.reachable ? "the model allows it but no packet came back: something "
                                    "outside vpcd's rules drops it"
                                  : "the model forbids it but the packets got through: something "
                                    "outside vpcd's rules lets them (a hand-made route or rule)"},
          {"foreign_chains", chains}};
}

}  // namespace

std::vector<json> ReachService::answer(const std::vector<json>& questions, bool probe) {
  const DesiredState& s = engine_.state();
  std::vector<ReachQuery> queries;
  std::vector<ReachAnswer> answers;
  for (const auto& body : questions) {
    queries.push_back(parseReachQuery(body));
    answers.push_back(modelReach(s, queries.back()));
    // A probe sends from the source: a grant scoped to VPCs covers its VPC.
    if (!answers.back().from.vpc.empty()) engine_.authorize({answers.back().from.vpc});
  }
  std::vector<json> out;
  for (const auto& a : answers) {
    json j = a.json();
    j["proto"] = a.proto;
    j["port"] = a.port ? json(a.port) : json();
    out.push_back(std::move(j));
  }
  std::string skipped = !probe                    ? "not asked for (probe: false)"
                        : engine_.config().dryRun ? "a dry run has no data plane"
                                                  : "";
  if (!skipped.empty()) {
    for (auto& j : out) {
      j["probe"] = {{"skipped", skipped}};
      j["agree"] = nullptr;
    }
    return out;
  }
  // A client outside the host (through a port forward) has no namespace of
  // vpcd's to send from: the model alone answers for it.
  std::vector<size_t> probed;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].from.kind != ReachEndpoint::Kind::Internet) {
      probed.push_back(i);
      continue;
    }
    out[i]["probe"] = {{"skipped",
                        "the source is outside the host: vpcd cannot send from it; "
                        "connect from the client itself"}};
    out[i]["agree"] = nullptr;
  }
  Prober prober(engine_.config().netnsDir);
  for (size_t first = 0; first < probed.size(); first += kProbesAtOnce) {
    size_t last = std::min(probed.size(), first + kProbesAtOnce);
    std::vector<ProbeSpec> specs;
    for (size_t k = first; k < last; ++k)
      specs.push_back(specOf(answers[probed[k]], queries[probed[k]]));
    // One question alone: the counters of vpcd's rules along its path show
    // where its packets went (with several in flight they would mix).
    bool count = answers.size() == 1;
    Snapshot before = count ? snapshot(engine_.kernel(), routersOf(answers[0])) : Snapshot{};
    auto results = prober.run(specs, kProbeTimeout);
    bool any = std::any_of(before.begin(), before.end(),
                           [](const auto& router) { return !router.second.empty(); });
    // null: no counted rule along the path (no policy there) to tell by.
    if (count)
      out[0]["counted"] =
          any ? moved(before, snapshot(engine_.kernel(), routersOf(answers[0]))) : json();
    for (size_t k = first; k < last; ++k) {
      size_t i = probed[k];
      const ProbeResult& r = results[k - first];
      json& j = out[i];
      j["probe"] = r.json();
      bool reached = r.received > 0;
      bool unseen = queries[i].proto == "udp" && !r.ourListener && !specs[k - first].dstNs.empty();
      if (unseen && !reached) {
        // The user's own UDP service listens there: what it got is its own.
        j["agree"] = nullptr;
        j["probe"]["outcome"] = "sent; the destination's own service listens, vpcd cannot see it";
        continue;
      }
      j["agree"] = reached == answers[i].reachable;
      if (j["agree"]) continue;
      j["disagreement"] = disagreement(engine_.kernel(), answers[i]);
    }
  }
  return out;
}

Reply ReachService::check(const json& body) {
  bool probe = !body.is_object() || !body.contains("probe") || body["probe"] != false;
  return {200, answer({body}, probe).front()};
}

Reply ReachService::verify(const std::string& name) {
  const Lab& lab = engine_.state().lab(name);
  std::vector<json> questions;
  json expect = lab.document.value("expect", json::array());
  for (const auto& e : expect) {
    json q{{"from", e["from"]}, {"to", e["to"]}};
    for (const char* k : {"proto", "port"})
      if (e.contains(k)) q[k] = e[k];
    questions.push_back(q);
  }
  std::vector<json> answers;
  try {
    answers = answer(questions, true);
  } catch (const DomainError& e) {
    throw e.under("expect");
  }
  json rows = json::array();
  bool ok = true;
  for (size_t i = 0; i < answers.size(); ++i) {
    const json& a = answers[i];
    bool expected = expect[i]["reach"];
    bool model = a["verdict"] == "reachable";
    json packets = a["probe"].contains("received") ? json(a["probe"]["received"] > 0) : json();
    bool holds = model == expected && (packets.is_null() || packets == expected);
    ok = ok && holds;
    rows.push_back({{"from", a["from"]["ref"]},
                    {"to", a["to"]["ref"]},
                    {"proto", a["proto"]},
                    {"port", a["port"]},
                    {"expected", expected ? "reach" : "blocked"},
                    {"model", a["verdict"]},
                    {"packets", packets.is_null() ? json() : json(packets ? "reached" : "blocked")},
                    {"holds", holds},
                    {"blocked_by", a["blocked_by"]},
                    {"disagreement", a.value("disagreement", json())}});
  }
  return {200, json{{"lab", name}, {"ok", ok}, {"expectations", rows}}};
}

}  // namespace vpcd
