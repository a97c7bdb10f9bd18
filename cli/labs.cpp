// vpcctl lab: apply, plan, destroy, list, show, export, graph.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/command.h"
#include "cli/lab_file.h"
#include "cli/output.h"

namespace vpcctl {
namespace {

using nlohmann::json;

struct LabArgs {
  std::string name, file, title, format = "dot";
  bool adopt = false, all = false, reach = false;
};

// The arguments, alive as long as the callbacks that read them.
LabArgs a;

const char* sign(const std::string& action) {
  if (action == "create") return "+";
  if (action == "delete") return "-";
  if (action == "replace") return "-/+";
  if (action == "adopt") return "=";
  return "~";
}

void printChanges(const json& changes) {
  for (const auto& c : changes) {
    std::cout << "  " << sign(c["action"]) << " " << c["kind"].get<std::string>() << " "
              << c["name"].get<std::string>() << "\n";
  }
}

void printLab(const json& l) {
  std::cout << "lab: " << l["name"].get<std::string>() << "\n"
            << "applied at: " << cell(l, "applied_at") << "\n";
  printEnforcement(std::cout, l);
  for (const char* kind :
       {"vpcs", "subnets", "peerings", "policies", "instances", "port_forwards"}) {
    const json& names = l["objects"][kind];
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n.get<std::string>();
    std::cout << kind << ": " << (list.empty() ? "-" : list) << "\n";
  }
}

// What the file would change in reachability, from the model of the new state.
void printReach(const json& rows) {
  std::cout << "reachability (model of the planned state):\n";
  if (rows.empty()) std::cout << "  no change\n";
  for (const auto& r : rows) {
    std::string what = r["proto"].get<std::string>() +
                       (r.contains("port") ? "/" + std::to_string(r["port"].get<int>()) : "");
    std::cout << "  " << r["from"].get<std::string>() << " -> " << r["to"].get<std::string>() << " "
              << what << ": " << r["before"].get<std::string>() << " -> "
              << r["after"].get<std::string>();
    if (r.contains("expected"))
      std::cout << " (expected " << r["expected"].get<std::string>()
                << (r["holds"] == true ? ", holds)" : ", DOES NOT HOLD)");
    std::cout << "\n";
  }
}

// "applying lab shop… 3 s" on stderr while a request runs past a second.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), thread_([this] { run(); }) {}
  ~Progress() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  void run() {
    bool tty = ::isatty(STDERR_FILENO) != 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (int s = 1;; ++s) {
      if (cv_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) break;
      if (tty) {
        std::cerr << "\r" << what_ << "… " << s << " s" << std::flush;
      } else if (s == 1) {
        std::cerr << what_ << "…\n";
      }
      shown_ = true;
    }
    if (tty && shown_) std::cerr << "\r\033[K" << std::flush;
  }
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, shown_ = false;
  std::thread thread_;
};

// The lab's name: --name, else the document's.
std::string labName(const LabFile& f) {
  if (!a.name.empty()) return a.name;
  if (f.document.is_object() && f.document.contains("name") && f.document["name"].is_string())
    return f.document["name"];
  throw std::invalid_argument(f.path + ": the document has no name (or give --name)");
}

// PUT the file; prints where in the file an error points.
void applyFile(const Options& o, int& rc, bool dryRun) {
  LabFile f = readLabFile(a.file);
  std::string name = labName(f);
  std::string target = "/v1/labs/" + name + "?dry_run=" + (dryRun ? "true" : "false") +
                       (a.adopt ? "&adopt=true" : "") + (dryRun && a.reach ? "&reach=true" : "");
  Response r;
  {
    Progress p(std::string(dryRun ? "planning" : "applying") + " lab " + name);
    r = call(o.socket, "PUT", target, &f.document);
  }
  if (r.status < 200 || r.status >= 300) {
    const json& err = r.body.is_object() && r.body.contains("error") ? r.body["error"] : json();
    std::string where = err.contains("field") ? locate(f, err["field"]).value_or(f.path) : f.path;
    std::cerr << where << ": error: "
              << (err.contains("message") ? err["message"].get<std::string>() : r.body.dump())
              << " (" << r.status << ")\n";
    rc = 1;
    return;
  }
  if (o.output == "json") {
    std::cout << r.body.dump(2) << "\n";
    return;
  }
  const json& changes = r.body["changes"];
  if (dryRun) {
    std::cout << "lab " << name << ": " << changes.size() << " change(s) planned\n";
    printChanges(changes);
    std::cout << "kernel: " << r.body["kernel"].size() << " action(s)\n";
    for (const auto& k : r.body["kernel"]) std::cout << "  " << k.get<std::string>() << "\n";
    if (r.body.contains("reach")) printReach(r.body["reach"]);
    return;
  }
  if (changes.empty()) {
    std::cout << "lab " << name << ": no changes\n";
  } else {
    std::cout << "lab " << name << ": " << changes.size() << " change(s)\n";
    printChanges(changes);
  }
  printEnforcement(std::cout, r.body);
}

}  // namespace

CLI::App* addLabCommands(CLI::App& app, Options& o, int& rc) {
  auto* cmd = app.add_subcommand("lab", "whole environments from one file (docs/labs.md)")
                  ->require_subcommand(1);
  auto one = [] { return "/v1/labs/" + a.name; };
  for (bool dry : {false, true}) {
    auto* sub = cmd->add_subcommand(dry ? "plan" : "apply",
                                    dry ? "what apply would change, changing nothing"
                                        : "make the host match a lab file (YAML or JSON)");
    sub->add_option("-f,--file", a.file, "lab file")->required();
    sub->add_option("--name", a.name, "lab name (default: the document's)");
    sub->add_flag("--adopt", a.adopt, "take over objects made outside any lab that the file names");
    if (dry)
      sub->add_flag("--reach", a.reach, "also: which reachability the file would change (model)");
    sub->callback([&o, &rc, dry] { applyFile(o, rc, dry); });
  }
  auto* destroy = cmd->add_subcommand("destroy", "remove everything the lab made, nothing else");
  destroy->add_option("name", a.name)->required();
  destroy->callback(action(o, rc, text("DELETE"), one, nullptr, [](const json& r) {
    std::cout << "destroyed lab " << r["name"].get<std::string>() << ": " << r["changes"].size()
              << " object(s) removed\n";
    printChanges(r["changes"]);
  }));
  cmd->add_subcommand("list", "list labs")
      ->callback(action(o, rc, text("GET"), text("/v1/labs"), nullptr, [](const json& r) {
        json rows = json::array();
        for (const auto& l : r["items"]) {
          rows.push_back({{"name", l["name"]},
                          {"vpcs", l["objects"]["vpcs"].size()},
                          {"subnets", l["objects"]["subnets"].size()},
                          {"instances", l["objects"]["instances"].size()},
                          {"enforced", l["enforced"]},
                          {"applied_at", l["applied_at"]}});
        }
        printTable(std::cout, rows,
                   {{"NAME", "name"},
                    {"VPCS", "vpcs"},
                    {"SUBNETS", "subnets"},
                    {"INSTANCES", "instances"},
                    {"ENFORCED", "enforced"},
                    {"APPLIED AT", "applied_at"}});
      }));
  auto* show = cmd->add_subcommand("show", "show a lab: its objects and whether it is in force");
  show->add_option("name", a.name)->required();
  show->callback(action(o, rc, text("GET"), one, nullptr, printLab));
  auto* exp = cmd->add_subcommand("export", "the lab's objects (or the host's) as a lab file");
  exp->add_option("name", a.name, "lab to export");
  exp->add_flag("--all", a.all, "every object on the host");
  exp->add_option("--title", a.title, "name of the exported lab");
  exp->callback(action(
      o, rc, text("GET"),
      [&rc, one] {
        if (a.all == !a.name.empty()) {
          rc = 2;
          throw std::invalid_argument("lab export: name a lab or give --all");
        }
        std::string t = a.all ? "/v1/export" : one() + "/export";
        return a.title.empty() ? t : t + "?name=" + a.title;
      },
      nullptr, [](const json& doc) { std::cout << toYaml(doc); }));
  auto* graph = cmd->add_subcommand("graph", "draw the lab (DOT, or SVG rendered by graphviz)");
  graph->add_option("name", a.name)->required();
  graph->add_option("--format", a.format)
      ->check(CLI::IsMember({"dot", "svg"}))
      ->capture_default_str();
  graph->callback([&o, &rc, one] {
    json result;
    if (!request(o, "GET", one() + "/graph?format=" + a.format, nullptr, result)) {
      rc = 1;
      return;
    }
    std::cout << (result.is_string() ? result.get<std::string>() : result.dump());
  });
  return cmd;
}

}  // namespace vpcctl
