#pragma once
// Errors of the Compute Engine API, in Google's shape:
// {"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}},
// with GCE's reasons and messages naming the resource path, which is what
// gcloud prints.
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vpcd::gce {

class GceError : public std::runtime_error {
 public:
  GceError(int code, std::string reason, const std::string& message)
      : std::runtime_error(message), code_(code), reason_(std::move(reason)) {}
  int code() const { return code_; }
  const std::string& reason() const { return reason_; }
  nlohmann::ordered_json body() const {
    return {{"error",
             {{"code", code_},
              {"message", what()},
              {"errors", {{{"message", what()}, {"domain", "global"}, {"reason", reason_}}}}}}};
  }

  // "projects/lab/regions/nope"
  static GceError notFound(const std::string& path) {
    return {404, "notFound", "The resource '" + path + "' was not found"};
  }
  static GceError alreadyExists(const std::string& path) {
    return {409, "alreadyExists", "The resource '" + path + "' already exists"};
  }
  // "Invalid value for field 'filter': '…'. Why."
  static GceError invalid(const std::string& field, const std::string& value,
                          const std::string& why) {
    return {400, "invalid", "Invalid value for field '" + field + "': '" + value + "'. " + why};
  }
  static GceError badRequest(const std::string& message) { return {400, "badRequest", message}; }

 private:
  int code_;
  std::string reason_;
};

}  // namespace vpcd::gce
