#pragma once
// A minimal HTTP/1.1 client for the daemon's Unix socket.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vpcctl {

struct Response {
  int status = 0;
  nlohmann::json body;
};

// Throws std::runtime_error when the daemon cannot be reached.
Response call(const std::string& socketPath, const std::string& method, const std::string& target,
              const nlohmann::json* body = nullptr);

// GET whose body is handed to `sink` piece by piece as the daemon sends it
// (serial output with ?follow=1). A non-2xx answer comes back whole in the
// Response, nothing sunk.
Response stream(const std::string& socketPath, const std::string& target,
                const std::function<void(std::string_view)>& sink);

// POST asking to upgrade the connection to `protocol`. On 101 Switching
// Protocols returns the connected descriptor, and in `early` what the
// daemon's peer sent right behind the answer; else -1 and the error in `r`.
int upgrade(const std::string& socketPath, const std::string& target, const std::string& protocol,
            std::string& early, Response& r);

}  // namespace vpcctl
