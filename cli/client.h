#pragma once
// A minimal HTTP/1.1 client for the daemon's Unix socket.
#include <nlohmann/json.hpp>
#include <string>

namespace vpcctl {

struct Response {
  int status = 0;
  nlohmann::json body;
};

// Throws std::runtime_error when the daemon cannot be reached.
Response call(const std::string& socketPath, const std::string& method, const std::string& target,
              const nlohmann::json* body = nullptr);

}  // namespace vpcctl
