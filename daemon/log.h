#pragma once
// One line per event on stderr, with a syslog priority prefix (<3> error …
// <7> debug) that journald turns into the entry's level. Lines less urgent
// than the configured level are dropped.
#include <string>

namespace vpcd {

// "error", "warning", "notice", "info", "debug" -> 3, 4, 5, 6, 7; -1 if none.
int logLevelOf(const std::string& name);
void setLogLevel(int priority);
void logLine(int priority, const std::string& text);

}  // namespace vpcd
