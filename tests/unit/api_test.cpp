#include "daemon/api.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "lib/kernel/fake_kernel.h"

using namespace vpcd;

namespace {

// A kernel whose dumps fail, as a netlink error would make them.
class BrokenKernel : public FakeKernel {
 public:
  Namespace observe(const std::string& ns, const Namespace* want) override {
    if (broken) throw KernelError("dump links", displayName(ns), "Operation not permitted");
    return FakeKernel::observe(ns, want);
  }
  bool broken = false;
};

struct Fixture {
  std::filesystem::path dir;
  Fixture() {
    char tmpl[] = "/tmp/vpcd-api-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST_CASE("API answers through the service, and a kernel failure is a 500, not a crash") {
  Fixture f;
  StateStore store(f.dir);
  BrokenKernel kernel;
  Reconciler reconciler(kernel);
  DaemonConfig config;
  config.uplink = "eth0";
  config.dryRun = true;
  VpcService service(config, store, kernel, reconciler);
  service.start();
  Api api(service);

  auto created = api.handle({"POST", "/v1/vpcs", R"({"name":"prod","cidr":"10.10.0.0/16"})"});
  CHECK(created.status == 201);
  CHECK(api.handle({"GET", "/v1/vpcs/prod", ""}).status == 200);
  CHECK(api.handle({"PATCH", "/v1/vpcs/prod", ""}).status == 405);
  CHECK(api.handle({"GET", "/v2/vpcs", ""}).status == 404);

  kernel.broken = true;
  auto plan = api.handle({"GET", "/v1/plan", ""});
  CHECK(plan.status == 500);
  CHECK(plan.body.find("Operation not permitted") != std::string::npos);
  auto create = api.handle({"POST", "/v1/vpcs", R"({"name":"next","cidr":"10.20.0.0/16"})"});
  CHECK(create.status == 500);
  CHECK(create.body.find("\"status\":\"INTERNAL\"") != std::string::npos);
  kernel.broken = false;
  CHECK(api.handle({"GET", "/v1/health", ""}).status == 200);
}
