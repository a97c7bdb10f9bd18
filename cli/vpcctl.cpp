// vpcctl: the command line for vpcd's API.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"

namespace {

using nlohmann::json;
using vpcctl::action;
using vpcctl::Column;
using vpcctl::Options;
using vpcctl::text;

const std::vector<Column> kVpcColumns{{"NAME", "name"},
                                      {"CIDR", "cidr"},
                                      {"MTU", "mtu"},
                                      {"SUBNETS", "subnets"},
                                      {"ROUTER NAMESPACE", "router_namespace"}};
const std::vector<Column> kSubnetColumns{{"NAME", "name"},       {"CIDR", "cidr"},
                                         {"TYPE", "type"},       {"GATEWAY", "gateway"},
                                         {"ADDRESS", "address"}, {"NAMESPACE", "namespace"}};

void printVpc(const json& v) {
  vpcctl::printFields(std::cout, v,
                      {{"NAME", "name"},
                       {"CIDR", "cidr"},
                       {"MTU", "mtu"},
                       {"ROUTER NAMESPACE", "router_namespace"}});
  vpcctl::printEnforcement(std::cout, v);
  if (v.contains("transit")) {
    std::cout << "transit:          host " << vpcctl::cell(v["transit"], "host") << ", router "
              << vpcctl::cell(v["transit"], "router") << "\n";
  }
  std::cout << "subnets:\n";
  vpcctl::printTable(std::cout, v.value("subnets", json::array()), kSubnetColumns);
}

void printSubnet(const json& s) {
  auto fields = kSubnetColumns;
  fields.push_back({"VPC", "vpc"});
  vpcctl::printFields(std::cout, s, fields);
  vpcctl::printEnforcement(std::cout, s);
  vpcctl::printImpairments(std::cout, s);
}

void printPlan(const json& p) {
  for (const auto& a : p["actions"]) std::cout << a.get<std::string>() << "\n";
  for (const auto& c : p["conflicts"])
    std::cout << "! namespace " << c.get<std::string>() << " is not vpcd's\n";
  if (p["actions"].empty() && p["conflicts"].empty()) std::cout << "converged: nothing to do\n";
}

void printStatus(const json& s) {
  // "uplink: wlan0 (following the default route, since ...)", or none.
  std::string uplink = s.value("uplink", std::string());
  std::cout << "uplink: " << (uplink.empty() ? "none (no default route)" : uplink)
            << (s.value("uplink_pinned", false) ? " (pinned)"
                                                : " (following the default route, since " +
                                                      vpcctl::cell(s, "uplink_since") + ")")
            << "   transit pool: " << vpcctl::cell(s, "transit_pool")
            << "   kernel mutations since start: " << vpcctl::cell(s, "kernel_mutations") << "\n";
  vpcctl::printTable(std::cout, s["vpcs"],
                     {{"VPC", "name"},
                      {"LAST RECONCILE", "last_reconcile"},
                      {"MS", "last_duration_ms"},
                      {"CHANGES", "last_changes"},
                      {"ERROR", "last_error"}});
  // Held back at start-up: their kernel objects are left as they are.
  for (const auto& d : s.value("damaged_state_files", json::array()))
    std::cout << "damaged state file: " << vpcctl::cell(d, "error") << "\n";
  if (!s.value("held_everything", std::string()).empty())
    std::cout << "holding every object: " << vpcctl::cell(s, "held_everything") << "\n";
  for (const auto& h : s.value("held", json::array())) {
    std::cout << "held " << vpcctl::cell(h, "kind") << " " << vpcctl::cell(h, "name") << ": "
              << vpcctl::cell(h, "reason") << "\n";
  }
  // Another firewall of the host that stops VPC egress, and its fix.
  for (const auto& f : s.value("forward_blocker_fixes", json::array())) {
    std::cout << "forwarded traffic is dropped by " << vpcctl::cell(f, "blocker")
              << "\n  fix: " << vpcctl::cell(f, "fix") << "\n";
  }
}

// The values the commands' arguments are parsed into.
struct Args {
  std::string vpc, subnet, cidr, type = "private";
  int mtu = 0;
  std::string peering, peerVpc;
  std::string policy, file;
  std::vector<std::string> allow;  // VPC=CIDR
  int expiresIn = 0;
};

const std::vector<Column> kPeeringColumns{{"NAME", "name"},          {"VPC", "vpc"},
                                          {"PEER VPC", "peer_vpc"},  {"STATE", "state"},
                                          {"CREATED", "created_at"}, {"EXPIRES", "expires_at"}};

void printPeering(const json& p) {
  vpcctl::printFields(std::cout, p, kPeeringColumns);
  vpcctl::printEnforcement(std::cout, p);
  for (const auto& [side, list] : p["allowed_cidrs"].items()) {
    std::string cidrs;
    for (const auto& c : list) cidrs += (cidrs.empty() ? "" : ", ") + c.get<std::string>();
    std::cout << "allowed " << side << ": " << cidrs << "\n";
  }
  if (p.contains("link")) {
    for (const auto& [side, end] : p["link"].items()) {
      std::cout << "link in " << side << ": " << end["interface"].get<std::string>() << " "
                << end["address"].get<std::string>() << "\n";
    }
  }
}

// --allow VPC=CIDR, repeated: {"VPC": ["CIDR", ...]}
json allowedCidrs(const std::vector<std::string>& allow) {
  json out = json::object();
  for (const auto& a : allow) {
    size_t eq = a.find('=');
    if (eq == std::string::npos)
      throw CLI::ValidationError("--allow", "expects VPC=CIDR, got " + a);
    out[a.substr(0, eq)].push_back(a.substr(eq + 1));
  }
  return out;
}

void addVpcCommands(CLI::App& app, Options& o, int& rc, Args& a) {
  auto* cmd = app.add_subcommand("vpc", "VPCs")->require_subcommand(1)->fallthrough();
  auto* create = cmd->add_subcommand("create", "create a VPC");
  create->add_option("name", a.vpc)->required();
  create->add_option("--cidr", a.cidr, "IPv4 network, /8 to /28")->required();
  create->add_option("--mtu", a.mtu, "MTU of every link of the VPC (default 1500)");
  create->callback(action(
      o, rc, text("POST"), text("/v1/vpcs"),
      [&a] {
        json b{{"name", a.vpc}, {"cidr", a.cidr}};
        if (a.mtu) b["mtu"] = a.mtu;
        return b;
      },
      printVpc));
  cmd->add_subcommand("list", "list VPCs")
      ->callback(action(o, rc, text("GET"), text("/v1/vpcs"), nullptr, [](const json& r) {
        vpcctl::printTable(std::cout, r["items"], kVpcColumns);
      }));
  auto* show = cmd->add_subcommand("show", "show a VPC");
  show->add_option("name", a.vpc)->required();
  show->callback(action(
      o, rc, text("GET"), [&a] { return "/v1/vpcs/" + a.vpc; }, nullptr, printVpc));
  auto* del = cmd->add_subcommand("delete", "delete a VPC with its subnets");
  del->add_option("name", a.vpc)->required();
  del->callback(action(
      o, rc, text("DELETE"), [&a] { return "/v1/vpcs/" + a.vpc; }, nullptr,
      [&a](const json&) { std::cout << "deleted vpc " << a.vpc << "\n"; }));
}

void addSubnetCommands(CLI::App& app, Options& o, int& rc, Args& a) {
  auto* cmd =
      app.add_subcommand("subnet", "subnets of a VPC")->require_subcommand(1)->fallthrough();
  auto path = [&a] { return "/v1/vpcs/" + a.vpc + "/subnets"; };
  auto* create = cmd->add_subcommand("create", "create a subnet");
  create->add_option("vpc", a.vpc)->required();
  create->add_option("name", a.subnet)->required();
  create->add_option("--cidr", a.cidr, "IPv4 network inside the VPC, /8 to /29")->required();
  auto* pub = create->add_flag_callback(
      "--public", [&a] { a.type = "public"; }, "reaches the internet through NAT");
  auto* priv = create->add_flag_callback(
      "--private", [&a] { a.type = "private"; }, "no internet (default)");
  pub->excludes(priv);
  create->callback(action(
      o, rc, text("POST"), path,
      [&a] {
        return json{{"name", a.subnet}, {"cidr", a.cidr}, {"type", a.type}};
      },
      printSubnet));
  auto* list = cmd->add_subcommand("list", "list the subnets of a VPC");
  list->add_option("vpc", a.vpc)->required();
  list->callback(action(o, rc, text("GET"), path, nullptr, [](const json& r) {
    vpcctl::printTable(std::cout, r["items"], kSubnetColumns);
  }));
  auto one = [&a, path] { return path() + "/" + a.subnet; };
  auto* show = cmd->add_subcommand("show", "show a subnet");
  show->add_option("vpc", a.vpc)->required();
  show->add_option("name", a.subnet)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printSubnet));
  auto* del = cmd->add_subcommand("delete", "delete a subnet");
  del->add_option("vpc", a.vpc)->required();
  del->add_option("name", a.subnet)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr, [&a](const json&) {
    std::cout << "deleted subnet " << a.vpc << "/" << a.subnet << "\n";
  }));
}

void addPeeringCommands(CLI::App& app, Options& o, int& rc, Args& a) {
  auto* cmd =
      app.add_subcommand("peering", "peerings between VPCs")->require_subcommand(1)->fallthrough();
  auto one = [&a] { return "/v1/peerings/" + a.peering; };
  auto* request = cmd->add_subcommand("request", "request a peering (pending until accepted)");
  request->add_option("name", a.peering)->required();
  request->add_option("--vpc", a.vpc, "the requesting VPC")->required();
  request->add_option("--peer-vpc", a.peerVpc, "the VPC asked to accept")->required();
  request->add_option("--allow", a.allow,
                      "VPC=CIDR the other side may reach (repeat; default: whole VPC)");
  request->add_option("--expires-in", a.expiresIn, "seconds before a pending request expires");
  request->callback(action(
      o, rc, text("POST"), text("/v1/peerings"),
      [&a] {
        json b{{"name", a.peering}, {"vpc", a.vpc}, {"peer_vpc", a.peerVpc}};
        if (!a.allow.empty()) b["allowed_cidrs"] = allowedCidrs(a.allow);
        if (a.expiresIn) b["expires_in_s"] = a.expiresIn;
        return b;
      },
      printPeering));
  for (const char* verb : {"accept", "reject"}) {
    auto* sub = cmd->add_subcommand(verb, std::string(verb) + " a pending peering");
    sub->add_option("name", a.peering)->required();
    std::string v = verb;
    sub->callback(action(
        o, rc, text("POST"), [one, v] { return one() + "/" + v; }, [] { return json::object(); },
        printPeering));
  }
  auto* show = cmd->add_subcommand("show", "show a peering");
  show->add_option("name", a.peering)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printPeering));
  auto* del = cmd->add_subcommand("delete", "delete a peering in any state");
  del->add_option("name", a.peering)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr, [&a](const json&) {
    std::cout << "deleted peering " << a.peering << "\n";
  }));
  cmd->add_subcommand("list", "list peerings")
      ->callback(action(o, rc, text("GET"), text("/v1/peerings"), nullptr, [](const json& r) {
        vpcctl::printTable(std::cout, r["items"], kPeeringColumns);
      }));
}

// The sections of a policy as shown (one section is flattened in the API).
json sectionsOf(const json& p) {
  return p.contains("sections") ? p["sections"] : json::array({p});
}

std::string joined(const json& list) {
  std::string out;
  for (const auto& v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out.empty() ? "-" : out;
}

json policyRow(const json& p) {
  json row = p;
  json targets = json::array();
  size_t rules = 0;
  for (const auto& s : sectionsOf(p)) {
    for (const auto& t : s["applies_to"]) targets.push_back(t);
    rules += s["ingress"].size() + s["egress"].size();
  }
  row["targets"] = joined(targets);
  row["rules"] = rules;
  return row;
}

void printPolicy(const json& p) {
  vpcctl::printFields(std::cout, policyRow(p),
                      {{"NAME", "name"},
                       {"FORMAT", "format"},
                       {"APPLIES TO", "targets"},
                       {"UPDATED", "updated_at"}});
  vpcctl::printEnforcement(std::cout, p);
  json rows = json::array();
  for (const auto& s : sectionsOf(p)) {
    for (const char* dir : {"ingress", "egress"}) {
      for (json r : s[dir]) {
        r["direction"] = dir;
        r["ports"] = joined(r.value("ports", json::array()));
        r["peers"] = joined(
            r.value(dir == std::string("ingress") ? "sources" : "destinations", json::array()));
        rows.push_back(r);
      }
      json d{{"direction", dir},
             {"priority", "default"},
             {"action", s["default_" + std::string(dir)]}};
      rows.push_back(d);
    }
  }
  vpcctl::printTable(std::cout, rows,
                     {{"DIRECTION", "direction"},
                      {"PRIORITY", "priority"},
                      {"ACTION", "action"},
                      {"PROTOCOL", "protocol"},
                      {"PORTS", "ports"},
                      {"PEERS", "peers"},
                      {"LOG", "log"},
                      {"DESCRIPTION", "description"}});
}

// vpcctl policy apply -f FILE: the document as written, in either format.
json readPolicyFile(const Args& a, std::string& name) {
  std::ifstream in(a.file);
  if (!in) throw std::runtime_error("cannot read " + a.file);
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {  // a parse error, or a number no type holds
    throw std::runtime_error(a.file + " is not valid JSON: " + e.what());
  }
  name = a.policy;
  if (name.empty() && doc.is_object() && doc.contains("name") && doc["name"].is_string())
    name = doc["name"].get<std::string>();
  if (name.empty()) {
    // A seed document carries no name: the file's, without .json.
    name = std::filesystem::path(a.file).stem().string();
  }
  return doc;
}

void addPolicyCommands(CLI::App& app, Options& o, int& rc, Args& a) {
  auto* cmd = app.add_subcommand("policy", "firewall policies on subnets")
                  ->require_subcommand(1)
                  ->fallthrough();
  auto one = [&a] { return "/v1/policies/" + a.policy; };
  auto* apply = cmd->add_subcommand("apply", "create or replace a policy from a JSON file");
  apply->add_option("-f,--file", a.file, "policy document (vpcd or seed format)")->required();
  apply->add_option("--name", a.policy, "policy name (default: the document's, or the file's)");
  // The body is built first (action() asks for it before the target), and
  // reading the file settles the name.
  apply->callback(action(
      o, rc, text("PUT"), one, [&a] { return readPolicyFile(a, a.policy); }, printPolicy));
  auto* show = cmd->add_subcommand("show", "show a policy and its rules");
  show->add_option("name", a.policy)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printPolicy));
  auto* del = cmd->add_subcommand("delete", "delete a policy (its subnets open up again)");
  del->add_option("name", a.policy)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr,
                       [&a](const json&) { std::cout << "deleted policy " << a.policy << "\n"; }));
  auto* stats = cmd->add_subcommand("stats", "packets and bytes per rule and per default");
  stats->add_option("name", a.policy)->required();
  stats->callback(action(
      o, rc, text("GET"), [one] { return one() + "/stats"; }, nullptr,
      [](const json& r) {
        vpcctl::printTable(std::cout, r["rules"],
                           {{"RULE", "rule"},
                            {"PRIORITY", "priority"},
                            {"ACTION", "action"},
                            {"PACKETS", "packets"},
                            {"BYTES", "bytes"}});
        std::cout << "\n";
        vpcctl::printTable(std::cout, r["defaults"],
                           {{"SUBNET", "subnet"},
                            {"DEFAULT", "direction"},
                            {"ACTION", "action"},
                            {"PACKETS", "packets"},
                            {"BYTES", "bytes"}});
      }));
  cmd->add_subcommand("list", "list policies")
      ->callback(action(o, rc, text("GET"), text("/v1/policies"), nullptr, [](const json& r) {
        json rows = json::array();
        for (const auto& p : r["items"]) rows.push_back(policyRow(p));
        vpcctl::printTable(std::cout, rows,
                           {{"NAME", "name"},
                            {"FORMAT", "format"},
                            {"APPLIES TO", "targets"},
                            {"RULES", "rules"}});
      }));
}

void addDaemonCommands(CLI::App& app, Options& o, int& rc) {
  app.add_subcommand("health", "check that vpcd answers")
      ->callback(action(o, rc, text("GET"), text("/v1/health"), nullptr, [](const json& r) {
        std::cout << r["status"].get<std::string>() << "\n";
      }));
  app.add_subcommand("status", "reconcile status per VPC")
      ->callback(action(o, rc, text("GET"), text("/v1/status"), nullptr, printStatus));
  app.add_subcommand("plan", "what a reconcile would change now")
      ->callback(action(o, rc, text("GET"), text("/v1/plan"), nullptr, printPlan));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  Args args;
  int rc = 0;
  CLI::App app{
      "vpcctl: drive vpcd (VPCs, subnets, NAT, peerings, policies, instances, port forwards, "
      "impairments, flow logs) "
      "through its API "
      "socket"};
  app.require_subcommand(1);
  // `vpcctl vpc show prod -o json`: global options may follow the subcommand.
  app.fallthrough();
  app.add_option("--socket", o.socket, "vpcd API socket")
      ->envname("VPCD_SOCKET")
      ->capture_default_str();
  app.add_option("-o,--output", o.output, "output format")->check(CLI::IsMember({"table", "json"}));
  addVpcCommands(app, o, rc, args);
  addSubnetCommands(app, o, rc, args);
  addPeeringCommands(app, o, rc, args);
  addPolicyCommands(app, o, rc, args);
  vpcctl::addForwardCommands(app, o, rc);
  vpcctl::addImpairCommands(app, o, rc);
  vpcctl::addFlowLogCommands(app, o, rc);
  // Everything after the first `--` is an instance's command, taken as it
  // stands: CLI11 would still read its `-x` words as vpcctl's own options.
  int ours = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      ours = i;
      break;
    }
  }
  vpcctl::addInstanceCommands(app, o, rc, {argv + std::min(ours + 1, argc), argv + argc});
  vpcctl::addReachCommands(app, *vpcctl::addLabCommands(app, o, rc), o, rc);
  addDaemonCommands(app, o, rc);
  vpcctl::addEventCommands(app, o, rc);
  try {
    app.parse(ours, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return rc;
}
