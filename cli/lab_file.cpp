#include "cli/lab_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace vpcctl {

using nlohmann::json;

namespace {

const std::regex kInteger("[-+]?[0-9]+");
const std::regex kFloat("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
const std::regex kBool("true|True|TRUE|false|False|FALSE");
const std::regex kNull("null|Null|NULL|~|");

// YAML 1.2's core schema for plain scalars; a quoted scalar is a string.
json scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (std::regex_match(s, kNull)) return nullptr;
  if (std::regex_match(s, kBool)) return s[0] == 't' || s[0] == 'T';
  if (std::regex_match(s, kInteger)) {
    try {
      return std::stoll(s);
    } catch (const std::out_of_range&) {
      return s;
    }
  }
  if (std::regex_match(s, kFloat)) return std::stod(s);
  return s;
}

json fromYaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return scalar(n);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(fromYaml(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = fromYaml(kv.second);
      return out;
    }
    default:
      return nullptr;
  }
}

bool looksJson(const std::string& path, const std::string& text) {
  if (path.size() > 5 && path.substr(path.size() - 5) == ".json") return true;
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{';
}

void emit(YAML::Emitter& out, const json& v) {
  if (v.is_object()) {
    // The order a person writes a lab in: its name and the sections in
    // dependency order first, then the rest alphabetically.
    static const std::vector<std::string> first{"name",      "description",  "cidr",     "mtu",
                                                "type",      "vpcs",         "peerings", "policies",
                                                "instances", "port_forwards"};
    std::vector<std::string> keys;
    for (const auto& k : first)
      if (v.contains(k)) keys.push_back(k);
    for (const auto& [key, value] : v.items())
      if (std::find(first.begin(), first.end(), key) == first.end()) keys.push_back(key);
    out << YAML::BeginMap;
    for (const auto& key : keys) {
      out << YAML::Key << key << YAML::Value;
      emit(out, v[key]);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    bool flat = std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_primitive(); });
    out << (flat ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
    for (const auto& item : v) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    bool retyped = std::regex_match(s, kNull) || std::regex_match(s, kBool) ||
                   std::regex_match(s, kInteger) || std::regex_match(s, kFloat);
    if (retyped) out << YAML::DoubleQuoted;
    out << s;
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();  // numbers and booleans as JSON writes them
  }
}

}  // namespace

LabFile readLabFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  LabFile f{path, buf.str(), nullptr};
  if (looksJson(path, f.text)) {
    try {
      f.document = json::parse(f.text);
    } catch (const json::exception& e) {  // a parse error, or a number no type holds
      throw std::runtime_error(path + ": not valid JSON: " + e.what());
    }
    return f;
  }
  try {
    f.document = fromYaml(YAML::Load(f.text));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                             std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
  return f;
}

std::optional<std::string> locate(const LabFile& file, const std::string& fieldPath) {
  if (looksJson(file.path, file.text) || fieldPath.empty()) return std::nullopt;
  try {
    YAML::Node node = YAML::Load(file.text);
    std::regex part("([^.\\[]+)|\\[([0-9]+)\\]");
    for (std::sregex_iterator it(fieldPath.begin(), fieldPath.end(), part), end; it != end; ++it) {
      const YAML::Node& here = node;  // const: a lookup must not add the key
      YAML::Node next = (*it)[1].matched ? here[(*it)[1].str()] : here[std::stoul((*it)[2].str())];
      if (!next.IsDefined()) break;  // the deepest part the file has
      node.reset(next);              // (operator= would assign to the node itself)
    }
    YAML::Mark m = node.Mark();
    if (m.line < 0) return std::nullopt;
    return file.path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

std::string toYaml(const json& document) {
  YAML::Emitter out;
  emit(out, document);
  return std::string(out.c_str()) + "\n";
}

}  // namespace vpcctl
