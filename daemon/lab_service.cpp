// Labs: a document applied as one change of the desired state (planLab), a
// dry run that shows the plan and the kernel actions, destroy, export and
// the graph. The instances' commands are stopped before the one commit and
// started after it, as the instance service does for one instance.
#include "daemon/lab_graph.h"
#include "daemon/service.h"
#include "lib/model/error.h"
#include "lib/model/lab_document.h"
#include "lib/model/timestamp.h"
#include "lib/plan/reach.h"

namespace vpcd {

using nlohmann::json;

namespace {

// ?dry_run, ?dry_run=true, =1 are on; =false, =0 and absent are off.
bool flag(const Query& q, const std::string& field) {
  auto it = q.find(field);
  if (it == q.end()) return false;
  if (it->second.empty() || it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  throw DomainError::invalid(field, "must be true or false, not \"" + it->second + "\"");
}

// A question answered by the model of `s`: "reachable", "unreachable", or
// "absent" when an endpoint does not exist there (yet, or any more).
std::string verdictIn(const DesiredState& s, const json& q) {
  try {
    return modelReach(s, parseReachQuery(q)).reachable ? "reachable" : "unreachable";
  } catch (const DomainError&) {
    return "absent";
  }
}

// What the document would change in reachability: each expectation, and
// ICMP between every two subnet hosts of the lab, in the state now and in
// the planned one; only the rows that differ, and every expectation.
json reachChanges(const DesiredState& now, const DesiredState& next, const LabDocument& doc) {
  json rows = json::array();
  auto row = [&](json q, json expected) {
    std::string before = verdictIn(now, q), after = verdictIn(next, q);
    if (expected.is_null() && before == after) return;
    q["before"] = before;
    q["after"] = after;
    if (!expected.is_null()) {
      q["expected"] = expected.get<bool>() ? "reachable" : "unreachable";
      q["holds"] = after == q["expected"];
    }
    rows.push_back(q);
  };
  for (const auto& e : doc.source.value("expect", json::array())) {
    json q{{"from", e["from"]}, {"to", e["to"]}, {"proto", e.value("proto", "tcp")}};
    if (e.contains("port")) q["port"] = e["port"];
    row(q, e["reach"]);
  }
  std::vector<std::string> subnets;
  for (const auto& v : doc.vpcs)
    for (const auto& s : v.vpc.subnets) subnets.push_back(v.vpc.name + "/" + s.name);
  for (const auto& a : subnets)
    for (const auto& b : subnets)
      if (a != b) row({{"from", a}, {"to", b}, {"proto", "icmp"}}, nullptr);
  return rows;
}

json stepsJson(const std::vector<LabStep>& steps) {
  json out = json::array();
  for (const auto& s : steps) out.push_back(toJson(s));
  return out;
}

}  // namespace

json LabService::shown(const Lab& lab) const {
  const DesiredState& s = engine_.state();
  json objects{{"vpcs", json::array()},      {"subnets", json::array()},
               {"peerings", json::array()},  {"policies", json::array()},
               {"instances", json::array()}, {"port_forwards", json::array()}};
  std::set<std::string> vpcs;
  for (const auto& [name, v] : s.vpcs()) {
    if (v->lab != lab.name) continue;
    objects["vpcs"].push_back(name);
    vpcs.insert(name);
    for (const auto& sub : v->subnets) objects["subnets"].push_back(name + "/" + sub.name);
  }
  for (const auto& [name, p] : s.peerings())
    if (p.lab == lab.name) objects["peerings"].push_back(name);
  for (const auto& [name, p] : s.policies())
    if (p->lab == lab.name) objects["policies"].push_back(name);
  for (const auto& [name, i] : s.instances())
    if (i->lab == lab.name) objects["instances"].push_back(name);
  for (const auto& [name, f] : s.portForwards())
    if (f->lab == lab.name) objects["port_forwards"].push_back(name);
  json out{{"name", lab.name},
           {"document", lab.document},
           {"objects", objects},
           {"created_at", isoTime(lab.createdAt)},
           {"applied_at", isoTime(lab.appliedAt)}};
  return engine_.withEnforcement(out, vpcs);
}

Reply LabService::list() const {
  json items = json::array();
  for (const auto& [name, lab] : engine_.state().labs()) items.push_back(shown(*lab));
  return {200, json{{"items", items}}};
}

Reply LabService::get(const std::string& name) const {
  return {200, shown(engine_.state().lab(name))};
}

Reply LabService::carryOut(const LabPlan& plan, Finish finish) {
  // A namespace in the way, or a VPC the caller may not act on, refuses the
  // change before any command is stopped.
  engine_.authorize(plan.next);
  if (!plan.stop.empty()) engine_.preview(plan.next);
  instances_.stopCommands(plan.stop);
  engine_.commit(plan.next);
  for (const auto& name : plan.stop) {
    if (!engine_.state().findInstance(name)) instances_.forget(name);
  }
  // New commands once the old ones have ended (a replaced command may hold
  // the port its successor listens on); the answer after that.
  return instances_.whenStopped(plan.stop, [this, start = plan.start, finish = std::move(finish)] {
    instances_.startCommands(start);
    return finish();
  });
}

Reply LabService::put(const std::string& name, const json& body, const Query& q) {
  bool dryRun = flag(q, "dry_run");
  bool adopt = flag(q, "adopt");
  int64_t now = nowSeconds();
  LabDocument doc = parseLabDocument(body, name, now);
  bool existed = engine_.state().findLab(name) != nullptr;
  LabPlan plan = planLab(engine_.state(), doc, adopt, now);
  requireEnforceable(engine_, plan.next, [&doc](const std::string& impairment) {
    for (const auto& e : doc.impairments) {
      if (e.impairment.name == impairment) return e.path;
    }
    return std::string();
  });
  if (dryRun) {
    json out{{"name", name},
             {"dry_run", true},
             {"changes", stepsJson(plan.steps)},
             {"kernel", engine_.preview(plan.next)}};
    if (flag(q, "reach")) out["reach"] = reachChanges(engine_.state(), plan.next, doc);
    return {200, out};
  }
  return carryOut(plan, [this, name, steps = stepsJson(plan.steps), existed] {
    json out = shown(engine_.state().lab(name));
    out["changes"] = steps;
    return Reply{existed ? 200 : 201, out};
  });
}

Reply LabService::remove(const std::string& name) {
  LabPlan plan = planDestroy(engine_.state(), name);
  return carryOut(plan, [name, steps = stepsJson(plan.steps)] {
    return Reply{200, json{{"name", name}, {"changes", steps}}};
  });
}

Reply LabService::exportDocument(const std::string& name, const Query& q) const {
  if (!name.empty()) engine_.state().lab(name);
  std::string title = q.count("name") ? q.at("name") : name.empty() ? "host" : name;
  requireLabel("name", title);
  return {200, exportLab(engine_.state(), name, title)};
}

Reply LabService::graph(const std::string& name, const Query& q) const {
  engine_.state().lab(name);
  std::string format = q.count("format") ? q.at("format") : "dot";
  if (format != "dot" && format != "svg")
    throw DomainError::invalid("format", "must be dot or svg, not \"" + format + "\"");
  std::string dot = labDot(engine_.state(), name, name);
  Reply r;
  if (format == "dot") {
    r.text = dot;
    r.contentType = "text/vnd.graphviz; charset=utf-8";
  } else {
    r.text = renderSvg(dot);
    r.contentType = "image/svg+xml";
  }
  return r;
}

}  // namespace vpcd
