#include "lib/model/policy.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

using nlohmann::json;

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Where a value sits in the document. Turned into text ("ingress[1].ports[0]")
// only for an error: a policy of 10,000 rules has ~60,000 fields to check.
struct Path {
  const Path* parent = nullptr;
  std::string_view field;  // empty: an index into the parent list
  size_t i = 0;

  Path operator/(std::string_view f) const { return {this, f}; }
  Path operator[](size_t n) const { return {this, {}, n}; }
  std::string str() const {
    if (!parent) return std::string(field);
    std::string base = parent->str();
    if (field.empty()) return index(base, i);
    return base.empty() ? std::string(field) : base + "." + std::string(field);
  }
};

[[noreturn]] void invalid(const Path& path, const std::string& message) {
  throw DomainError::invalid(path.str(), message);
}

void onlyFields(const json& obj, const Path& path,
                std::initializer_list<std::string_view> allowed) {
  if (!obj.is_object()) invalid(path, "must be a JSON object");
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      invalid(path / key, "unknown field");
  }
}

const json* find(const json& obj, std::string_view field) {
  auto it = obj.find(field);
  return it == obj.end() ? nullptr : &*it;
}

const std::string& stringAt(const json& value, const Path& path) {
  if (!value.is_string()) invalid(path, "must be a string");
  return value.get_ref<const std::string&>();
}

const json& listAt(const json& value, const Path& path) {
  if (!value.is_array()) invalid(path, "must be a list");
  return value;
}

PolicyAction actionAt(const json& value, const Path& path) {
  const std::string& s = stringAt(value, path);
  if (s == "allow") return PolicyAction::Allow;
  if (s == "deny") return PolicyAction::Deny;
  invalid(path, "\"" + s + "\" is not allow or deny");
}

// `any` and `*` are the seed format's words for every protocol or port.
bool isAny(const std::string& s) {
  return s == "any" || s == "*";
}

PolicyProtocol protocolAt(const json& value, const Path& path) {
  const std::string& s = stringAt(value, path);
  if (s == "tcp") return PolicyProtocol::Tcp;
  if (s == "udp") return PolicyProtocol::Udp;
  if (s == "icmp") return PolicyProtocol::Icmp;
  if (s == "all" || isAny(s)) return PolicyProtocol::All;
  invalid(path, "\"" + s + "\" is not tcp, udp, icmp or all");
}

std::optional<uint16_t> portNumber(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// "80", 80 or "8000-8100".
PortRange portRangeAt(const json& value, const Path& path) {
  if (!value.is_number_integer() && !value.is_string())
    invalid(path, "must be a port number or a range like \"8000-8100\"");
  std::string text =
      value.is_string() ? value.get<std::string>() : std::to_string(value.get<int64_t>());
  size_t dash = text.find('-');
  auto first = portNumber(std::string_view(text).substr(0, dash));
  auto last =
      dash == std::string::npos ? first : portNumber(std::string_view(text).substr(dash + 1));
  if (!first || !last || *last < *first) invalid(path, "\"" + text + "\" is not a port or range");
  return {*first, *last};
}

// A CIDR, or a bare address meaning /32.
Cidr peerAt(const json& value, const Path& path) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    bool bare = text.find('/') == std::string::npos;
    auto cidr = Cidr::parse(bare ? text + "/32" : text);
    if (cidr && cidr->isNetwork()) return *cidr;
    if (bare) return parseNetwork(json(text + "/32"), path.str(), 0, 32);
  }
  return parseNetwork(value, path.str(), 0, 32);  // throws, naming what is wrong
}

void checkPorts(const PolicyRule& r, const Path& path) {
  if (r.protocol == PolicyProtocol::Icmp && !r.ports.empty())
    invalid(path, "icmp has no ports; leave ports out");
}

PolicyRule parseRule(const json& obj, const Path& path, Direction d) {
  const char* peersField = d == Direction::Ingress ? "sources" : "destinations";
  onlyFields(obj, path,
             {"priority", "action", "protocol", "ports", peersField, "description", "log"});
  PolicyRule r;
  const json* priority = find(obj, "priority");
  if (!priority) invalid(path / "priority", "is required");
  if (!priority->is_number_integer() || *priority < 0 || *priority > 65535)
    invalid(path / "priority", "must be an integer from 0 to 65535");
  r.priority = priority->get<int>();
  const json* action = find(obj, "action");
  if (!action) invalid(path / "action", "is required");
  r.action = actionAt(*action, path / "action");
  if (const json* p = find(obj, "protocol")) r.protocol = protocolAt(*p, path / "protocol");
  if (const json* ports = find(obj, "ports")) {
    const Path at = path / "ports";
    const json& list = listAt(*ports, at);
    for (size_t i = 0; i < list.size(); ++i) r.ports.push_back(portRangeAt(list[i], at[i]));
    checkPorts(r, at);
  }
  if (const json* peers = find(obj, peersField)) {
    const Path at = path / peersField;
    const json& list = listAt(*peers, at);
    for (size_t i = 0; i < list.size(); ++i) r.peers.push_back(peerAt(list[i], at[i]));
  }
  if (const json* desc = find(obj, "description"))
    r.description = stringAt(*desc, path / "description");
  if (const json* log = find(obj, "log")) {
    if (!log->is_boolean()) invalid(path / "log", "must be true or false");
    r.log = log->get<bool>();
  }
  return r;
}

std::vector<PolicyRule> parseRules(const json& obj, const Path& path, Direction d, bool seed);

void checkTarget(const std::string& target, const Path& path) {
  size_t slash = target.find('/');
  if (slash == std::string::npos || !isLabel(target.substr(0, slash)) ||
      !isLabel(target.substr(slash + 1))) {
    invalid(path, "\"" + target + "\" is not of the form vpc/subnet");
  }
}

PolicySection parseSection(const json& obj, const Path& path) {
  onlyFields(obj, path,
             {"name", "description", "applies_to", "default_ingress", "default_egress", "ingress",
              "egress"});
  PolicySection s;
  const Path at = path / "applies_to";
  const json* targets = find(obj, "applies_to");
  if (!targets) invalid(at, "is required");
  const json& list = listAt(*targets, at);
  if (list.empty()) invalid(at, "must name at least one subnet");
  for (size_t i = 0; i < list.size(); ++i) {
    s.appliesTo.push_back(stringAt(list[i], at[i]));
    checkTarget(s.appliesTo.back(), at[i]);
  }
  if (const json* d = find(obj, "default_ingress"))
    s.defaultIngress = actionAt(*d, path / "default_ingress");
  if (const json* d = find(obj, "default_egress"))
    s.defaultEgress = actionAt(*d, path / "default_egress");
  s.ingress = parseRules(obj, path, Direction::Ingress, false);
  s.egress = parseRules(obj, path, Direction::Egress, false);
  return s;
}

// The seed's rule: {"port": 80 | "any", "protocol": "tcp" | "any", "action",
// "source"/"destination"}; its position gives its priority.
PolicyRule parseSeedRule(const json& obj, const Path& path, Direction d, size_t i) {
  const char* peerField = d == Direction::Ingress ? "source" : "destination";
  onlyFields(obj, path, {"port", "protocol", "action", peerField, "description"});
  PolicyRule r{.priority = static_cast<int>(i + 1)};
  const json* action = find(obj, "action");
  if (!action) invalid(path / "action", "is required");
  r.action = actionAt(*action, path / "action");
  if (const json* p = find(obj, "protocol")) r.protocol = protocolAt(*p, path / "protocol");
  if (const json* port = find(obj, "port")) {
    if (!(port->is_string() && isAny(port->get<std::string>())))
      r.ports.push_back(portRangeAt(*port, path / "port"));
    checkPorts(r, path / "port");
  }
  if (const json* peer = find(obj, peerField)) {
    if (!(peer->is_string() && isAny(peer->get<std::string>())))
      r.peers.push_back(peerAt(*peer, path / peerField));
  }
  if (const json* desc = find(obj, "description"))
    r.description = stringAt(*desc, path / "description");
  return r;
}

std::vector<PolicyRule> parseRules(const json& obj, const Path& path, Direction d, bool seed) {
  std::string field = toString(d);
  const json* rules = find(obj, field);
  if (!rules) return {};
  const Path at = path / field;
  const json& list = listAt(*rules, at);
  std::vector<PolicyRule> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i)
    out.push_back(seed ? parseSeedRule(list[i], at[i], d, i) : parseRule(list[i], at[i], d));
  return out;
}

PolicySection parseSeedSection(const json& obj, const Path& path) {
  onlyFields(obj, path, {"subnet", "ingress", "egress"});
  const json* subnet = find(obj, "subnet");
  if (!subnet) invalid(path / "subnet", "is required");
  PolicySection s;
  s.appliesTo.push_back(stringAt(*subnet, path / "subnet"));
  if (s.appliesTo[0].find('/') == std::string::npos || !Cidr::parse(s.appliesTo[0]))
    checkTarget(s.appliesTo[0], path / "subnet");
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
    out["ports"] = std::move(ports);
  }
  if (!r.peers.empty()) {
    json peers = json::array();
    for (const auto& c : r.peers) peers.push_back(c.str());
    out[d == Direction::Ingress ? "sources" : "destinations"] = std::move(peers);
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
    out[toString(d)] = std::move(rules);
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
    if (body.empty()) throw DomainError::invalid("", "a list of policies must not be empty");
    for (size_t i = 0; i < body.size(); ++i)
      p.sections.push_back(parseSeedSection(body[i], Path{}[i]));
    return p;
  }
  if (!body.is_object())
    throw DomainError::invalid("", "request body must be a JSON object or list");
  if (const json* n = find(body, "name"); n && (!n->is_string() || *n != name))
    throw DomainError::invalid("name", "does not match the name in the URL (\"" + name + "\")");
  if (body.contains("subnet")) {
    p.format = "seed";
    p.sections.push_back(parseSeedSection(body, Path{}));
  } else if (const json* sections = find(body, "sections")) {
    p.format = "vpcd";
    const Path root, at = root / "sections";
    onlyFields(body, root, {"name", "description", "sections"});
    const json& list = listAt(*sections, at);
    if (list.empty()) invalid(at, "must not be empty");
    for (size_t i = 0; i < list.size(); ++i) p.sections.push_back(parseSection(list[i], at[i]));
  } else {
    p.format = "vpcd";
    p.sections.push_back(parseSection(body, Path{}));
  }
  return p;
}

json toJson(const Policy& p) {
  json out = json::object();
  out["name"] = p.name;
  out["format"] = p.format;
  if (p.sections.size() == 1) {
    json section = sectionJson(p.sections[0]);
    for (auto& [key, value] : section.items()) out[key] = std::move(value);
  } else {
    json sections = json::array();
    for (const auto& s : p.sections) sections.push_back(sectionJson(s));
    out["sections"] = std::move(sections);
  }
  out["created_at"] = isoTime(p.createdAt);
  out["updated_at"] = isoTime(p.updatedAt);
  out["lab"] = labJson(p.lab);
  return out;
}

json toState(const Policy& p) {
  json out = toJson(p);
  out["created_at"] = p.createdAt;
  out["updated_at"] = p.updatedAt;
  if (p.lab.empty()) out.erase("lab");
  return out;
}

// The state holds the normalized vpcd format, which parses back unchanged.
Policy fromPolicyState(const json& state) {
  json doc = state;
  std::string format = doc.value("format", "vpcd");
  int64_t created = integerOr<int64_t>(doc, "created_at", 0),
          updated = integerOr<int64_t>(doc, "updated_at", 0);
  std::string lab = labFrom(doc);
  for (const char* meta : {"format", "created_at", "updated_at", "lab"}) doc.erase(meta);
  Policy p = parsePolicy(doc.at("name").get<std::string>(), doc, created);
  p.format = format;
  p.lab = lab;
  p.updatedAt = updated;
  return p;
}

}  // namespace vpcd
