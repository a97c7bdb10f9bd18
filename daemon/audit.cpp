#include "daemon/audit.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "daemon/log.h"
#include "lib/model/timestamp.h"

namespace vpcd {

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  open();
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::open() {
  if (fd_ >= 0) ::close(fd_);
  // Root's alone, as the state directory it defaults into.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  struct stat st {};
  size_ = fd_ >= 0 && ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (fd_ < 0 && !warned_) {
    warned_ = true;
    logLine(4, "cannot open the audit log " + path_ + ": " + std::strerror(errno));
  }
}

void AuditLog::record(const AuditEntry& e) {
  nlohmann::ordered_json line{{"time", isoTime(std::chrono::system_clock::now())},
                              {"via", e.token ? "token" : "socket"}};
  if (!e.token) {
    passwd* pw = ::getpwuid(e.uid);
    line["uid"] = e.uid;
    line["user"] = pw ? nlohmann::json(pw->pw_name) : nlohmann::json();
    line["pid"] = e.pid;
  }
  line["method"] = e.method;
  line["target"] = e.target;
  line["status"] = e.status;
  if (!e.error.empty()) line["error"] = e.error;
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (size_ + text.size() > kAuditLimit) {
    ::rename(path_.c_str(), (path_ + ".1").c_str());
    open();
  }
  if (fd_ < 0) return;
  ssize_t n = ::write(fd_, text.data(), text.size());
  if (n == static_cast<ssize_t>(text.size())) {
    size_ += text.size();
  } else if (!warned_) {
    warned_ = true;
    logLine(4, "cannot write the audit log " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace vpcd
