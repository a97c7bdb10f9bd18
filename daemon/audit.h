#pragma once
// The audit log: one JSON line per change asked of the API (every method but
// GET and HEAD, refused ones included), with who asked, through which door,
// what and how it ended. Written by the daemon alone, appended with one
// write per line; past kAuditLimit bytes the file becomes `<path>.1` (the
// one before is dropped) and a new one starts. The token is never written.
#include <cstdint>
#include <string>

namespace vpcd {

struct AuditEntry {
  bool token = false;  // on the TCP listener, with the token; else the socket
  uint32_t uid = 0;
  int pid = 0;
  std::string method, target;
  int status = 0;
  std::string error;  // the message of a refusal or failure
};

class AuditLog {
 public:
  static constexpr uint64_t kAuditLimit = 16 << 20;
  explicit AuditLog(std::string path);
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  ~AuditLog();

  // A failure to write is said once in the daemon's log, never to the
  // client: the change it records has already happened.
  void record(const AuditEntry& entry);
  const std::string& path() const { return path_; }

 private:
  void open();
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool warned_ = false;
};

}  // namespace vpcd
