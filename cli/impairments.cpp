// vpcctl impair set|enable|disable|list|show|delete: impairments
// (docs/impairments.md).
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/output.h"

namespace vpcctl {

using nlohmann::json;

namespace {

// The fields a PUT takes; what the API shows besides (times, where it
// resolved to) is left out when an impairment is sent back changed.
const std::vector<std::string> kRequestFields{"name",
                                              "target",
                                              "direction",
                                              "delay_ms",
                                              "jitter_ms",
                                              "loss_percent",
                                              "duplicate_percent",
                                              "corrupt_percent",
                                              "reorder_percent",
                                              "rate_kbit",
                                              "down",
                                              "enabled",
                                              "duration_s"};

// What it does, in tc's words: "delay 50ms loss 20%", "down".
std::string effect(const json& i) {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : " ") + part; };
  auto num = [&](const char* f) { return i.value(f, json(0)).dump(); };
  if (i.value("down", false)) add("down");
  if (i.value("delay_ms", 0.0) > 0)
    add("delay " + num("delay_ms") + "ms" +
        (i.value("jitter_ms", 0.0) > 0 ? " ±" + num("jitter_ms") + "ms" : ""));
  for (const auto& [field, word] : {std::pair{"loss_percent", "loss"},
                                    {"duplicate_percent", "duplicate"},
                                    {"corrupt_percent", "corrupt"},
                                    {"reorder_percent", "reorder"}}) {
    if (i.value(field, 0.0) > 0) add(std::string(word) + " " + num(field) + "%");
  }
  if (i.value("rate_kbit", 0) > 0) add("rate " + num("rate_kbit") + "kbit");
  return out;
}

json row(const json& i) {
  json r = i;
  r["effect"] = effect(i);
  r["state"] = !i.value("enabled", false)    ? "disabled"
               : i.value("in_effect", false) ? "on"
                                             : "waiting";
  r["ends"] = i.value("ends_at", json()).is_string() ? i["ends_at"] : json("-");
  return r;
}

const std::vector<Column> kColumns{{"NAME", "name"},           {"TARGET", "target"},
                                   {"DIRECTION", "direction"}, {"EFFECT", "effect"},
                                   {"STATE", "state"},         {"ENDS", "ends"}};

void printImpairment(const json& i) {
  printFields(std::cout, row(i),
              {{"NAME", "name"},
               {"TARGET", "target"},
               {"DIRECTION", "direction"},
               {"EFFECT", "effect"},
               {"STATE", "state"},
               {"ENABLED AT", "enabled_at"},
               {"ENDS", "ends"},
               {"CREATED", "created_at"}});
  if (i.contains("waiting_for"))
    std::cout << "waiting for:      " << cell(i, "waiting_for") << "\n";
  printEnforcement(std::cout, i);
}

struct ImpairArgs {
  std::string name, target, direction = "both";
  double delay = 0, jitter = 0, loss = 0, duplicate = 0, corrupt = 0, reorder = 0;
  uint64_t rate = 0;
  int64_t duration = 0;
  bool down = false, disabled = false;
};

}  // namespace

void addImpairCommands(CLI::App& app, Options& o, int& rc) {
  auto a = std::make_shared<ImpairArgs>();
  auto* cmd = app.add_subcommand("impair", "impairments: delay, loss, rate limits, links down")
                  ->require_subcommand(1)
                  ->fallthrough();
  auto one = [a] { return "/v1/impairments/" + a->name; };
  auto* set =
      cmd->add_subcommand("set", "create or change an impairment (enabled unless --disabled)");
  set->add_option("name", a->name)->required();
  set->add_option("--target", a->target, "vpc/subnet, instance/eth<k> or peering/name")->required();
  set->add_option("--direction", a->direction, "both, in (toward the target) or out")
      ->capture_default_str();
  set->add_option("--delay-ms", a->delay, "added delay, milliseconds");
  set->add_option("--jitter-ms", a->jitter, "delay varies by up to this much");
  set->add_option("--loss", a->loss, "packets lost, percent");
  set->add_option("--duplicate", a->duplicate, "packets duplicated, percent");
  set->add_option("--corrupt", a->corrupt, "packets with a bit flipped, percent");
  set->add_option("--reorder", a->reorder, "packets sent ahead of the delayed ones, percent");
  set->add_option("--rate-kbit", a->rate, "rate limit, kbit/s");
  set->add_flag("--down", a->down, "set the link down");
  set->add_option("--duration", a->duration, "switch itself off after this many seconds");
  set->add_flag("--disabled", a->disabled, "store it switched off");
  set->callback(action(
      o, rc, text("PUT"), one,
      [a] {
        json b{{"name", a->name}, {"target", a->target}, {"direction", a->direction}};
        auto put = [&](const char* f, double v) {
          if (v > 0) b[f] = v;
        };
        put("delay_ms", a->delay);
        put("jitter_ms", a->jitter);
        put("loss_percent", a->loss);
        put("duplicate_percent", a->duplicate);
        put("corrupt_percent", a->corrupt);
        put("reorder_percent", a->reorder);
        if (a->rate) b["rate_kbit"] = a->rate;
        if (a->down) b["down"] = true;
        if (a->duration) b["duration_s"] = a->duration;
        if (a->disabled) b["enabled"] = false;
        return b;
      },
      printImpairment));
  for (bool on : {true, false}) {
    auto* sub = cmd->add_subcommand(on ? "enable" : "disable",
                                    on ? "switch an impairment on (its values as stored)"
                                       : "switch an impairment off, keeping its values");
    sub->add_option("name", a->name)->required();
    sub->callback(toggle(o, rc, one, kRequestFields, on, printImpairment));
  }
  auto* show = cmd->add_subcommand("show", "show an impairment");
  show->add_option("name", a->name)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printImpairment));
  auto* del = cmd->add_subcommand("delete", "delete an impairment");
  del->add_option("name", a->name)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr, [a](const json&) {
    std::cout << "deleted impairment " << a->name << "\n";
  }));
  cmd->add_subcommand("list", "list impairments")
      ->callback(action(o, rc, text("GET"), text("/v1/impairments"), nullptr, [](const json& r) {
        json rows = json::array();
        for (const auto& i : r["items"]) rows.push_back(row(i));
        printTable(std::cout, rows, kColumns);
      }));
}

}  // namespace vpcctl
