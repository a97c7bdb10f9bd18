// vpcctl flow-log set|enable|disable|list|show|delete: flow logs, and
// vpcctl flow-logs VPC [--follow]: their records (docs/operations.md).
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/output.h"

namespace vpcctl {

using nlohmann::json;

namespace {

struct FlowLogArgs {
  std::string name, target, vpc;
  int aggregation = 60;
  bool disabled = false, follow = false;
  int tail = 20;
};

json row(const json& f) {
  json r = f;
  r["state"] = f.value("enabled", false) ? "on" : "off";
  return r;
}

void printFlowLog(const json& f) {
  printFields(std::cout, row(f),
              {{"NAME", "name"},
               {"TARGET", "target"},
               {"AGGREGATION S", "aggregation_s"},
               {"STATE", "state"},
               {"RECORDS", "records"},
               {"FILE", "file"},
               {"CREATED", "created_at"}});
  printEnforcement(std::cout, f);
}

// The records, newest last; with --follow, then every new one as it is
// written, until interrupted.
int records(const Options& o, const FlowLogArgs& a) {
  std::string target = "/v1/vpcs/" + a.vpc + "/flow-logs?tail=" + std::to_string(a.tail);
  if (!a.follow) {
    json r;
    if (!request(o, "GET", target, nullptr, r)) return 1;
    if (o.output == "json") {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    for (const auto& line : r["records"]) std::cout << line.get<std::string>() << "\n";
    return 0;
  }
  Response r = stream(o.socket, target + "&follow=1", [](std::string_view piece) {
    std::cout << piece;
    std::cout.flush();
  });
  if (r.status >= 200 && r.status < 300) return 0;
  printError(r);
  return 1;
}

}  // namespace

void addFlowLogCommands(CLI::App& app, Options& o, int& rc) {
  auto a = std::make_shared<FlowLogArgs>();
  auto* cmd = app.add_subcommand("flow-log", "flow logs: which traffic of a VPC is recorded")
                  ->require_subcommand(1)
                  ->fallthrough();
  auto one = [a] { return "/v1/flow-logs/" + a->name; };
  auto* set = cmd->add_subcommand("set", "create or change a flow log (on unless --disabled)");
  set->add_option("name", a->name)->required();
  set->add_option("--target", a->target, "a VPC, or vpc/subnet")->required();
  set->add_option("--aggregation", a->aggregation, "seconds a record covers at most (1-600)")
      ->capture_default_str();
  set->add_flag("--disabled", a->disabled, "store it switched off");
  set->callback(action(
      o, rc, text("PUT"), one,
      [a] {
        json b{{"target", a->target}, {"aggregation_s", a->aggregation}};
        if (a->disabled) b["enabled"] = false;
        return b;
      },
      printFlowLog));
  for (bool on : {true, false}) {
    auto* sub = cmd->add_subcommand(on ? "enable" : "disable",
                                    on ? "switch a flow log on" : "switch a flow log off");
    sub->add_option("name", a->name)->required();
    sub->callback(toggle(o, rc, one, {"target", "aggregation_s"}, on, printFlowLog));
  }
  auto* show = cmd->add_subcommand("show", "show a flow log");
  show->add_option("name", a->name)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printFlowLog));
  auto* del = cmd->add_subcommand("delete", "delete a flow log (its records stay)");
  del->add_option("name", a->name)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr,
                       [a](const json&) { std::cout << "deleted flow log " << a->name << "\n"; }));
  cmd->add_subcommand("list", "list flow logs")
      ->callback(action(o, rc, text("GET"), text("/v1/flow-logs"), nullptr, [](const json& r) {
        json rows = json::array();
        for (const auto& f : r["items"]) rows.push_back(row(f));
        printTable(std::cout, rows,
                   {{"NAME", "name"},
                    {"TARGET", "target"},
                    {"AGGREGATION S", "aggregation_s"},
                    {"STATE", "state"}});
      }));

  auto* recs =
      app.add_subcommand("flow-logs", "a VPC's flow records (AWS format, version 2), newest last");
  recs->add_option("vpc", a->vpc)->required();
  recs->add_option("--tail", a->tail, "how many of the newest records (1-10000)")
      ->capture_default_str();
  recs->add_flag("--follow,-f", a->follow, "then print new records as they are written");
  recs->callback([&o, &rc, a] { rc = records(o, *a); });
}

}  // namespace vpcctl
