// vpcctl events: GET /v1/events followed, one line per event.
#include <iostream>
#include <string>

#include "cli/command.h"

namespace vpcctl {
namespace {

using nlohmann::json;

struct EventArgs {
  std::vector<std::string> types;
  std::string since;
  bool noFollow = false;
};

// "2026-12-02T21:40:01Z  subnet  create  prod/web  cidr=10.10.1.0/24 type=public"
std::string line(const json& e) {
  std::string out = e.value("time", "") + "  " + e.value("type", "") + "  " +
                    e.value("action", "") + "  " + e.value("name", "");
  auto details = e.find("details");
  if (details == e.end() || !details->is_object()) return out;
  for (const auto& [k, v] : details->items())
    out += "  " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

int follow(const Options& o, const EventArgs& a) {
  std::string target = "/v1/events?follow=" + std::string(a.noFollow ? "0" : "1");
  if (!a.types.empty()) {
    target += "&type=";
    for (size_t i = 0; i < a.types.size(); ++i) target += (i ? "," : "") + a.types[i];
  }
  if (!a.since.empty()) target += "&since=" + a.since;
  bool raw = o.output == "json";
  std::string pending;
  Response r = stream(o.socket, target, [&](std::string_view piece) {
    pending.append(piece);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::string text = pending.substr(0, nl);
      if (raw) {
        std::cout << text << "\n";
      } else {
        json e = json::parse(text, nullptr, false);
        std::cout << (e.is_object() ? line(e) : text) << "\n";
      }
      std::cout.flush();
    }
  });
  if (r.status >= 200 && r.status < 300) return 0;
  printError(r);
  return 1;
}

}  // namespace

void addEventCommands(CLI::App& app, Options& o, int& rc) {
  auto a = std::make_shared<EventArgs>();
  auto* cmd = app.add_subcommand(
      "events", "what happens, as it happens: changes, drift repairs, errors, uplink moves");
  cmd->add_option("--type", a->types,
                  "only these types (vpc, subnet, peering, policy, instance, lab, port_forward, "
                  "impairment, flow_log, drift, "
                  "reconcile, uplink); repeatable");
  cmd->add_option("--since", a->since, "replay the kept events from this time (unix seconds)");
  cmd->add_flag("--no-follow", a->noFollow, "end after the replay instead of following");
  cmd->callback([&o, &rc, a] { rc = follow(o, *a); });
}

}  // namespace vpcctl
