// The desired-state contract: `with` validates and returns a new value (or a
// domain error with nothing changed), and the reconcile scope of a change is
// exactly the namespaces whose desired content differs between old and new.
#include "lib/model/desired_state.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "lib/kernel/fake_kernel.h"
#include "lib/model/error.h"
#include "lib/plan/picture.h"
#include "lib/reconcile/reconciler.h"
#include "state/store.h"
#include "tests/unit/harness.h"

using namespace vpcd;
using nlohmann::json;
namespace fs = std::filesystem;

using vpcd::test::TempDir;

namespace {

HostSettings host() {
  return {"eth0", Cidr::parse("169.254.64.0/18").value()};
}

change::CreateVpc vpc(const std::string& name, const std::string& cidr) {
  return {parseVpcRequest({{"name", name}, {"cidr", cidr}})};
}

change::CreateSubnet subnet(const std::string& vpc, const std::string& name,
                            const std::string& cidr, const char* type = "private") {
  return {vpc, parseSubnetRequest({{"name", name}, {"cidr", cidr}, {"type", type}})};
}

change::PutPolicy policy(const std::string& name, const std::string& target) {
  json doc{{"applies_to", {target}},
           {"ingress",
            {{{"priority", 10},
              {"action", "allow"},
              {"protocol", "tcp"},
              {"ports", {"443"}},
              {"sources", {"0.0.0.0/0"}}}}}};
  return {parsePolicy(name, doc, 100), false};
}

// Two VPCs, each with a public and a private subnet.
DesiredState twoVpcs() {
  return DesiredState(host()).with({vpc("a", "10.10.0.0/16"), subnet("a", "web", "10.10.1.0/24"),
                                    subnet("a", "db", "10.10.2.0/24"), vpc("b", "10.20.0.0/16"),
                                    subnet("b", "web", "10.20.1.0/24", "public")});
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

TEST_CASE("with: a new value, the old one untouched; errors carry kind and field") {
  DesiredState s = twoVpcs();
  DesiredState next = s.with(subnet("a", "app", "10.10.3.0/24"));
  CHECK(next.findSubnet({"a", "app"}));
  CHECK_FALSE(s.findSubnet({"a", "app"}));
  // What the change did not touch is shared, not copied.
  CHECK(next.vpcs().at("b") == s.vpcs().at("b"));
  CHECK(next.vpcs().at("a") != s.vpcs().at("a"));

  auto failure = [&](const Change& c) -> std::pair<ErrorKind, std::string> {
    try {
      s.with(c);
    } catch (const DomainError& e) {
      return {e.kind(), e.field()};
    }
    FAIL("accepted");
    return {};
  };
  CHECK(failure(subnet("a", "out", "10.99.1.0/24")) ==
        std::pair{ErrorKind::Unprocessable, std::string("cidr")});
  CHECK(failure(subnet("a", "dup", "10.10.1.0/25")) ==
        std::pair{ErrorKind::Conflict, std::string("cidr")});
  CHECK(failure(subnet("nope", "x", "10.10.1.0/24")).first == ErrorKind::NotFound);
  CHECK(failure(change::DeleteVpc{"nope"}).first == ErrorKind::NotFound);
  // A subnet a policy applies to stays until the policy lets go of it.
  DesiredState held = s.with(policy("web", "a/web"));
  CHECK_THROWS_AS(held.with(change::DeleteSubnet{{"a", "web"}}), DomainError);
  CHECK(held.with(change::DeletePolicy{"web"})
            .with(change::DeleteSubnet{{"a", "web"}})
            .findSubnet({"a", "db"}));
}

TEST_CASE("with a list: validated together, all or nothing") {
  DesiredState s = twoVpcs();
  CHECK_THROWS_AS(s.with({subnet("a", "one", "10.10.5.0/24"), subnet("a", "two", "10.10.5.0/25")}),
                  DomainError);
  CHECK_FALSE(s.findSubnet({"a", "one"}));
  // A later change sees the earlier ones of the same list.
  DesiredState next = s.with({vpc("c", "10.30.0.0/16"), subnet("c", "web", "10.30.1.0/24")});
  CHECK(next.findSubnet({"c", "web"}));
}

TEST_CASE("scope: adding a subnet touches its router and its namespace only") {
  KernelPicture picture;
  DesiredState s = twoVpcs();
  picture.update(s);
  KernelPicture::Delta d = picture.delta(s.with(subnet("a", "app", "10.10.3.0/24")));
  CHECK(d.scope() == std::set<std::string>{"vpc-a", "vpc-a.app"});
  CHECK(d.rebuilt == std::set<std::string>{"a"});  // b is neither rebuilt nor compiled
  CHECK(d.added == std::vector<std::string>{"vpc-a.app"});
}

TEST_CASE("scope: a policy change touches only the routers of its subnets") {
  KernelPicture picture;
  DesiredState s = twoVpcs().with(policy("other", "b/web"));
  picture.update(s);
  DesiredState next = s.with(policy("web", "a/web"));
  KernelPicture::Delta d = picture.delta(next);
  CHECK(d.scope() == std::set<std::string>{"vpc-a"});
  CHECK(d.rebuilt == std::set<std::string>{"a"});
  picture.apply(std::move(d));
  // Its removal likewise.
  CHECK(picture.delta(next.with(change::DeletePolicy{"web"})).scope() ==
        std::set<std::string>{"vpc-a"});
}

TEST_CASE("scope: peering and instances, and deletes name what goes") {
  KernelPicture picture;
  DesiredState s = twoVpcs();
  picture.update(s);
  Peering p = parsePeeringRequest({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}}, 100);
  DesiredState requested = s.with(change::RequestPeering{p});
  CHECK(picture.delta(requested).scope().empty());  // pending: nothing in the kernel yet
  DesiredState active = requested.with(change::AcceptPeering{"ab", 101});
  CHECK(picture.delta(active).scope() == std::set<std::string>{"vpc-a", "vpc-b"});

  InstanceRequest req = parseInstanceRequest({{"name", "vm1"}, {"subnet", "a/db"}});
  DesiredState withVm = s.with(change::CreateInstance{req, 100});
  CHECK(picture.delta(withVm).scope() == std::set<std::string>{"vpc-a", "vm-vm1"});
  picture.update(withVm);
  CHECK(picture.groupOf("vm-vm1") ==
        std::set<std::string>{"vpc-a", "vpc-a.web", "vpc-a.db", "vm-vm1"});
  CHECK(picture.groupOf("vpc-b.web") == std::set<std::string>{"vpc-b", "vpc-b.web"});
  CHECK(picture.groupOf("someone-else").empty());

  // Recording the command's pid changes nothing in the kernel: no rebuild.
  Instance running = withVm.instance("vm1");
  running.pid = 4242;
  running.pidStartTime = 99;
  KernelPicture::Delta pid = picture.delta(withVm.with(change::UpdateInstance{running}));
  CHECK(pid.scope().empty());
  CHECK(pid.rebuilt.empty());
  Instance stopped = withVm.instance("vm1");
  stopped.status = InstanceStatus::Stopped;
  CHECK(picture.delta(withVm.with(change::UpdateInstance{stopped})).scope() ==
        std::set<std::string>{"vpc-a", "vm-vm1"});

  DesiredState gone = withVm.with(change::DeleteInstance{"vm1"});
  CHECK(picture.delta(gone).scope() == std::set<std::string>{"vpc-a", "vm-vm1"});
  CHECK_FALSE(picture.delta(gone).changed.at("vm-vm1").has_value());
}

TEST_CASE("the picture kept in parts equals the picture built whole") {
  KernelPicture picture;
  DesiredState s = twoVpcs();
  picture.update(s);
  for (const Change& c :
       std::vector<Change>{subnet("a", "app", "10.10.3.0/24"), policy("web", "a/web"),
                           change::CreateInstance{
                               parseInstanceRequest({{"name", "vm1"}, {"subnet", "b/web"}}), 100},
                           change::DeleteSubnet{{"a", "db"}}}) {
    s = s.with(c);
    picture.update(s);
    CHECK(picture.state() == desiredState(s));
  }
}

TEST_CASE("an unchanged re-apply changes nothing: no scope, no file, no kernel call") {
  TempDir dir;
  StateStore store(dir.path.string());
  FakeKernel kernel;
  Reconciler reconciler(kernel);
  KernelPicture picture;
  DesiredState s = twoVpcs();
  store.commit(DesiredState(host()), s);
  picture.update(s);
  REQUIRE(reconciler.reconcile(picture.state(), Scope::all(), &picture.primaries()).ok());
  uint64_t calls = kernel.mutatingCalls();
  auto before = fs::last_write_time(dir.path / "vpcs/a.json");

  DesiredState again = s.with({vpc("a", "10.10.0.0/16"), subnet("a", "web", "10.10.1.0/24")});
  CHECK(again.vpcs().at("a") == s.vpcs().at("a"));
  std::set<std::string> scope = picture.update(again);
  CHECK(scope.empty());
  store.commit(s, again);
  CHECK(fs::last_write_time(dir.path / "vpcs/a.json") == before);
  REQUIRE(reconciler.reconcile(picture.state(), Scope::of(scope), &picture.primaries()).ok());
  CHECK(kernel.mutatingCalls() == calls);
}

TEST_CASE("state files: a subnet is a file of its own; the VPC's file is not rewritten") {
  TempDir dir;
  StateStore store(dir.path.string());
  DesiredState s = twoVpcs();
  store.commit(DesiredState(host()), s);
  CHECK(fs::exists(dir.path / "subnets/a/web.json"));
  std::string vpcFile = read(dir.path / "vpcs/a.json");
  CHECK(vpcFile.find("10.10.1.0/24") == std::string::npos);  // no subnet inside
  auto stamp = fs::last_write_time(dir.path / "vpcs/a.json");

  DesiredState next = s.with(subnet("a", "app", "10.10.3.0/24"));
  store.commit(s, next);
  CHECK(fs::exists(dir.path / "subnets/a/app.json"));
  CHECK(fs::last_write_time(dir.path / "vpcs/a.json") == stamp);
  CHECK_FALSE(fs::exists(dir.path / "journal.json"));

  // A VPC goes with its subnets: all their files in one journaled write.
  DesiredState gone = next.with(change::DeleteVpc{"a"});
  store.commit(next, gone);
  CHECK_FALSE(fs::exists(dir.path / "vpcs/a.json"));
  CHECK_FALSE(fs::exists(dir.path / "subnets/a"));
  auto loaded = store.loadVpcs();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0] == *gone.vpcs().at("b"));
}

TEST_CASE("state files: schema 1 (subnets inside the VPC's file) is migrated in place") {
  TempDir dir;
  StateStore store(dir.path.string());
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  v.transitIndex = 0;
  v.subnets = {parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}})};
  json old{{"schema_version", 1}, {"kind", "vpc"}, {"vpc", toState(v)}};
  std::ofstream(dir.path / "vpcs/prod.json") << old.dump(2);
  auto loaded = store.loadVpcs();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0] == v);
  auto doc = json::parse(read(dir.path / "vpcs/prod.json"));
  CHECK(doc["schema_version"] == StateStore::kSchemaVersion);
  CHECK_FALSE(doc["vpc"].contains("subnets"));
  CHECK(json::parse(read(dir.path / "subnets/prod/web.json"))["subnet"]["cidr"] == "10.10.1.0/24");
  CHECK(StateStore(dir.path.string()).loadVpcs()[0] == v);  // and reads back the same
}

TEST_CASE("state files: a journal left by a crash is finished at the next load") {
  TempDir dir;
  StateStore store(dir.path.string());
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  v.transitIndex = 0;
  store.saveVpc(v);
  // As a crash after the journal was durable and before its files were all
  // written leaves it: the new subnet file is missing.
  Subnet web = parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}});
  json sub{{"schema_version", 2}, {"kind", "subnet"}, {"subnet", toJson(web, v)}};
  json journal{{"schema_version", 2},
               {"writes", {{"subnets/prod/web.json", sub.dump()}}},
               {"removes", json::array()}};
  std::ofstream(dir.path / "journal.json") << journal.dump();
  auto loaded = store.loadVpcs();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].findSubnet("web"));
  CHECK_FALSE(fs::exists(dir.path / "journal.json"));
}

TEST_CASE("actedOn: where a step acts, for grants scoped to VPCs") {
  using Acts = std::vector<std::set<std::string>>;
  DesiredState s = twoVpcs();
  CHECK(actedOn(s, s).empty());
  CHECK(actedOn(s, s.with(subnet("a", "app", "10.10.3.0/24"))) == Acts{{"a"}});
  CHECK(actedOn(s, s.with(vpc("c", "10.30.0.0/16"))) == Acts{{"c"}});
  // A policy acts on every VPC it targets, before and after.
  DesiredState p = s.with(policy("p", "a/web"));
  CHECK(actedOn(s, p) == Acts{{"a"}});
  CHECK(actedOn(p, p.with(policy("p", "b/web"))) == Acts{{"a"}, {"b"}});
  // A peering: requested from its side, accepted from the peer's, deleted
  // from either.
  DesiredState asked = s.with(change::RequestPeering{
      parsePeeringRequest({{"name", "ab"}, {"vpc", "a"}, {"peer_vpc", "b"}}, 100)});
  CHECK(actedOn(s, asked) == Acts{{"a"}});
  DesiredState accepted = asked.with(change::AcceptPeering{"ab", 101});
  CHECK(actedOn(asked, accepted) == Acts{{"b"}});
  CHECK(actedOn(asked, asked.with(change::RejectPeering{"ab", 101})) == Acts{{"b"}});
  CHECK(actedOn(accepted, accepted.with(change::DeletePeering{"ab"})) == Acts{{"a", "b"}});
}
