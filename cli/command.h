#pragma once
// What every vpcctl command is made of: the global options, one API call,
// and how its answer is printed.
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/client.h"

namespace vpcctl {

struct Options {
  std::string socket = "/run/vpcd/vpcd.sock";
  std::string output = "table";
};

// Calls the API; prints the error and returns false on a non-2xx answer.
bool request(const Options& o, const std::string& method, const std::string& target,
             const nlohmann::json* body, nlohmann::json& result);

// Runs one API call and prints its result as JSON or with `pretty`.
std::function<void()> action(const Options& o, int& rc, std::function<std::string()> method,
                             std::function<std::string()> target,
                             std::function<nlohmann::json()> body,
                             std::function<void(const nlohmann::json&)> pretty);

// enable/disable: the object at `target` as it is (its `fields` that are
// set), with "enabled" set to `on`, put back; prints the result.
std::function<void()> toggle(const Options& o, int& rc, std::function<std::string()> target,
                             std::vector<std::string> fields, bool on,
                             std::function<void(const nlohmann::json&)> pretty);

std::function<std::string()> text(std::string s);
// "error: MESSAGE (CODE STATUS)" on stderr.
void printError(const Response& r);

// vpcctl instance serial NAME --follow, and vpcctl instance console NAME:
// streams, not single answers; each returns the exit code.
int followSerial(const Options& o, const std::string& name);
int attachConsole(const Options& o, const std::string& name);

// vpcctl events: the event stream, followed.
void addEventCommands(CLI::App& app, Options& o, int& rc);

// vpcctl forward …
void addForwardCommands(CLI::App& app, Options& o, int& rc);

// vpcctl impair …
void addImpairCommands(CLI::App& app, Options& o, int& rc);
// vpcctl flow-log … and vpcctl flow-logs VPC
void addFlowLogCommands(CLI::App& app, Options& o, int& rc);

// vpcctl instance …; `command` is what followed `--` on the command line.
void addInstanceCommands(CLI::App& app, Options& o, int& rc, std::vector<std::string> command);

// vpcctl lab …; returns the `lab` command for others to add to.
CLI::App* addLabCommands(CLI::App& app, Options& o, int& rc);
// vpcctl reach …, and `lab verify` on `lab`.
void addReachCommands(CLI::App& app, CLI::App& lab, Options& o, int& rc);

}  // namespace vpcctl
