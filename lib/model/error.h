#pragma once
// The one error type of the domain: a kind, the field at fault (its path in
// the request, "" when none) and a message. It carries no HTTP status: the
// daemon maps kinds to statuses in one table (daemon/api.cpp), and another
// facade (the Compute Engine API) maps the same kinds to its own shape.
#include <stdexcept>
#include <string>

namespace vpcd {

enum class ErrorKind {
  Invalid,        // malformed input: a wrong type, an unknown field, a bad name
  NotFound,       // the object, or one it refers to, does not exist
  Conflict,       // exists, overlaps, in use, or in the wrong state
  Unprocessable,  // well-formed but impossible (outside the VPC, pool exhausted)
};

class DomainError : public std::runtime_error {
 public:
  DomainError(ErrorKind kind, const std::string& message, std::string field = "")
      : std::runtime_error(message), kind_(kind), field_(std::move(field)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& field() const { return field_; }

  static DomainError invalid(const std::string& field, const std::string& message) {
    return DomainError(ErrorKind::Invalid, field.empty() ? message : field + ": " + message, field);
  }
  static DomainError notFound(const std::string& message, const std::string& field = "") {
    return DomainError(ErrorKind::NotFound, message, field);
  }
  static DomainError conflict(const std::string& message, const std::string& field = "") {
    return DomainError(ErrorKind::Conflict, message, field);
  }
  static DomainError unprocessable(const std::string& message, const std::string& field = "") {
    return DomainError(ErrorKind::Unprocessable, message, field);
  }
  // The same error moved under `path` in an enclosing document (a lab's
  // "vpcs[1]"): its field becomes "vpcs[1].cidr", its message says so first.
  DomainError under(const std::string& path) const {
    if (path.empty()) return *this;
    std::string field = field_.empty() ? path : path + "." + field_;
    std::string message = what();
    if (!field_.empty() && message.rfind(field_ + ": ", 0) == 0)
      message = message.substr(field_.size() + 2);
    return DomainError(kind_, field + ": " + message, field);
  }

 private:
  ErrorKind kind_;
  std::string field_;
};

}  // namespace vpcd
