// A lab document written from the objects as they are now: what `lab export`
// prints. Each entry has the fields its request takes, so the document
// applies again as a no-op.
#include "lib/model/lab_document.h"

namespace vpcd {

using nlohmann::json;

namespace {

json vpcEntry(const Vpc& v) {
  json subnets = json::array();
  for (const auto& s : v.subnets)
    subnets.push_back({{"name", s.name}, {"cidr", s.cidr.str()}, {"type", toString(s.type)}});
  return {{"name", v.name}, {"cidr", v.cidr.str()}, {"mtu", v.mtu}, {"subnets", subnets}};
}

json peeringEntry(const Peering& p) {
  json allowed = json::object();
  for (const auto& [side, list] : p.allowed) {
    allowed[side] = json::array();
    for (const auto& c : list) allowed[side].push_back(c.str());
  }
  return {{"name", p.name}, {"vpc", p.vpc}, {"peer_vpc", p.peerVpc}, {"allowed_cidrs", allowed}};
}

json policyEntry(const Policy& p) {
  json out = toJson(p);  // the normalized vpcd format, with its name
  for (const char* meta : {"format", "created_at", "updated_at", "lab"}) out.erase(meta);
  return out;
}

json instanceEntry(const Instance& i) {
  json nics = json::array();
  for (const auto& n : i.nics) nics.push_back({{"subnet", n.target()}, {"ip", n.ip.str()}});
  json out{{"name", i.name}, {"nics", nics}};
  if (!i.labels.empty()) out["labels"] = i.labels;
  if (!i.metadata.empty()) out["metadata"] = i.metadata;
  if (!i.tags.empty()) out["tags"] = i.tags;
  if (!i.command.empty()) out["command"] = i.command;
  return out;
}

json forwardEntry(const PortForward& f) {
  json out{{"name", f.name},
           {"protocol", f.protocol},
           {"listen_port", f.listenPort},
           {"target", f.target},
           {"target_port", f.targetPort}};
  if (f.listenAddress) out["listen_address"] = f.listenAddress->str();
  return out;
}

}  // namespace

json exportLab(const DesiredState& state, const std::string& lab, const std::string& name) {
  auto mine = [&](const std::string& owner) { return lab.empty() || owner == lab; };
  json doc{{"name", name}};
  if (const Lab* record = lab.empty() ? nullptr : state.findLab(lab)) {
    if (record->document.contains("description"))
      doc["description"] = record->document["description"];
  }
  auto section = [&](const char* key, json items) {
    if (!items.empty()) doc[key] = std::move(items);
  };
  json vpcs = json::array(), peerings = json::array(), policies = json::array(),
       instances = json::array(), forwards = json::array(), impairments = json::array(),
       flowLogs = json::array();
  for (const auto& [n, v] : state.vpcs())
    if (mine(v->lab)) vpcs.push_back(vpcEntry(*v));
  for (const auto& [n, p] : state.peerings())
    if (mine(p.lab) && p.state == PeeringState::Active) peerings.push_back(peeringEntry(p));
  for (const auto& [n, p] : state.policies())
    if (mine(p->lab)) policies.push_back(policyEntry(*p));
  for (const auto& [n, i] : state.instances())
    if (mine(i->lab)) instances.push_back(instanceEntry(*i));
  for (const auto& [n, f] : state.portForwards())
    if (mine(f->lab)) forwards.push_back(forwardEntry(*f));
  for (const auto& [n, i] : state.impairments())
    if (mine(i->lab)) impairments.push_back(toRequest(*i));
  for (const auto& [n, f] : state.flowLogs())
    if (mine(f->lab)) flowLogs.push_back(toRequest(*f));
  section("vpcs", std::move(vpcs));
  section("peerings", std::move(peerings));
  section("policies", std::move(policies));
  section("instances", std::move(instances));
  section("port_forwards", std::move(forwards));
  section("impairments", std::move(impairments));
  section("flow_logs", std::move(flowLogs));
  if (const Lab* record = lab.empty() ? nullptr : state.findLab(lab)) {
    if (record->document.contains("expect")) doc["expect"] = record->document["expect"];
  }
  return doc;
}

}  // namespace vpcd
