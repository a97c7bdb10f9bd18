// vpcctl instance: create, list, show, stop/start/reset, delete, NICs,
// serial output, free addresses.
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"

namespace vpcctl {
namespace {

using nlohmann::json;

struct InstanceArgs {
  std::string name, nic, subnet, ip, label, vpc;
  std::vector<std::string> nics, labels, metadata, tags, command;
  int limit = 50;
  bool follow = false;
};

// "k=v" items -> {"k": "v"}; a missing '=' is refused before any request.
json keyValues(const std::vector<std::string>& items, const std::string& option) {
  json out = json::object();
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument(option + " " + item + ": expected KEY=VALUE");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// --nic vpc/subnet or vpc/subnet=10.10.2.50
json nicRequest(const std::string& text) {
  size_t eq = text.find('=');
  json nic{{"subnet", text.substr(0, eq)}};
  if (eq != std::string::npos) nic["ip"] = text.substr(eq + 1);
  return nic;
}

std::string nicsText(const json& i) {
  std::string out;
  for (const auto& n : i["nics"])
    out +=
        (out.empty() ? "" : ", ") + n["name"].get<std::string>() + "=" + n["ip"].get<std::string>();
  return out;
}

void printInstance(const json& i) {
  printFields(std::cout, i,
              {{"NAME", "name"},
               {"STATUS", "status"},
               {"NAMESPACE", "namespace"},
               {"COMMAND STATE", "command_state"},
               {"COMMAND PID", "command_pid"},
               {"CREATED", "created_at"},
               {"LAST START", "last_start_at"},
               {"LAST STOP", "last_stop_at"}});
  printEnforcement(std::cout, i);
  std::cout << "nics:\n";
  printTable(std::cout, i["nics"],
             {{"NAME", "name"},
              {"SUBNET", "subnet"},
              {"IP", "ip"},
              {"MAC", "mac"},
              {"GATEWAY", "gateway"},
              {"PRIMARY", "primary"}});
  printImpairments(std::cout, i);
}

// The arguments, alive as long as the callbacks that read them.
InstanceArgs a;

std::string one() {
  return "/v1/instances/" + a.name;
}

// create, list, show, delete, stop, start, reset
void addLifecycle(CLI::App* cmd, Options& o, int& rc) {
  auto* create =
      cmd->add_subcommand("create", "create and start an instance; its command after --");
  create->add_option("name", a.name)->required();
  create->add_option("--nic", a.nics, "vpc/subnet[=ip], once per NIC; the first is primary")
      ->required();
  create->add_option("--label", a.labels, "KEY=VALUE");
  create->add_option("--metadata", a.metadata, "KEY=VALUE");
  create->add_option("--tag", a.tags, "tag");
  create->callback(action(
      o, rc, text("POST"), text("/v1/instances"),
      [] {
        json body{{"name", a.name},
                  {"nics", json::array()},
                  {"labels", keyValues(a.labels, "--label")},
                  {"metadata", keyValues(a.metadata, "--metadata")},
                  {"tags", a.tags},
                  {"command", a.command}};
        for (const auto& n : a.nics) body["nics"].push_back(nicRequest(n));
        return body;
      },
      printInstance));
  auto* list = cmd->add_subcommand("list", "list instances");
  list->add_option("--label", a.label, "only those with this label (KEY or KEY=VALUE)");
  list->add_option("--vpc", a.vpc, "only those with a NIC in this VPC");
  list->callback(action(
      o, rc, text("GET"),
      [] {
        std::string q;
        if (!a.label.empty()) q += "label=" + a.label;
        if (!a.vpc.empty()) q += (q.empty() ? "" : "&") + std::string("vpc=") + a.vpc;
        return "/v1/instances" + (q.empty() ? "" : "?" + q);
      },
      nullptr,
      [](const json& r) {
        json rows = json::array();
        for (auto i : r["items"]) {
          i["addresses"] = nicsText(i);
          rows.push_back(i);
        }
        printTable(std::cout, rows,
                   {{"NAME", "name"},
                    {"STATUS", "status"},
                    {"NICS", "addresses"},
                    {"COMMAND", "command_state"}});
      }));
  auto* show = cmd->add_subcommand("show", "show an instance");
  show->add_option("name", a.name)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printInstance));
  auto* del = cmd->add_subcommand("delete", "delete an instance, its namespace and addresses");
  del->add_option("name", a.name)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr,
                       [](const json&) { std::cout << "deleted instance " << a.name << "\n"; }));
  for (const char* verb : {"stop", "start", "reset"}) {
    auto* sub = cmd->add_subcommand(verb, std::string(verb) + " an instance");
    sub->add_option("name", a.name)->required();
    std::string v = verb;
    sub->callback(action(
        o, rc, text("POST"), [v] { return one() + "/" + v; }, [] { return json::object(); },
        printInstance));
  }
}

// serial output, NICs, free addresses
void addExtras(CLI::App* cmd, Options& o, int& rc) {
  auto* serial = cmd->add_subcommand("serial", "the command's output (last 64 KiB)");
  serial->add_option("name", a.name)->required();
  serial->add_flag("-f,--follow", a.follow, "then what it writes, until interrupted");
  auto once = action(
      o, rc, text("GET"), [] { return one() + "/serial-output"; }, nullptr,
      [](const json& r) { std::cout << r["contents"].get<std::string>(); });
  serial->callback([&o, &rc, once] {
    if (!a.follow) return once();
    rc = followSerial(o, a.name);
  });
  auto* console =
      cmd->add_subcommand("console", "attach to the command's terminal (detach with Ctrl-])");
  console->add_option("name", a.name)->required();
  console->callback([&o, &rc] { rc = attachConsole(o, a.name); });
  auto* nic = cmd->add_subcommand("nic", "add or remove a NIC")->require_subcommand(1);
  auto* add = nic->add_subcommand("add", "hot-plug a NIC");
  add->add_option("name", a.name)->required();
  add->add_option("--subnet", a.subnet, "vpc/subnet")->required();
  add->add_option("--ip", a.ip, "a static address (default: the lowest free)");
  add->callback(action(
      o, rc, text("POST"), [] { return one() + "/nics"; },
      [] { return nicRequest(a.subnet + (a.ip.empty() ? "" : "=" + a.ip)); },
      [](const json& n) {
        printFields(std::cout, n,
                    {{"NAME", "name"}, {"SUBNET", "subnet"}, {"IP", "ip"}, {"MAC", "mac"}});
      }));
  auto* remove = nic->add_subcommand("remove", "unplug a NIC (not the primary)");
  remove->add_option("name", a.name)->required();
  remove->add_option("nic", a.nic)->required();
  remove->callback(action(
      o, rc, text("DELETE"), [] { return one() + "/nics/" + a.nic; }, nullptr,
      [](const json& n) { std::cout << "removed " << n["name"].get<std::string>() << "\n"; }));
  auto* ips = cmd->add_subcommand("available-ips", "free addresses of a subnet");
  ips->add_option("subnet", a.subnet, "vpc/subnet")->required();
  ips->add_option("--limit", a.limit, "at most this many")->capture_default_str();
  ips->callback(action(
      o, rc, text("GET"),
      [] {
        size_t slash = a.subnet.find('/');
        return "/v1/vpcs/" + a.subnet.substr(0, slash) + "/subnets/" + a.subnet.substr(slash + 1) +
               "/available-ips?limit=" + std::to_string(a.limit);
      },
      nullptr,
      [](const json& r) {
        for (const auto& ip : r["items"]) std::cout << ip.get<std::string>() << "\n";
      }));
}

}  // namespace

void addInstanceCommands(CLI::App& app, Options& o, int& rc, std::vector<std::string> command) {
  a.command = std::move(command);
  auto* cmd = app.add_subcommand("instance", "instances: namespaces with NICs and a command")
                  ->require_subcommand(1)
                  ->fallthrough();
  addLifecycle(cmd, o, rc);
  addExtras(cmd, o, rc);
}

}  // namespace vpcctl
