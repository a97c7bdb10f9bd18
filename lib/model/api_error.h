#pragma once
// The one error type the API layer turns into {"error": {...}} responses.
// Domain code throws it with the HTTP code, a status word, and the field at fault.
#include <stdexcept>
#include <string>

namespace vpcd {

class ApiError : public std::runtime_error {
 public:
  ApiError(int code, std::string status, const std::string& message, std::string field = "")
      : std::runtime_error(message),
        code_(code),
        status_(std::move(status)),
        field_(std::move(field)) {}

  int code() const { return code_; }
  const std::string& status() const { return status_; }
  const std::string& field() const { return field_; }

  static ApiError invalid(const std::string& field, const std::string& message) {
    return ApiError(400, "INVALID_ARGUMENT", field.empty() ? message : field + ": " + message,
                    field);
  }
  static ApiError notFound(const std::string& message) {
    return ApiError(404, "NOT_FOUND", message);
  }
  static ApiError conflict(const std::string& message, const std::string& field = "") {
    return ApiError(409, "ALREADY_EXISTS", message, field);
  }
  static ApiError unprocessable(const std::string& message, const std::string& field = "") {
    return ApiError(422, "FAILED_PRECONDITION", message, field);
  }

 private:
  int code_;
  std::string status_;
  std::string field_;
};

}  // namespace vpcd
