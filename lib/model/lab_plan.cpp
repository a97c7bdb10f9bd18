// From a lab document to the next desired state: which of the lab's objects
// go (removed from the file, or changed in a way only a replacement can
// make), then every object of the file in dependency order. Each change goes
// through DesiredState::with like any request, so a lab can make nothing the
// API would refuse; an error is moved under the document path it came from.
#include <algorithm>
#include <set>

#include "lib/model/error.h"
#include "lib/model/lab_document.h"

namespace vpcd {

using nlohmann::json;

namespace {

// The working state of a plan: changes applied one at a time, so an error
// names the entry that caused it.
class Planner {
 public:
  Planner(const DesiredState& current, std::string lab) : state_(current), lab_(std::move(lab)) {}

  void change(const Change& c, const std::string& path) {
    try {
      state_ = state_.with(c);
    } catch (const DomainError& e) {
      throw e.under(path);
    }
  }
  void step(std::string action, std::string kind, std::string name, std::string path) {
    plan_.steps.push_back({std::move(action), std::move(kind), std::move(name), std::move(path)});
  }
  const DesiredState& state() const { return state_; }
  const std::string& lab() const { return lab_; }
  LabPlan& plan() { return plan_; }
  LabPlan done() {
    plan_.next = std::move(state_);
    return std::move(plan_);
  }

 private:
  DesiredState state_;
  std::string lab_;
  LabPlan plan_;
};

// What the lab owns that has to go: not in the document any more, or
// changed in a way that only a new object can take.
struct Doomed {
  std::set<std::string> vpcs, subnets, peerings, policies, instances, forwards, impairments,
      flowLogs;
  bool subnet(const std::string& vpc, const std::string& name) const {
    return subnets.count(vpc + "/" + name) > 0;
  }
};

// A peering's allow-lists with the defaults filled in (the VPC's whole CIDR).
Peering withDefaults(Peering p, const LabDocument& doc) {
  for (const auto* side : {&p.vpc, &p.peerVpc}) {
    if (!p.allowed.count(*side)) p.allowed[*side] = {doc.findVpc(*side)->vpc.cidr};
  }
  return p;
}

template <typename Entry>
const Entry* named(const std::vector<Entry>& entries, const std::string& name,
                   std::string (*nameOf)(const Entry&)) {
  for (const auto& e : entries) {
    if (nameOf(e) == name) return &e;
  }
  return nullptr;
}
std::string peeringName(const LabDocument::PeeringEntry& e) {
  return e.peering.name;
}
std::string policyName(const LabDocument::PolicyEntry& e) {
  return e.policy.name;
}
std::string instanceName(const LabDocument::InstanceEntry& e) {
  return e.request.instance.name;
}
std::string forwardName(const LabDocument::ForwardEntry& e) {
  return e.forward.name;
}
std::string impairmentName(const LabDocument::ImpairmentEntry& e) {
  return e.impairment.name;
}
std::string flowLogName(const LabDocument::FlowLogEntry& e) {
  return e.flowLog.name;
}

// A forward as asked for (the fields of its request) is the one it has.
bool sameRequest(const PortForward& have, const PortForward& want) {
  return have.protocol == want.protocol && have.listenPort == want.listenPort &&
         have.listenAddress == want.listenAddress && have.target == want.target &&
         have.targetPort == want.targetPort;
}

// The NICs as asked for match the NICs the instance has: same subnets in the
// same order, and an address where the document names one.
bool sameNics(const Instance& have, const InstanceRequest& want) {
  if (have.nics.size() != want.nics.size()) return false;
  for (size_t k = 0; k < want.nics.size(); ++k) {
    const Nic& n = have.nics[k];
    const NicRequest& r = want.nics[k];
    if (n.name != nicName(static_cast<int>(k)) || n.vpc != r.vpc || n.subnet != r.subnet ||
        (r.ip && *r.ip != n.ip))
      return false;
  }
  return true;
}

bool sameSettings(const Instance& have, const Instance& want) {
  return have.labels == want.labels && have.metadata == want.metadata && have.tags == want.tags &&
         have.command == want.command;
}

Doomed doomedBy(const DesiredState& s, const LabDocument& doc) {
  Doomed d;
  for (const auto& [name, v] : s.vpcs()) {
    if (v->lab != doc.name) continue;
    const auto* entry = doc.findVpc(name);
    bool gone = !entry || entry->vpc.cidr != v->cidr || entry->vpc.mtu != v->mtu;
    if (gone) d.vpcs.insert(name);
    for (const auto& sub : v->subnets) {
      const Subnet* want = entry ? entry->vpc.findSubnet(sub.name) : nullptr;
      if (gone || !want || !(*want == sub)) d.subnets.insert(name + "/" + sub.name);
    }
  }
  for (const auto& [name, p] : s.peerings()) {
    if (p.lab != doc.name) continue;
    const auto* entry = named(doc.peerings, name, peeringName);
    if (!entry || d.vpcs.count(p.vpc) || d.vpcs.count(p.peerVpc) ||
        p.state != PeeringState::Active) {
      d.peerings.insert(name);
      continue;
    }
    Peering want = withDefaults(entry->peering, doc);
    if (want.vpc != p.vpc || want.peerVpc != p.peerVpc || want.allowed != p.allowed)
      d.peerings.insert(name);
  }
  for (const auto& [name, p] : s.policies()) {
    if (p->lab != doc.name) continue;
    bool onDoomed = false;
    for (const auto& sec : p->sections) {
      for (const auto& t : sec.appliesTo) {
        auto ref = SubnetRef::parse(t);
        onDoomed = onDoomed || (ref && d.subnet(ref->vpc, ref->subnet));
      }
    }
    if (onDoomed || !named(doc.policies, name, policyName)) d.policies.insert(name);
  }
  for (const auto& [name, i] : s.instances()) {
    if (i->lab != doc.name) continue;
    const auto* entry = named(doc.instances, name, instanceName);
    bool onDoomed = std::any_of(i->nics.begin(), i->nics.end(),
                                [&](const Nic& n) { return d.subnet(n.vpc, n.subnet); });
    if (onDoomed || !entry || !sameNics(*i, entry->request)) d.instances.insert(name);
  }
  // A forward has no change in place: any field changed, or what it leads to
  // going, makes it a new one.
  for (const auto& [name, f] : s.portForwards()) {
    if (f->lab != doc.name) continue;
    const auto* entry = named(doc.forwards, name, forwardName);
    bool onDoomed = d.vpcs.count(f->vpc) || d.subnet(f->vpc, f->subnet) ||
                    (!f->instance.empty() && d.instances.count(f->instance));
    if (onDoomed || !entry || !sameRequest(*f, entry->forward)) d.forwards.insert(name);
  }
  // An impairment changes in place; it goes before its target when that goes.
  for (const auto& [name, i] : s.impairments()) {
    if (i->lab != doc.name) continue;
    bool onDoomed = i->kind == Impairment::Kind::Peering ? d.peerings.count(i->peering) > 0
                    : i->kind == Impairment::Kind::Nic   ? d.instances.count(i->instance) > 0
                                                         : d.subnet(i->vpc, i->subnet);
    if (onDoomed || d.vpcs.count(i->vpc) || !named(doc.impairments, name, impairmentName))
      d.impairments.insert(name);
  }
  // A flow log changes in place; it goes before its VPC or subnet goes.
  for (const auto& [name, f] : s.flowLogs()) {
    if (f->lab != doc.name) continue;
    bool onDoomed = d.vpcs.count(f->vpc) || (!f->subnet.empty() && d.subnet(f->vpc, f->subnet));
    if (onDoomed || !named(doc.flowLogs, name, flowLogName)) d.flowLogs.insert(name);
  }
  return d;
}

// The lab takes over the objects its document names that were made outside
// any lab (a set-up made by hand, exported, applied with adopt).
void adoptUnowned(Planner& p, const LabDocument& doc) {
  const DesiredState& s = p.state();
  auto adopt = [&](const std::string& kind, const std::string& name, const std::string& owner,
                   const std::string& path) {
    if (!owner.empty()) return;
    p.change(change::Adopt{kind, name, doc.name}, path);
    p.step("adopt", kind, name, path);
  };
  for (const auto& e : doc.vpcs) {
    if (const Vpc* v = s.findVpc(e.vpc.name)) adopt("vpc", v->name, v->lab, e.path);
  }
  for (const auto& e : doc.peerings) {
    if (const Peering* x = s.findPeering(e.peering.name)) adopt("peering", x->name, x->lab, e.path);
  }
  for (const auto& e : doc.policies) {
    if (const Policy* x = s.findPolicy(e.policy.name)) adopt("policy", x->name, x->lab, e.path);
  }
  for (const auto& e : doc.instances) {
    const std::string& name = e.request.instance.name;
    if (const Instance* x = s.findInstance(name)) adopt("instance", name, x->lab, e.path);
  }
  for (const auto& e : doc.forwards) {
    const std::string& name = e.forward.name;
    if (const PortForward* x = s.findPortForward(name)) adopt("port_forward", name, x->lab, e.path);
  }
  for (const auto& e : doc.impairments) {
    const std::string& name = e.impairment.name;
    if (const Impairment* x = s.findImpairment(name)) adopt("impairment", name, x->lab, e.path);
  }
  for (const auto& e : doc.flowLogs) {
    const std::string& name = e.flowLog.name;
    if (const FlowLog* x = s.findFlowLog(name)) adopt("flow_log", name, x->lab, e.path);
  }
}

// Flow logs, impairments, forwards, instances, policies, peerings, subnets,
// then VPCs: each goes before what it uses.
void removeDoomed(Planner& p, const Doomed& d, const LabDocument& doc) {
  const std::string& lab = doc.name;
  for (const auto& name : d.flowLogs) {
    p.change(change::DeleteFlowLog{name, lab}, "");
    if (!named(doc.flowLogs, name, flowLogName)) p.step("delete", "flow_log", name, "");
  }
  for (const auto& name : d.impairments) {
    p.change(change::DeleteImpairment{name, lab}, "");
    if (!named(doc.impairments, name, impairmentName)) p.step("delete", "impairment", name, "");
  }
  for (const auto& name : d.forwards) {
    p.change(change::DeletePortForward{name, lab}, "");
    if (!named(doc.forwards, name, forwardName)) p.step("delete", "port_forward", name, "");
  }
  for (const auto& name : d.instances) {
    p.change(change::DeleteInstance{name, lab}, "");
    p.plan().stop.push_back(name);
    if (!named(doc.instances, name, instanceName)) p.step("delete", "instance", name, "");
  }
  for (const auto& name : d.policies) {
    p.change(change::DeletePolicy{name, lab}, "");
    if (!named(doc.policies, name, policyName)) p.step("delete", "policy", name, "");
  }
  for (const auto& name : d.peerings) {
    p.change(change::DeletePeering{name, lab}, "");
    if (!named(doc.peerings, name, peeringName)) p.step("delete", "peering", name, "");
  }
  for (const auto& ref : d.subnets) {
    auto r = *SubnetRef::parse(ref);
    if (d.vpcs.count(r.vpc)) continue;  // goes with its VPC
    p.change(change::DeleteSubnet{r, lab}, "");
    const auto* v = doc.findVpc(r.vpc);
    if (!v || !v->vpc.findSubnet(r.subnet)) p.step("delete", "subnet", ref, "");
  }
  for (const auto& name : d.vpcs) {
    p.change(change::DeleteVpc{name, lab}, "");
    if (!doc.findVpc(name)) p.step("delete", "vpc", name, "");
  }
}

void createVpcs(Planner& p, const Doomed& d, const LabDocument& doc, const DesiredState& before) {
  for (const auto& e : doc.vpcs) {
    const std::string& name = e.vpc.name;
    Vpc bare = e.vpc;
    bare.subnets.clear();
    bool had = before.findVpc(name) != nullptr;
    if (!had || d.vpcs.count(name)) p.step(had ? "replace" : "create", "vpc", name, e.path);
    p.change(change::CreateVpc{bare}, e.path);
    for (size_t j = 0; j < e.vpc.subnets.size(); ++j) {
      const Subnet& s = e.vpc.subnets[j];
      std::string path = e.path + ".subnets[" + std::to_string(j) + "]";
      std::string ref = name + "/" + s.name;
      bool existed = before.findSubnet({name, s.name}) != nullptr;
      if (!existed || d.subnets.count(ref)) {
        p.step(existed && !d.vpcs.count(name) ? "replace" : "create", "subnet", ref, path);
      }
      p.change(change::CreateSubnet{name, s, doc.name}, path);
    }
  }
}

void createPeerings(Planner& p, const Doomed& d, const LabDocument& doc, const DesiredState& before,
                    int64_t now) {
  for (const auto& e : doc.peerings) {
    const std::string& name = e.peering.name;
    bool had = before.findPeering(name) != nullptr;
    if (had && !d.peerings.count(name)) continue;
    p.step(had ? "replace" : "create", "peering", name, e.path);
    p.change(change::RequestPeering{e.peering}, e.path);
    p.change(change::AcceptPeering{name, now, doc.name}, e.path);
  }
}

void putPolicies(Planner& p, const Doomed& d, const LabDocument& doc, const DesiredState& before) {
  std::set<std::string> vpcs;
  for (const auto& v : doc.vpcs) vpcs.insert(v.vpc.name);
  for (const auto& e : doc.policies) {
    const std::string& name = e.policy.name;
    const Policy* had = before.findPolicy(name);
    p.change(change::PutPolicy{e.policy, false}, e.path);
    const Policy& now = p.state().policy(name);
    for (const auto& vpc : vpcsOf(now)) {
      if (vpcs.count(vpc)) continue;
      throw DomainError::notFound(
          e.path + ": a target is a subnet of vpc " + vpc + ", which is not in lab " + doc.name,
          e.path);
    }
    if (!had || d.policies.count(name)) {
      p.step(had ? "replace" : "create", "policy", name, e.path);
    } else if (!(had->sections == now.sections)) {
      p.step("change", "policy", name, e.path);
    }
  }
}

void putInstances(Planner& p, const Doomed& d, const LabDocument& doc, const DesiredState& before,
                  int64_t now) {
  for (const auto& e : doc.instances) {
    const std::string& name = e.request.instance.name;
    const Instance* had = before.findInstance(name);
    if (!had || d.instances.count(name)) {
      p.step(had ? "replace" : "create", "instance", name, e.path);
      p.change(change::CreateInstance{e.request, now}, e.path);
      p.plan().start.push_back(name);
      continue;
    }
    const Instance& want = e.request.instance;
    if (sameSettings(*had, want)) continue;
    p.step("change", "instance", name, e.path);
    Instance updated = p.state().instance(name);
    bool restart = updated.command != want.command && updated.status == InstanceStatus::Running;
    updated.labels = want.labels;
    updated.metadata = want.metadata;
    updated.tags = want.tags;
    updated.command = want.command;
    if (restart) {
      // The new command replaces the old one, as a reset would.
      p.plan().stop.push_back(name);
      p.plan().start.push_back(name);
      updated.pid = 0;
      updated.pidStartTime = 0;
      updated.lastStartAt = now;
    }
    p.change(change::UpdateInstance{updated}, e.path);
  }
}

// After the instances: a forward may lead to one of them.
void createForwards(Planner& p, const Doomed& d, const LabDocument& doc,
                    const DesiredState& before) {
  for (const auto& e : doc.forwards) {
    const std::string& name = e.forward.name;
    bool had = before.findPortForward(name) != nullptr;
    if (had && !d.forwards.count(name)) continue;
    p.step(had ? "replace" : "create", "port_forward", name, e.path);
    p.change(change::CreatePortForward{e.forward}, e.path);
    const PortForward& made = p.state().portForward(name);
    std::string outside =
        !doc.findVpc(made.vpc) ? "vpc " + made.vpc
        : !made.instance.empty() && !named(doc.instances, made.instance, instanceName)
            ? "instance " + made.instance
            : "";
    if (!outside.empty()) {
      std::string field = e.path + ".target";
      throw DomainError::notFound(field + ": \"" + e.forward.target + "\" leads to " + outside +
                                      ", which is not in lab " + doc.name,
                                  field);
    }
  }
}

// Last: an impairment acts on a subnet, NIC or peering of the lab.
void putImpairments(Planner& p, const Doomed& d, const LabDocument& doc,
                    const DesiredState& before) {
  for (const auto& e : doc.impairments) {
    const std::string& name = e.impairment.name;
    const Impairment* had = d.impairments.count(name) ? nullptr : before.findImpairment(name);
    p.change(change::PutImpairment{e.impairment}, e.path);
    const Impairment& now = p.state().impairment(name);
    bool inLab = now.kind == Impairment::Kind::Peering
                     ? named(doc.peerings, now.peering, peeringName) != nullptr
                 : now.kind == Impairment::Kind::Nic
                     ? named(doc.instances, now.instance, instanceName) != nullptr
                     : doc.findVpc(now.vpc) != nullptr;
    if (!inLab) {
      std::string field = e.path + ".target";
      throw DomainError::notFound(
          field + ": \"" + now.target + "\" is not an object of lab " + doc.name, field);
    }
    if (!had) {
      p.step(before.findImpairment(name) ? "replace" : "create", "impairment", name, e.path);
    } else if (!(*had == now)) {
      p.step("change", "impairment", name, e.path);
    }
  }
}

// A flow log acts on a VPC or subnet of the lab (checked with the document).
void putFlowLogs(Planner& p, const Doomed& d, const LabDocument& doc, const DesiredState& before) {
  for (const auto& e : doc.flowLogs) {
    const std::string& name = e.flowLog.name;
    const FlowLog* had = d.flowLogs.count(name) ? nullptr : before.findFlowLog(name);
    p.change(change::PutFlowLog{e.flowLog}, e.path);
    const FlowLog& now = p.state().flowLog(name);
    if (!had) {
      p.step(before.findFlowLog(name) ? "replace" : "create", "flow_log", name, e.path);
    } else if (!had->sameEffect(now)) {
      p.step("change", "flow_log", name, e.path);
    }
  }
}

}  // namespace

LabPlan planLab(const DesiredState& current, const LabDocument& doc, bool adopt, int64_t now) {
  Planner p(current, doc.name);
  if (adopt) adoptUnowned(p, doc);
  const DesiredState before = p.state();
  Doomed d = doomedBy(before, doc);
  removeDoomed(p, d, doc);
  createVpcs(p, d, doc, before);
  createPeerings(p, d, doc, before, now);
  putPolicies(p, d, doc, before);
  putInstances(p, d, doc, before, now);
  createForwards(p, d, doc, before);
  putImpairments(p, d, doc, before);
  putFlowLogs(p, d, doc, before);
  const Lab* had = current.findLab(doc.name);
  if (!had || had->document != doc.source) {
    p.change(change::PutLab{Lab{doc.name, doc.source, now, now}}, "");
  }
  return p.done();
}

LabPlan planDestroy(const DesiredState& current, const std::string& lab) {
  current.lab(lab);
  Planner p(current, lab);
  LabDocument none;
  none.name = lab;
  Doomed d = doomedBy(current, none);  // nothing named: everything goes
  removeDoomed(p, d, none);
  p.change(change::DeleteLab{lab}, "");
  return p.done();
}

}  // namespace vpcd
