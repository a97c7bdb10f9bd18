#include "cli/command.h"

#include <iostream>

namespace vpcctl {

using nlohmann::json;

bool request(const Options& o, const std::string& method, const std::string& target,
             const json* body, json& result) {
  Response r = call(o.socket, method, target, body);
  if (r.status >= 200 && r.status < 300) {
    result = r.body;
    return true;
  }
  printError(r);
  return false;
}

void printError(const Response& r) {
  const json& err =
      r.body.is_object() && r.body.contains("error") ? r.body["error"] : json::object();
  std::cerr << "error: "
            << (err.contains("message") ? err["message"].get<std::string>() : r.body.dump()) << " ("
            << r.status << (err.contains("status") ? " " + err["status"].get<std::string>() : "")
            << ")\n";
}

std::function<void()> action(const Options& o, int& rc, std::function<std::string()> method,
                             std::function<std::string()> target, std::function<json()> body,
                             std::function<void(const json&)> pretty) {
  return [&o, &rc, method, target, body, pretty] {
    json payload = body ? body() : json();
    json result;
    if (!request(o, method(), target(), body ? &payload : nullptr, result)) {
      rc = 1;
      return;
    }
    if (o.output == "json") {
      std::cout << result.dump(2) << "\n";
    } else {
      pretty(result);
    }
  };
}

std::function<void()> toggle(const Options& o, int& rc, std::function<std::string()> target,
                             std::vector<std::string> fields, bool on,
                             std::function<void(const json&)> pretty) {
  return [&o, &rc, target, fields, on, pretty] {
    json have;
    if (!request(o, "GET", target(), nullptr, have)) {
      rc = 1;
      return;
    }
    json body = json::object();
    for (const auto& f : fields) {
      if (have.contains(f) && !have[f].is_null()) body[f] = have[f];
    }
    body["enabled"] = on;
    action(
        o, rc, text("PUT"), target, [body] { return body; }, pretty)();
  };
}

std::function<std::string()> text(std::string s) {
  return [s] { return s; };
}

}  // namespace vpcctl
