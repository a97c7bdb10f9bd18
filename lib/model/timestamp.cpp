#include "lib/model/timestamp.h"

#include <ctime>

namespace vpcd {

std::string isoTime(int64_t unixSeconds) {
  if (unixSeconds == 0) return "";
  std::time_t secs = unixSeconds;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string isoTime(std::chrono::system_clock::time_point t) {
  return isoTime(static_cast<int64_t>(std::chrono::system_clock::to_time_t(t)));
}

}  // namespace vpcd
