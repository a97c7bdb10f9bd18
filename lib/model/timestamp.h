#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace vpcd {

// RFC 3339 UTC ("2026-11-22T04:00:00Z"); "" for 0 (never).
std::string isoTime(int64_t unixSeconds);
std::string isoTime(std::chrono::system_clock::time_point t);

}  // namespace vpcd
