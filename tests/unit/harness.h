#pragma once
// What the unit tests of the daemon share: a temporary directory, a started
// service over a fake kernel answering as root, and the error a call throws.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "daemon/api.h"
#include "lib/kernel/fake_kernel.h"
#include "lib/kernel/faulty_kernel.h"
#include "lib/model/error.h"

namespace vpcd::test {

// Where temporary directories are made. The fuzz targets move it to a
// tmpfs: every state write ends in fsync, which on a disk bounds them.
inline std::string& tempBase() {
  static std::string base = "/tmp";
  return base;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = tempBase() + "/vpcd-test-XXXXXX";
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

inline DaemonConfig testConfig(bool dryRun) {
  DaemonConfig config;
  config.uplink = "eth0";
  config.dryRun = dryRun;
  return config;
}

// The API as root calls it: changes are allowed (permissions have tests of
// their own, tests/permissions_test.sh).
struct RootApi {
  explicit RootApi(Services& s) : api(s, authz) {}
  HttpResponse handle(HttpRequest r) {
    r.uid = 0;
    return api.handle(r);
  }
  Authorizer authz{"", "", false};
  Api api;
};

// A fake kernel behind the fault decorator: `fake` is what the kernel holds.
struct RefusingKernel : FaultyKernel {
  RefusingKernel() : FaultyKernel(fake) {}  // bound now, used only later
  FakeKernel fake;
};

// A started service over a temporary state dir and a fake kernel.
template <class K = FakeKernel>
struct Daemon : TempDir {
  explicit Daemon(bool dryRun = false) : config(testConfig(dryRun)) { service.start(); }
  StateStore store{path};
  K kernel;
  Reconciler reconciler{kernel};
  DaemonConfig config;
  Services service{config, store, kernel, reconciler};
  RootApi api{service};
};

// The DomainError `fn` throws (its kind, field and message); a failure when
// it throws none.
template <typename Fn>
DomainError errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const DomainError& e) {
    return e;
  }
  FAIL("no error");
  return DomainError::invalid("", "");
}

}  // namespace vpcd::test
