#pragma once
// A lab document (docs/labs.md) read into the values the API takes, and the
// changes that make the desired state match it. A lab is one `next` state:
// planLab computes it from the current state, all or nothing, and names the
// document path of anything it refuses ("vpcs[1].subnets[0].cidr").
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/model/desired_state.h"

namespace vpcd {

struct LabDocument {
  std::string name;
  nlohmann::json source;  // the document as given, with its name
  struct VpcEntry {
    Vpc vpc;  // with its subnets, in document order
    std::string path;
  };
  struct PeeringEntry {
    Peering peering;
    std::string path;
  };
  struct PolicyEntry {
    Policy policy;
    std::string path;
  };
  struct InstanceEntry {
    InstanceRequest request;
    std::string path;
  };
  struct ForwardEntry {
    PortForward forward;  // as asked for: its target not yet resolved
    std::string path;
  };
  std::vector<VpcEntry> vpcs;
  std::vector<PeeringEntry> peerings;
  std::vector<PolicyEntry> policies;
  std::vector<InstanceEntry> instances;
  struct ImpairmentEntry {
    Impairment impairment;  // as asked for: its target not yet resolved
    std::string path;
  };
  std::vector<ForwardEntry> forwards;
  std::vector<ImpairmentEntry> impairments;
  struct FlowLogEntry {
    FlowLog flowLog;
    std::string path;
  };
  std::vector<FlowLogEntry> flowLogs;

  const VpcEntry* findVpc(const std::string& name) const;
};

// The document on its own: fields, names, duplicates, and that every
// reference (a peering's VPCs, a NIC's subnet) names an object of the lab.
// `name` is the lab's name from the URL ("" to take the document's).
LabDocument parseLabDocument(const nlohmann::json& body, const std::string& name, int64_t now);

// One line of a plan: what happens to one object.
struct LabStep {
  std::string action;  // create, change, replace, delete, adopt
  std::string kind;    // vpc, subnet, peering, policy, instance, port_forward, impairment,
                       // flow_log
  std::string name;    // "prod", "prod/web"
  std::string path;    // where the document names it; "" for a delete
};
nlohmann::json toJson(const LabStep& step);

struct LabPlan {
  DesiredState next;
  std::vector<LabStep> steps;
  std::vector<std::string> stop;   // instances whose command ends before the commit
  std::vector<std::string> start;  // instances whose command starts after it
};

// The state that matches `doc`: what is missing created, what differs changed
// (in place where the API can, replaced where it cannot: a VPC's cidr or mtu,
// a subnet's cidr or type, a peering's VPCs or allow-lists, an instance's
// NICs, any field of a port forward), and what the lab owns but the document no longer names
// deleted. With `adopt`, objects made outside any lab that the document names become the lab's.
// Throws DomainError naming the document path.
LabPlan planLab(const DesiredState& current, const LabDocument& doc, bool adopt, int64_t now);
// Everything the lab owns deleted, then its record.
LabPlan planDestroy(const DesiredState& current, const std::string& lab);

// The objects of `lab` (of the whole host when `lab` is empty) as a document
// named `name` that applies as a no-op: the current objects, not the file
// last applied, so changes made since are in it.
nlohmann::json exportLab(const DesiredState& state, const std::string& lab,
                         const std::string& name);

}  // namespace vpcd
