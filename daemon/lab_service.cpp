// Labs: a document applied as one change of the desired state (planLab), a
// dry run that shows the plan and the kernel actions, destroy, export and
// the graph. The instances' commands are stopped before the one commit and
// started after it, as the instance service does for one instance.
#include "daemon/lab_graph.h"
#include "daemon/service.h"
#include "lib/model/error.h"
#include "lib/model/lab_document.h"
#include "lib/model/timestamp.h"

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

json stepsJson(const std::vector<LabStep>& steps) {
  json out = json::array();
  for (const auto& s : steps) out.push_back(toJson(s));
  return out;
}

}  // namespace

json LabService::shown(const Lab& lab) const {
  const DesiredState& s = engine_.state();
  json objects{{"vpcs", json::array()},
               {"subnets", json::array()},
               {"peerings", json::array()},
               {"policies", json::array()},
               {"instances", json::array()}};
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

void LabService::carryOut(const LabPlan& plan) {
  // A namespace in the way refuses the change before any command is stopped.
  if (!plan.stop.empty()) engine_.preview(plan.next);
  instances_.stopCommands(plan.stop);
  engine_.commit(plan.next);
  for (const auto& name : plan.stop) {
    if (!engine_.state().findInstance(name)) instances_.forget(name);
  }
  instances_.startCommands(plan.start);
}

Reply LabService::put(const std::string& name, const json& body, const Query& q) {
  bool dryRun = flag(q, "dry_run");
  bool adopt = flag(q, "adopt");
  int64_t now = nowSeconds();
  LabDocument doc = parseLabDocument(body, name, now);
  bool existed = engine_.state().findLab(name) != nullptr;
  LabPlan plan = planLab(engine_.state(), doc, adopt, now);
  if (dryRun) {
    return {200, json{{"name", name},
                      {"dry_run", true},
                      {"changes", stepsJson(plan.steps)},
                      {"kernel", engine_.preview(plan.next)}}};
  }
  carryOut(plan);
  json out = shown(engine_.state().lab(name));
  out["changes"] = stepsJson(plan.steps);
  return {existed ? 200 : 201, out};
}

Reply LabService::remove(const std::string& name) {
  LabPlan plan = planDestroy(engine_.state(), name);
  carryOut(plan);
  return {200, json{{"name", name}, {"changes", stepsJson(plan.steps)}}};
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
