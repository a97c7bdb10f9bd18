#pragma once
// What the REST API answers for a failure. Domain errors map to statuses in
// one table (httpStatusOf); failures that only exist at the HTTP layer (no
// token, not permitted, a wrong method, a kernel failure) are HttpErrors.
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "lib/kernel/kernel.h"
#include "lib/model/error.h"

namespace vpcd {

// A JSON document as the text of an answer. Bytes that are not UTF-8 (a
// path echoed in a message, a command's output) are replaced: dump() would
// throw instead, and from inside an error handler that throw left the API
// and ended the daemon (found by tests/fuzz/http_api).
template <class Json>
std::string bodyText(const Json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

struct HttpStatus {
  int code;
  const char* word;  // the "status" of the error body
};

// The one place where a kind of domain error becomes an HTTP status.
constexpr HttpStatus httpStatusOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Invalid:
      return {400, "INVALID_ARGUMENT"};
    case ErrorKind::NotFound:
      return {404, "NOT_FOUND"};
    case ErrorKind::Conflict:
      return {409, "ALREADY_EXISTS"};
    case ErrorKind::Unprocessable:
      return {422, "FAILED_PRECONDITION"};
  }
  return {500, "INTERNAL"};
}

class HttpError : public std::runtime_error {
 public:
  HttpError(HttpStatus status, const std::string& message, std::string field = "")
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  HttpStatus status() const { return status_; }
  const std::string& field() const { return field_; }
  // More about the failure, as the error body's "details" (a kernel
  // failure: the operation, the object, errno and the kernel's own words).
  nlohmann::ordered_json details;

 private:
  HttpStatus status_;
  std::string field_;
};

// A kernel failure as the API reports it: the operation, the object, errno
// (number and name) and the kernel's own message (extended ack).
inline nlohmann::ordered_json kernelDetails(const KernelError& k) {
  const char* name = k.code() ? strerrorname_np(k.code()) : nullptr;
  return {{"operation", k.op()},
          {"object", k.object()},
          {"errno", k.code()},
          {"errno_name", name ? name : ""},
          {"kernel_message", k.kernelMessage()}};
}

inline constexpr HttpStatus kForbidden{403, "PERMISSION_DENIED"};
inline constexpr HttpStatus kMethodNotAllowed{405, "METHOD_NOT_ALLOWED"};
inline constexpr HttpStatus kInternal{500, "INTERNAL"};

}  // namespace vpcd
