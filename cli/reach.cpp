// vpcctl reach FROM TO and vpcctl lab verify NAME: the model's answer, the
// probe's packets, whether they agree; exit status 0 reachable, 1
// unreachable, 2 model and packets disagree, 3 the question is wrong.
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"

namespace vpcctl {
namespace {

using nlohmann::json;

struct ReachArgs {
  std::string from, to, proto, source;  // proto "": tcp, or a port forward's own
  int port = 0;
  bool noProbe = false;
  std::string lab;
};
ReachArgs a;

std::string str(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "-" : v.dump();
}

void printAnswer(const json& r) {
  std::cout << r["from"]["ref"].get<std::string>() << " (" << str(r["source_address"]) << ") -> "
            << r["to"]["ref"].get<std::string>() << " (" << str(r["to"]["address"]) << ")"
            << " " << str(r["proto"]) << (r["port"].is_null() ? "" : "/" + str(r["port"])) << "\n"
            << "model: " << str(r["verdict"]) << "\n";
  for (const auto& h : r["path"])
    std::cout << "  " << (str(h["namespace"]).empty() ? "-" : str(h["namespace"])) << ": "
              << str(h["step"]) << " " << str(h["detail"]) << "\n";
  for (const auto& n : r["nat"])
    std::cout << "  nat in " << str(n["where"]) << ": " << str(n["kind"]) << " " << str(n["before"])
              << " -> " << str(n["after"]) << "\n";
  if (!r["blocked_by"].is_null())
    std::cout << "blocked by: " << str(r["blocked_by"]["kind"]) << ": "
              << str(r["blocked_by"]["message"]) << "\n";
  const json& p = r["probe"];
  if (p.contains("skipped")) {
    std::cout << "probe: skipped (" << str(p["skipped"]) << ")\n";
  } else {
    std::cout << "probe: " << str(p["outcome"]) << ", " << str(p["sent"]) << " sent, "
              << str(p["received"]) << " answered"
              << (p["rtt_ms"].is_null() ? "" : " in " + str(p["rtt_ms"]) + " ms")
              << (p["answered_by"] == "vpcd" ? " (vpcd listened at the destination)" : "") << "\n";
  }
  if (r.contains("counted") && !r["counted"].is_null()) {
    if (r["counted"].empty()) {
      std::cout << "counted by vpcd's rules: none\n";
    } else {
      for (const auto& c : r["counted"])
        std::cout << "counted by vpcd's rules in " << str(c["namespace"]) << ": "
                  << str(c["counter"]) << " +" << str(c["packets"]) << "\n";
    }
  }
  if (r["agree"] == false) {
    std::cout << "DISAGREE: " << str(r["disagreement"]["message"]) << "\n";
    for (const auto& c : r["disagreement"]["foreign_chains"])
      std::cout << "  other firewall: " << str(c) << "\n";
  }
}

// 4xx: the question itself is wrong.
bool ask(const Options& o, int& rc, const std::string& method, const std::string& target,
         const json* body, json& result) {
  Response r = vpcctl::call(o.socket, method, target, body);
  if (r.status >= 200 && r.status < 300) {
    result = r.body;
    return true;
  }
  const json& err = r.body.is_object() && r.body.contains("error") ? r.body["error"] : json();
  std::cerr << "error: " << (err.contains("message") ? str(err["message"]) : r.body.dump()) << " ("
            << r.status << ")\n";
  rc = r.status < 500 ? 3 : 1;
  return false;
}

void reach(const Options& o, int& rc) {
  json body{{"from", a.from}, {"to", a.to}, {"probe", !a.noProbe}};
  if (!a.proto.empty()) body["proto"] = a.proto;
  if (a.port) body["port"] = a.port;
  if (!a.source.empty()) body["source_address"] = a.source;
  json r;
  if (!ask(o, rc, "POST", "/v1/reachability", &body, r)) return;
  if (o.output == "json") {
    std::cout << r.dump(2) << "\n";
  } else {
    printAnswer(r);
  }
  rc = r["agree"] == false ? 2 : r["verdict"] == "reachable" ? 0 : 1;
}

void verify(const Options& o, int& rc) {
  json r;
  if (!ask(o, rc, "POST", "/v1/labs/" + a.lab + "/verify", nullptr, r)) return;
  if (o.output == "json") {
    std::cout << r.dump(2) << "\n";
  } else {
    json rows = json::array();
    for (const auto& e : r["expectations"]) {
      std::string why = e["blocked_by"].is_null() ? "" : str(e["blocked_by"]["message"]);
      if (!e["disagreement"].is_null()) why = str(e["disagreement"]["message"]);
      rows.push_back({{"from", e["from"]},
                      {"to", e["to"]},
                      {"port", str(e["proto"]) + (e["port"].is_null() ? "" : "/" + str(e["port"]))},
                      {"expected", e["expected"]},
                      {"model", e["model"]},
                      {"packets", e["packets"]},
                      {"verdict", e["holds"] == true ? "ok" : "FAIL"},
                      {"why", e["holds"] == true ? "" : why}});
    }
    printTable(std::cout, rows,
               {{"FROM", "from"},
                {"TO", "to"},
                {"PORT", "port"},
                {"EXPECTED", "expected"},
                {"MODEL", "model"},
                {"PACKETS", "packets"},
                {"VERDICT", "verdict"},
                {"BLOCKED BY / WHY", "why"}});
    std::cout << "lab " << a.lab << ": "
              << (r["ok"] == true ? "every expectation holds" : "some expectations do not hold")
              << "\n";
  }
  rc = r["ok"] == true ? 0 : 1;
}

}  // namespace

void addReachCommands(CLI::App& app, CLI::App& lab, Options& o, int& rc) {
  auto* cmd =
      app.add_subcommand("reach", "can FROM reach TO? the model's answer, proved with packets");
  cmd->add_option("from", a.from,
                  "vpc/subnet, instance or instance/ethN; to a port forward, a client's address")
      ->required();
  cmd->add_option("to", a.to, "the same kinds, an address, or forward/NAME (a port forward)")
      ->required();
  cmd->add_option("--port", a.port, "destination port (tcp, udp; a forward's listen port)");
  cmd->add_option("--proto", a.proto, "tcp (the default), udp or icmp")
      ->check(CLI::IsMember({"tcp", "udp", "icmp"}));
  cmd->add_option("--source-address", a.source, "send from this address (anti-spoofing checks)");
  cmd->add_flag("--no-probe", a.noProbe, "answer from the model alone, send no packet");
  cmd->callback([&o, &rc] { reach(o, rc); });
  auto* v = lab.add_subcommand("verify", "check every expect: entry of a lab, model and packets");
  v->add_option("name", a.lab)->required();
  v->callback([&o, &rc] { verify(o, rc); });
}

}  // namespace vpcctl
