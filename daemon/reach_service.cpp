// Reachability questions: the model's answer (lib/plan/reach), then real
// packets (daemon/probe), then whether the two agree and, when they do not,
// what outside vpcd's tables may be dropping the packets.
// netinet/in.h before the kernel's header: glibc's then keeps linux/in.h's
// definitions out (asio includes it too).
#include <netinet/in.h>
// clang-format off
#include <linux/netfilter.h>
// clang-format on

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <exception>

#include "daemon/probe.h"
#include "daemon/service.h"
#include "lib/model/error.h"
#include "lib/plan/policy_compile.h"
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
    if (auto v = defaultVerdictOf(r))
      out["default " + std::string(v->drop ? "drop" : "accept") + " of chain " + r.chain] +=
          v->packets;
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

// A question set on its way: the model's answers, and the probes still to run.
struct ReachService::Pending {
  std::vector<ReachQuery> queries;
  std::vector<ReachAnswer> answers;
  std::vector<json> out;
  std::vector<size_t> probed;  // indexes of the questions probed, in batches
  size_t next = 0;             // the first of `probed` not yet run
  std::string netnsDir;
  std::exception_ptr failure;  // a probe or a counter read that failed
  // The reply `make` builds, or the failure thrown as the request's error.
  Reply finish(const std::function<Reply()>& make) const {
    if (failure) std::rethrow_exception(failure);
    return make();
  }
};

std::shared_ptr<ReachService::Pending> ReachService::prepare(const std::vector<json>& questions,
                                                             bool probe) {
  auto p = std::make_shared<Pending>();
  p->netnsDir = engine_.config().netnsDir;
  const DesiredState& s = engine_.state();
  for (const auto& body : questions) {
    p->queries.push_back(parseReachQuery(body));
    p->answers.push_back(modelReach(s, p->queries.back()));
    // A probe sends from the source: a grant scoped to VPCs covers its VPC.
    if (!p->answers.back().from.vpc.empty()) engine_.authorize({p->answers.back().from.vpc});
  }
  for (const auto& a : p->answers) {
    json j = a.json();
    j["proto"] = a.proto;
    j["port"] = a.port ? json(a.port) : json();
    p->out.push_back(std::move(j));
  }
  std::string skipped = !probe                    ? "not asked for (probe: false)"
                        : engine_.config().dryRun ? "a dry run has no data plane"
                                                  : "";
  if (!skipped.empty()) {
    for (auto& j : p->out) {
      j["probe"] = {{"skipped", skipped}};
      j["agree"] = nullptr;
    }
    return p;
  }
  // A client outside the host (through a port forward) has no namespace of
  // vpcd's to send from: the model alone answers for it.
  for (size_t i = 0; i < p->answers.size(); ++i) {
    if (p->answers[i].from.kind != ReachEndpoint::Kind::Internet) {
      p->probed.push_back(i);
      continue;
    }
    p->out[i]["probe"] = {{"skipped",
                           "the source is outside the host: vpcd cannot send from it; "
                           "connect from the client itself"}};
    p->out[i]["agree"] = nullptr;
  }
  return p;
}

// One batch of probes: what to send, and the counters before it.
struct ReachService::Batch {
  std::vector<ProbeSpec> specs;
  Snapshot before;
  bool count = false;
};

ReachService::Batch ReachService::nextBatch(const Pending& p) {
  Batch b;
  size_t last = std::min(p.probed.size(), p.next + kProbesAtOnce);
  for (size_t k = p.next; k < last; ++k)
    b.specs.push_back(specOf(p.answers[p.probed[k]], p.queries[p.probed[k]]));
  // One question alone: the counters of vpcd's rules along its path show
  // where its packets went (with several in flight they would mix).
  b.count = p.answers.size() == 1;
  if (b.count) b.before = snapshot(engine_.kernel(), routersOf(p.answers[0]));
  return b;
}

void ReachService::record(Pending& p, const Batch& b, const std::vector<ProbeResult>& results) {
  bool any = std::any_of(b.before.begin(), b.before.end(),
                         [](const auto& router) { return !router.second.empty(); });
  // null: no counted rule along the path (no policy there) to tell by.
  if (b.count)
    p.out[0]["counted"] =
        any ? moved(b.before, snapshot(engine_.kernel(), routersOf(p.answers[0]))) : json();
  for (size_t k = 0; k < results.size(); ++k) {
    size_t i = p.probed[p.next + k];
    const ProbeResult& r = results[k];
    json& j = p.out[i];
    j["probe"] = r.json();
    bool reached = r.received > 0;
    bool unseen = p.queries[i].proto == "udp" && !r.ourListener && !b.specs[k].dstNs.empty();
    if (unseen && !reached) {
      // The user's own UDP service listens there: what it got is its own.
      j["agree"] = nullptr;
      j["probe"]["outcome"] = "sent; the destination's own service listens, vpcd cannot see it";
      continue;
    }
    j["agree"] = reached == p.answers[i].reachable;
    if (j["agree"]) continue;
    j["disagreement"] = disagreement(engine_.kernel(), p.answers[i]);
  }
  p.next += results.size();
}

void ReachService::probeNow(Pending& p) {
  Prober prober(p.netnsDir);
  while (p.next < p.probed.size()) {
    Batch b = nextBatch(p);
    record(p, b, prober.run(b.specs, kProbeTimeout));
  }
}

// The probes wait up to kProbeTimeout for answers that may never come: they
// wait in a thread of their own, and the loop serves everyone else meanwhile.
// Model answers, counters and the reply are made on the loop.
void ReachService::probeLater(std::shared_ptr<Pending> p, std::function<void()> done) {
  if (p->failure || p->next >= p->probed.size()) return done();
  auto b = std::make_shared<Batch>(nextBatch(*p));
  uint64_t id = ++lastProbe_;
  probes_[id] = std::thread([this, p, b, id, done] {
    auto results = std::make_shared<std::vector<ProbeResult>>();
    std::exception_ptr failure;
    try {
      *results = Prober(p->netnsDir).run(b->specs, kProbeTimeout);
    } catch (...) {
      failure = std::current_exception();  // answered as the request's error
    }
    boost::asio::post(*io_, [this, p, b, id, done, results, failure] {
      if (auto it = probes_.find(id); it != probes_.end()) {
        it->second.join();  // it has finished its work; it ends now
        probes_.erase(it);
      }
      p->failure = failure;
      if (!failure) {
        try {
          record(*p, *b, *results);
        } catch (...) {
          p->failure = std::current_exception();
        }
      }
      probeLater(p, done);
    });
  });
}

void ReachService::joinProbes() {
  for (auto& [id, t] : probes_) t.join();
  probes_.clear();
}

ReachService::~ReachService() {
  joinProbes();
}

Reply ReachService::check(const json& body) {
  bool probe = !body.is_object() || !body.contains("probe") || body["probe"] != false;
  auto p = prepare({body}, probe);
  if (!io_) {
    probeNow(*p);
    return {200, p->out.front()};
  }
  Reply reply;
  reply.later = [this, p](Deliver deliver) {
    probeLater(p, [p, deliver] {
      deliver([p] { return p->finish([&] { return Reply{200, p->out.front()}; }); });
    });
  };
  return reply;
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
  std::shared_ptr<Pending> p;
  try {
    p = prepare(questions, true);
  } catch (const DomainError& e) {
    throw e.under("expect");
  }
  auto finish = [name, expect, p] { return verdicts(name, expect, p->out); };
  if (!io_) {
    probeNow(*p);
    return finish();
  }
  Reply reply;
  reply.later = [this, p, finish](Deliver deliver) {
    probeLater(p, [p, deliver, finish] { deliver([p, finish] { return p->finish(finish); }); });
  };
  return reply;
}

Reply ReachService::verdicts(const std::string& name, const json& expect,
                             const std::vector<json>& answers) {
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
