#include "daemon/log.h"

#include <iostream>

namespace vpcd {
namespace {

int threshold = 6;  // info

}  // namespace

int logLevelOf(const std::string& name) {
  const char* names[] = {"error", "warning", "notice", "info", "debug"};
  for (int i = 0; i < 5; ++i) {
    if (name == names[i]) return i + 3;
  }
  return -1;
}

void setLogLevel(int priority) {
  threshold = priority;
}

void logLine(int priority, const std::string& text) {
  if (priority > threshold) return;
  std::cerr << "<" << priority << ">" << text << std::endl;
}

}  // namespace vpcd
