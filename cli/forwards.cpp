// vpcctl forward create|list|show|delete: port forwards (docs/port-forwards.md).
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/output.h"

namespace vpcctl {

using nlohmann::json;

namespace {

const std::vector<Column> kForwardColumns{{"NAME", "name"},     {"PROTOCOL", "protocol"},
                                          {"LISTEN", "listen"}, {"TARGET", "target"},
                                          {"TO", "to"},         {"ENFORCED", "enforced"}};

// One row: where it listens and where it leads, as a user reads them.
json row(const json& f) {
  json r = f;
  std::string addr = f.value("listen_address", json()).is_string()
                         ? f["listen_address"].get<std::string>()
                         : std::string("*");
  r["listen"] = addr + ":" + std::to_string(f.value("listen_port", 0));
  r["to"] = f.value("target_ip", std::string()) + ":" + std::to_string(f.value("target_port", 0));
  return r;
}

void printForward(const json& f) {
  printFields(std::cout, row(f),
              {{"NAME", "name"},
               {"PROTOCOL", "protocol"},
               {"LISTEN", "listen"},
               {"TARGET", "target"},
               {"TO", "to"},
               {"VPC", "vpc"},
               {"SUBNET", "subnet"},
               {"CREATED", "created_at"}});
  if (f.contains("instance")) std::cout << "instance NIC:     " << cell(f, "instance") << "\n";
  printEnforcement(std::cout, f);
}

struct ForwardArgs {
  std::string name, protocol = "tcp", target, address;
  int listenPort = 0, targetPort = 0;
};

}  // namespace

void addForwardCommands(CLI::App& app, Options& o, int& rc) {
  auto a = std::make_shared<ForwardArgs>();
  auto* cmd = app.add_subcommand("forward", "port forwards: a host port led to a host in a VPC")
                  ->require_subcommand(1)
                  ->fallthrough();
  auto one = [a] { return "/v1/port-forwards/" + a->name; };
  auto* create = cmd->add_subcommand("create", "forward a host port to a subnet host or instance");
  create->add_option("name", a->name)->required();
  create->add_option("--port", a->listenPort, "the host port to listen on")->required();
  create
      ->add_option("--target", a->target,
                   "vpc/subnet (its host), instance, instance/eth<k>, or vpc:address")
      ->required();
  create->add_option("--target-port", a->targetPort, "the target's port (default: --port)");
  create->add_option("--protocol", a->protocol, "tcp or udp")->capture_default_str();
  create->add_option("--address", a->address,
                     "one host address to listen on (default: every address of the host)");
  create->callback(action(
      o, rc, text("POST"), text("/v1/port-forwards"),
      [a] {
        json b{{"name", a->name},
               {"protocol", a->protocol},
               {"listen_port", a->listenPort},
               {"target", a->target}};
        if (a->targetPort) b["target_port"] = a->targetPort;
        if (!a->address.empty()) b["listen_address"] = a->address;
        return b;
      },
      printForward));
  auto* show = cmd->add_subcommand("show", "show a port forward");
  show->add_option("name", a->name)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printForward));
  auto* del = cmd->add_subcommand("delete", "delete a port forward");
  del->add_option("name", a->name)->required();
  del->callback(action(o, rc, text("DELETE"), one, nullptr, [a](const json&) {
    std::cout << "deleted port forward " << a->name << "\n";
  }));
  cmd->add_subcommand("list", "list port forwards")
      ->callback(action(o, rc, text("GET"), text("/v1/port-forwards"), nullptr, [](const json& r) {
        json rows = json::array();
        for (const auto& f : r["items"]) rows.push_back(row(f));
        printTable(std::cout, rows, kForwardColumns);
      }));
}

}  // namespace vpcctl
