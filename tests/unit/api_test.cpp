#include "daemon/api.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "lib/kernel/fake_kernel.h"
#include "lib/plan/desired.h"

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

TEST_CASE("peering link names cannot collide: such VPC names already collide as transit links") {
  Fixture f;
  StateStore store(f.dir);
  FakeKernel kernel;
  Reconciler reconciler(kernel);
  DaemonConfig config;
  config.uplink = "eth0";
  VpcService service(config, store, kernel, reconciler);
  service.start();
  Api api(service);
  // FNV-1a-24 of these two names collides. p- and t- names keep the same
  // prefix and hash, so the second VPC is refused before it could ever be
  // peered with a router that already has the first one's link.
  REQUIRE(peerLinkName("shared-vpc-18919") == peerLinkName("shared-vpc-20664"));
  REQUIRE(transitLinkName("shared-vpc-18919") == transitLinkName("shared-vpc-20664"));
  CHECK(api.handle({"POST", "/v1/vpcs", R"({"name":"shared-vpc-18919","cidr":"10.2.0.0/16"})"})
            .status == 201);
  auto clash =
      api.handle({"POST", "/v1/vpcs", R"({"name":"shared-vpc-20664","cidr":"10.3.0.0/16"})"});
  CHECK(clash.status == 409);
  CHECK(clash.body.find("is already used by vpc shared-vpc-18919") != std::string::npos);
}

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
