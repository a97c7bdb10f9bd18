// Reading a lab document: each section's entries are parsed by the same
// functions as the API's requests, and their errors moved under the entry's
// path in the document, so "cidr" in a subnet becomes vpcs[1].subnets[0].cidr.
#include "lib/model/lab_document.h"

#include <algorithm>
#include <map>

#include "lib/model/error.h"
#include "lib/model/fields.h"

namespace vpcd {

using nlohmann::json;

namespace {

std::string at(const std::string& list, size_t i) {
  return list + "[" + std::to_string(i) + "]";
}

template <typename Fn>
auto parsedAt(const std::string& path, Fn&& parse) {
  try {
    return parse();
  } catch (const DomainError& e) {
    throw e.under(path);
  }
}

// A section of the document: absent is empty.
const json& section(const json& body, const std::string& field) {
  static const json empty = json::array();
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return empty;
  if (!it->is_array()) throw DomainError::invalid(field, "must be a list");
  return *it;
}

// Names are unique per kind within a document.
class Names {
 public:
  explicit Names(std::string kind) : kind_(std::move(kind)) {}
  void add(const std::string& name, const std::string& path) {
    auto [it, added] = seen_.emplace(name, path);
    if (!added) {
      throw DomainError::invalid(
          path + ".name", kind_ + " " + name + " is named twice (also at " + it->second + ")");
    }
  }

 private:
  std::string kind_;
  std::map<std::string, std::string> seen_;
};

void parseVpcs(const json& body, LabDocument& doc) {
  const json& list = section(body, "vpcs");
  Names names("vpc");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("vpcs", i);
    json entry = list[i];
    json subnets = json::array();
    if (entry.is_object() && entry.contains("subnets")) {
      subnets = entry["subnets"];
      entry.erase("subnets");
      if (!subnets.is_array()) throw DomainError::invalid(path + ".subnets", "must be a list");
    }
    Vpc vpc = parsedAt(path, [&] { return parseVpcRequest(entry); });
    names.add(vpc.name, path);
    vpc.lab = doc.name;
    Names subnetNames("subnet " + vpc.name + "/");
    for (size_t j = 0; j < subnets.size(); ++j) {
      std::string subPath = at(path + ".subnets", j);
      Subnet s = parsedAt(subPath, [&] { return parseSubnetRequest(subnets[j]); });
      subnetNames.add(s.name, subPath);
      parsedAt(subPath, [&] {
        checkSubnetFits(vpc, s);
        return 0;
      });
      s.seq = j + 1;
      vpc.subnets.push_back(s);
    }
    doc.vpcs.push_back({std::move(vpc), path});
  }
}

void parsePeerings(const json& body, LabDocument& doc, int64_t now) {
  const json& list = section(body, "peerings");
  Names names("peering");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("peerings", i);
    if (list[i].is_object() && list[i].contains("expires_in_s")) {
      throw DomainError::invalid(path + ".expires_in_s",
                                 "not used in a lab: both VPCs are in it, so the peering is "
                                 "applied active");
    }
    Peering p = parsedAt(path, [&] { return parsePeeringRequest(list[i], now); });
    names.add(p.name, path);
    for (const auto& [field, side] : {std::pair{"vpc", p.vpc}, std::pair{"peer_vpc", p.peerVpc}}) {
      if (!doc.findVpc(side)) {
        throw DomainError::notFound(path + "." + field + ": vpc " + side + " is not in lab " +
                                        doc.name + "; a lab peers its own VPCs",
                                    path + "." + field);
      }
    }
    p.lab = doc.name;
    doc.peerings.push_back({std::move(p), path});
  }
}

// A reference to a subnet of the document ("vpc/subnet").
bool inDocument(const LabDocument& doc, const std::string& vpc, const std::string& subnet) {
  const LabDocument::VpcEntry* v = doc.findVpc(vpc);
  return v && v->vpc.findSubnet(subnet);
}

void parsePolicies(const json& body, LabDocument& doc, int64_t now) {
  const json& list = section(body, "policies");
  Names names("policy");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("policies", i);
    const json& entry = list[i];
    if (!entry.is_object()) throw DomainError::invalid(path, "must be an object");
    std::string name = parsedAt(path, [&] { return requireString(entry, "name"); });
    Policy p = parsedAt(path, [&] { return parsePolicy(name, entry, now); });
    names.add(name, path);
    p.lab = doc.name;
    for (size_t s = 0; s < p.sections.size(); ++s) {
      for (size_t k = 0; k < p.sections[s].appliesTo.size(); ++k) {
        auto ref = SubnetRef::parse(p.sections[s].appliesTo[k]);
        if (!ref || inDocument(doc, ref->vpc, ref->subnet)) continue;  // a CIDR: resolved later
        std::string field = path + "." +
                            (p.format == "seed"      ? std::string("subnet")
                             : p.sections.size() > 1 ? at("sections", s) + "." + at("applies_to", k)
                                                     : at("applies_to", k));
        throw DomainError::notFound(field + ": subnet " + ref->str() + " is not in lab " + doc.name,
                                    field);
      }
    }
    doc.policies.push_back({std::move(p), path});
  }
}

void parseInstances(const json& body, LabDocument& doc) {
  const json& list = section(body, "instances");
  Names names("instance");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("instances", i);
    InstanceRequest r = parsedAt(path, [&] { return parseInstanceRequest(list[i]); });
    names.add(r.instance.name, path);
    for (const auto& nic : r.nics) {
      if (inDocument(doc, nic.vpc, nic.subnet)) continue;
      std::string field = path + "." + (nic.field.empty() ? "subnet" : nic.field + ".subnet");
      throw DomainError::notFound(
          field + ": subnet " + nic.vpc + "/" + nic.subnet + " is not in lab " + doc.name, field);
    }
    r.instance.lab = doc.name;
    doc.instances.push_back({std::move(r), path});
  }
}

// A forward's target must be an object of the lab too: checked when the
// plan resolves it (lab_plan.cpp), as `with` does for a request.
void parseForwards(const json& body, LabDocument& doc, int64_t now) {
  const json& list = section(body, "port_forwards");
  Names names("port forward");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("port_forwards", i);
    PortForward f = parsedAt(path, [&] { return parsePortForward(list[i], now); });
    names.add(f.name, path);
    f.lab = doc.name;
    doc.forwards.push_back({std::move(f), path});
  }
}

// An impairment's target must be an object of the lab: checked when the
// plan resolves it (lab_plan.cpp).
void parseImpairments(const json& body, LabDocument& doc, int64_t now) {
  const json& list = section(body, "impairments");
  Names names("impairment");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("impairments", i);
    if (list[i].is_object() && !list[i].contains("name"))
      throw DomainError::invalid(path + ".name", "is required");
    Impairment imp = parsedAt(path, [&] { return parseImpairment(list[i], "", now); });
    names.add(imp.name, path);
    imp.lab = doc.name;
    doc.impairments.push_back({std::move(imp), path});
  }
}

// A flow log's target must be a VPC or subnet of the lab.
void parseFlowLogs(const json& body, LabDocument& doc, int64_t now) {
  const json& list = section(body, "flow_logs");
  Names names("flow log");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("flow_logs", i);
    if (list[i].is_object() && !list[i].contains("name"))
      throw DomainError::invalid(path + ".name", "is required");
    FlowLog f = parsedAt(path, [&] { return parseFlowLog(list[i], "", now); });
    names.add(f.name, path);
    const LabDocument::VpcEntry* vpc = doc.findVpc(f.vpc);
    bool subnetHere = vpc && (f.subnet.empty() ||
                              std::any_of(vpc->vpc.subnets.begin(), vpc->vpc.subnets.end(),
                                          [&](const Subnet& s) { return s.name == f.subnet; }));
    if (!subnetHere) {
      throw DomainError::notFound(
          path + ".target: \"" + f.target + "\" is not a VPC or subnet of the lab",
          path + ".target");
    }
    f.lab = doc.name;
    doc.flowLogs.push_back({std::move(f), path});
  }
}

// `expect:` is checked by `vpcctl lab verify`; its shape is checked here.
void checkExpectations(const json& body) {
  const json& list = section(body, "expect");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = at("expect", i);
    const json& e = list[i];
    parsedAt(path, [&] {
      requireObject(e, {"from", "to", "port", "proto", "reach", "description"});
      requireString(e, "from");
      requireString(e, "to");
      std::string proto = e.contains("proto") ? requireString(e, "proto") : "tcp";
      if (proto != "tcp" && proto != "udp" && proto != "icmp")
        throw DomainError::invalid("proto", "must be tcp, udp or icmp");
      if (e.contains("port")) {
        if (!e["port"].is_number_integer() || e["port"] < 1 || e["port"] > 65535)
          throw DomainError::invalid("port", "must be a port number (1-65535)");
      } else if (proto != "icmp" && e["to"].get<std::string>().rfind("forward/", 0) != 0) {
        throw DomainError::invalid("port", "is required for " + proto);  // a forward has its own
      }
      if (!e.contains("reach") || !e["reach"].is_boolean())
        throw DomainError::invalid("reach", "is required: true or false");
      return 0;
    });
  }
}

}  // namespace

const LabDocument::VpcEntry* LabDocument::findVpc(const std::string& vpc) const {
  for (const auto& v : vpcs) {
    if (v.vpc.name == vpc) return &v;
  }
  return nullptr;
}

LabDocument parseLabDocument(const json& body, const std::string& name, int64_t now) {
  requireObject(body, {"name", "description", "vpcs", "peerings", "policies", "instances",
                       "port_forwards", "impairments", "flow_logs", "expect"});
  LabDocument doc;
  if (body.contains("name")) {
    doc.name = requireString(body, "name");
    if (!name.empty() && doc.name != name)
      throw DomainError::invalid("name", "does not match the name in the URL (\"" + name + "\")");
  } else if (name.empty()) {
    throw DomainError::invalid("name", "is required");
  } else {
    doc.name = name;
  }
  requireLabel("name", doc.name);
  if (body.contains("description") && !body["description"].is_string())
    throw DomainError::invalid("description", "must be a string");
  doc.source = body;
  doc.source["name"] = doc.name;
  parseVpcs(body, doc);
  parsePeerings(body, doc, now);
  parsePolicies(body, doc, now);
  parseInstances(body, doc);
  parseForwards(body, doc, now);
  parseImpairments(body, doc, now);
  parseFlowLogs(body, doc, now);
  checkExpectations(body);
  return doc;
}

json toJson(const LabStep& step) {
  json out{{"action", step.action}, {"kind", step.kind}, {"name", step.name}};
  out["path"] = step.path.empty() ? json() : json(step.path);
  return out;
}

}  // namespace vpcd
