#include "lib/model/policy.h"

#include <charconv>
#include <set>

#include "lib/model/api_error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

using nlohmann::json;

std::string at(const std::string& path, const std::string& field) {
  return path.empty() ? field : path + "." + field;
}
std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void onlyFields(const json& obj, const std::string& path, const std::set<std::string>& allowed) {
  if (!obj.is_object()) throw ApiError::invalid(path, "must be a JSON object");
  for (const auto& [key, value] : obj.items()) {
    if (!allowed.count(key)) throw ApiError::invalid(at(path, key), "unknown field");
  }
}

const json* find(const json& obj, const std::string& field) {
  auto it = obj.find(field);
  return it == obj.end() ? nullptr : &*it;
}

std::string stringAt(const json& value, const std::string& path) {
  if (!value.is_string()) throw ApiError::invalid(path, "must be a string");
  return value.get<std::string>();
}

const json& listAt(const json& value, const std::string& path) {
  if (!value.is_array()) throw ApiError::invalid(path, "must be a list");
  return value;
}

PolicyAction actionAt(const json& value, const std::string& path) {
  std::string s = stringAt(value, path);
  if (s == "allow") return PolicyAction::Allow;
  if (s == "deny") return PolicyAction::Deny;
  throw ApiError::invalid(path, "\"" + s + "\" is not allow or deny");
}

// `any` and `*` are the seed format's words for every protocol or port.
bool isAny(const std::string& s) {
  return s == "any" || s == "*";
}

PolicyProtocol protocolAt(const json& value, const std::string& path) {
  std::string s = stringAt(value, path);
  if (s == "tcp") return PolicyProtocol::Tcp;
  if (s == "udp") return PolicyProtocol::Udp;
  if (s == "icmp") return PolicyProtocol::Icmp;
  if (s == "all" || isAny(s)) return PolicyProtocol::All;
  throw ApiError::invalid(path, "\"" + s + "\" is not tcp, udp, icmp or all");
}

std::optional<uint16_t> portNumber(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// "80", 80 or "8000-8100".
PortRange portRangeAt(const json& value, const std::string& path) {
  if (!value.is_number_integer() && !value.is_string())
    throw ApiError::invalid(path, "must be a port number or a range like \"8000-8100\"");
  std::string text =
      value.is_string() ? value.get<std::string>() : std::to_string(value.get<int64_t>());
  size_t dash = text.find('-');
  auto first = portNumber(std::string_view(text).substr(0, dash));
  auto last =
      dash == std::string::npos ? first : portNumber(std::string_view(text).substr(dash + 1));
  if (!first || !last || *last < *first)
    throw ApiError::invalid(path, "\"" + text + "\" is not a port or range");
  return {*first, *last};
}

// A CIDR, or a bare address meaning /32.
Cidr peerAt(const json& value, const std::string& path) {
  if (value.is_string() && value.get<std::string>().find('/') == std::string::npos)
    return parseNetwork(json(value.get<std::string>() + "/32"), path, 0, 32);
  return parseNetwork(value, path, 0, 32);
}

void checkPorts(const PolicyRule& r, const std::string& path) {
  if (r.protocol == PolicyProtocol::Icmp && !r.ports.empty())
    throw ApiError::invalid(path, "icmp has no ports; leave ports out");
}

PolicyRule parseRule(const json& obj, const std::string& path, Direction d) {
  const char* peersField = d == Direction::Ingress ? "sources" : "destinations";
  onlyFields(obj, path,
             {"priority", "action", "protocol", "ports", peersField, "description", "log"});
  PolicyRule r;
  const json* priority = find(obj, "priority");
  if (!priority) throw ApiError::invalid(at(path, "priority"), "is required");
  if (!priority->is_number_integer() || *priority < 0 || *priority > 65535)
    throw ApiError::invalid(at(path, "priority"), "must be an integer from 0 to 65535");
  r.priority = priority->get<int>();
  const json* action = find(obj, "action");
  if (!action) throw ApiError::invalid(at(path, "action"), "is required");
  r.action = actionAt(*action, at(path, "action"));
  if (const json* p = find(obj, "protocol")) r.protocol = protocolAt(*p, at(path, "protocol"));
  if (const json* ports = find(obj, "ports")) {
    const json& list = listAt(*ports, at(path, "ports"));
    for (size_t i = 0; i < list.size(); ++i)
      r.ports.push_back(portRangeAt(list[i], index(at(path, "ports"), i)));
    checkPorts(r, at(path, "ports"));
  }
  if (const json* peers = find(obj, peersField)) {
    const json& list = listAt(*peers, at(path, peersField));
    for (size_t i = 0; i < list.size(); ++i)
      r.peers.push_back(peerAt(list[i], index(at(path, peersField), i)));
  }
  if (const json* desc = find(obj, "description"))
    r.description = stringAt(*desc, at(path, "description"));
  if (const json* log = find(obj, "log")) {
    if (!log->is_boolean()) throw ApiError::invalid(at(path, "log"), "must be true or false");
    r.log = log->get<bool>();
  }
  return r;
}

std::vector<PolicyRule> parseRules(const json& obj, const std::string& path, Direction d,
                                   bool seed);

void checkTarget(const std::string& target, const std::string& path) {
  size_t slash = target.find('/');
  if (slash == std::string::npos || !isLabel(target.substr(0, slash)) ||
      !isLabel(target.substr(slash + 1))) {
    throw ApiError::invalid(path, "\"" + target + "\" is not of the form vpc/subnet");
  }
}

PolicySection parseSection(const json& obj, const std::string& path) {
  onlyFields(obj, path,
             {"name", "description", "applies_to", "default_ingress", "default_egress", "ingress",
              "egress"});
  PolicySection s;
  const json* targets = find(obj, "applies_to");
  if (!targets) throw ApiError::invalid(at(path, "applies_to"), "is required");
  const json& list = listAt(*targets, at(path, "applies_to"));
  if (list.empty())
    throw ApiError::invalid(at(path, "applies_to"), "must name at least one subnet");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(at(path, "applies_to"), i);
    s.appliesTo.push_back(stringAt(list[i], p));
    checkTarget(s.appliesTo.back(), p);
  }
  if (const json* d = find(obj, "default_ingress"))
    s.defaultIngress = actionAt(*d, at(path, "default_ingress"));
  if (const json* d = find(obj, "default_egress"))
    s.defaultEgress = actionAt(*d, at(path, "default_egress"));
  s.ingress = parseRules(obj, path, Direction::Ingress, false);
  s.egress = parseRules(obj, path, Direction::Egress, false);
  return s;
}

// The seed's rule: {"port": 80 | "any", "protocol": "tcp" | "any", "action",
// "source"/"destination"}; its position gives its priority.
PolicyRule parseSeedRule(const json& obj, const std::string& path, Direction d, size_t i) {
  const char* peerField = d == Direction::Ingress ? "source" : "destination";
  onlyFields(obj, path, {"port", "protocol", "action", peerField, "description"});
  PolicyRule r{.priority = static_cast<int>(i + 1)};
  const json* action = find(obj, "action");
  if (!action) throw ApiError::invalid(at(path, "action"), "is required");
  r.action = actionAt(*action, at(path, "action"));
  if (const json* p = find(obj, "protocol")) r.protocol = protocolAt(*p, at(path, "protocol"));
  if (const json* port = find(obj, "port")) {
    if (!(port->is_string() && isAny(port->get<std::string>())))
      r.ports.push_back(portRangeAt(*port, at(path, "port")));
    checkPorts(r, at(path, "port"));
  }
  if (const json* peer = find(obj, peerField)) {
    if (!(peer->is_string() && isAny(peer->get<std::string>())))
      r.peers.push_back(peerAt(*peer, at(path, peerField)));
  }
  if (const json* desc = find(obj, "description"))
    r.description = stringAt(*desc, at(path, "description"));
  return r;
}

std::vector<PolicyRule> parseRules(const json& obj, const std::string& path, Direction d,
                                   bool seed) {
  std::string field = toString(d);
  const json* rules = find(obj, field);
  if (!rules) return {};
  const json& list = listAt(*rules, at(path, field));
  std::vector<PolicyRule> out;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(at(path, field), i);
    out.push_back(seed ? parseSeedRule(list[i], p, d, i) : parseRule(list[i], p, d));
  }
  return out;
}

PolicySection parseSeedSection(const json& obj, const std::string& path) {
  onlyFields(obj, path, {"subnet", "ingress", "egress"});
  const json* subnet = find(obj, "subnet");
  if (!subnet) throw ApiError::invalid(at(path, "subnet"), "is required");
  PolicySection s;
  s.appliesTo.push_back(stringAt(*subnet, at(path, "subnet")));
  if (s.appliesTo[0].find('/') == std::string::npos || !Cidr::parse(s.appliesTo[0]))
    checkTarget(s.appliesTo[0], at(path, "subnet"));
  s.ingress = parseRules(obj, path, Direction::Ingress, true);
  s.egress = parseRules(obj, path, Direction::Egress, true);
  return s;
}

json ruleJson(const PolicyRule& r, Direction d) {
  json out = json::object();
  out["priority"] = r.priority;
  out["action"] = toString(r.action);
  out["protocol"] = toString(r.protocol);
  if (!r.ports.empty()) {
    json ports = json::array();
    for (const auto& p : r.ports) ports.push_back(toString(p));
    out["ports"] = ports;
  }
  if (!r.peers.empty()) {
    json peers = json::array();
    for (const auto& c : r.peers) peers.push_back(c.str());
    out[d == Direction::Ingress ? "sources" : "destinations"] = peers;
  }
  if (!r.description.empty()) out["description"] = r.description;
  if (r.log) out["log"] = true;
  return out;
}

json sectionJson(const PolicySection& s) {
  json out = json::object();
  out["applies_to"] = s.appliesTo;
  out["default_ingress"] = toString(s.defaultIngress);
  out["default_egress"] = toString(s.defaultEgress);
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    json rules = json::array();
    for (const auto& r : s.rules(d)) rules.push_back(ruleJson(r, d));
    out[toString(d)] = rules;
  }
  return out;
}

}  // namespace

std::string toString(PolicyAction a) {
  return a == PolicyAction::Allow ? "allow" : "deny";
}

std::string toString(PolicyProtocol p) {
  switch (p) {
    case PolicyProtocol::Tcp:
      return "tcp";
    case PolicyProtocol::Udp:
      return "udp";
    case PolicyProtocol::Icmp:
      return "icmp";
    default:
      return "all";
  }
}

std::string toString(Direction d) {
  return d == Direction::Ingress ? "ingress" : "egress";
}

std::string toString(const PortRange& r) {
  return r.first == r.last ? std::to_string(r.first)
                           : std::to_string(r.first) + "-" + std::to_string(r.last);
}

std::string Policy::rulePath(size_t section, Direction d, size_t i) const {
  std::string rule = index(toString(d), i);
  return sections.size() == 1 ? rule : index("sections", section) + "." + rule;
}

Policy parsePolicy(const std::string& name, const json& body, int64_t now) {
  requireLabel("name", name);
  Policy p{.name = name, .createdAt = now, .updatedAt = now};
  if (body.is_array()) {
    p.format = "seed";
    if (body.empty()) throw ApiError::invalid("", "a list of policies must not be empty");
    for (size_t i = 0; i < body.size(); ++i)
      p.sections.push_back(parseSeedSection(body[i], index("", i)));
    return p;
  }
  if (!body.is_object()) throw ApiError::invalid("", "request body must be a JSON object or list");
  if (const json* n = find(body, "name"); n && (!n->is_string() || *n != name))
    throw ApiError::invalid("name", "does not match the name in the URL (\"" + name + "\")");
  if (body.contains("subnet")) {
    p.format = "seed";
    p.sections.push_back(parseSeedSection(body, ""));
  } else if (const json* sections = find(body, "sections")) {
    p.format = "vpcd";
    onlyFields(body, "", {"name", "description", "sections"});
    const json& list = listAt(*sections, "sections");
    if (list.empty()) throw ApiError::invalid("sections", "must not be empty");
    for (size_t i = 0; i < list.size(); ++i)
      p.sections.push_back(parseSection(list[i], index("sections", i)));
  } else {
    p.format = "vpcd";
    p.sections.push_back(parseSection(body, ""));
  }
  return p;
}

json toJson(const Policy& p) {
  json out = json::object();
  out["name"] = p.name;
  out["format"] = p.format;
  if (p.sections.size() == 1) {
    out.update(sectionJson(p.sections[0]));
  } else {
    json sections = json::array();
    for (const auto& s : p.sections) sections.push_back(sectionJson(s));
    out["sections"] = sections;
  }
  out["created_at"] = isoTime(p.createdAt);
  out["updated_at"] = isoTime(p.updatedAt);
  return out;
}

json toState(const Policy& p) {
  json out = toJson(p);
  out["created_at"] = p.createdAt;
  out["updated_at"] = p.updatedAt;
  return out;
}

// The state holds the normalized vpcd format, which parses back unchanged.
Policy fromPolicyState(const json& state) {
  json doc = state;
  std::string format = doc.value("format", "vpcd");
  int64_t created = doc.value("created_at", int64_t{0}),
          updated = doc.value("updated_at", int64_t{0});
  for (const char* meta : {"format", "created_at", "updated_at"}) doc.erase(meta);
  Policy p = parsePolicy(doc.at("name").get<std::string>(), doc, created);
  p.format = format;
  p.updatedAt = updated;
  return p;
}

}  // namespace vpcd
