// Changes sent as set elements instead of whole tables, and the observation
// kept between passes (lib/kernel/observation_cache.h).
#include <linux/netfilter/nf_tables.h>

#include <catch2/catch.hpp>

#include "lib/kernel/fake_kernel.h"
#include "lib/kernel/observation_cache.h"
#include "lib/model/vpc.h"
#include "lib/plan/desired.h"
#include "lib/plan/diff.h"
#include "lib/plan/nft_rules.h"
#include "lib/reconcile/reconciler.h"
#include "tests/unit/lab.h"

using namespace vpcd;
using vpcd::test::lab;

namespace {

void addSubnet(Topology& t, const std::string& name, const std::string& cidr, bool isPublic) {
  t.vpcs[0].subnets.push_back(parseSubnetRequest(
      {{"name", name}, {"cidr", cidr}, {"type", isPublic ? "public" : "private"}}));
}

NftTable publicTable(const std::vector<std::string>& cidrs) {
  std::vector<Cidr> prefixes;
  for (const auto& c : cidrs) prefixes.push_back(*Cidr::parse(c));
  return routerTable("uplink", prefixes, {}, {});
}

std::vector<const Action*> tableActions(const Plan& p) {
  std::vector<const Action*> out;
  for (const auto& a : p.actions) {
    if (a.op == Action::Op::ReplaceTable || a.op == Action::Op::UpdateSets) out.push_back(&a);
  }
  return out;
}

}  // namespace

TEST_CASE("a new subnet changes set elements only, and the result is the desired table") {
  FakeKernel kernel;
  Reconciler r(kernel);
  Topology t = lab();
  REQUIRE(r.reconcile(desiredState(t), Scope::all()).ok());

  addSubnet(t, "app", "10.10.4.0/24", true);
  KernelState want = desiredState(t);
  Plan p = r.plan(want, Scope::all());
  auto tables = tableActions(p);
  REQUIRE(tables.size() == 2);
  for (const Action* a : tables) {
    CHECK(a->op == Action::Op::UpdateSets);
    for (const auto& d : a->setDeltas) {
      CHECK_FALSE(d.flush);
      CHECK(d.remove.empty());
    }
  }
  CHECK(tables[1]->describe() == "~ nft table inet vpcd elements +2 -0 in vpc-prod");

  REQUIRE(r.reconcile(want, Scope::all()).ok());
  const Namespace& router = kernel.state().at("vpc-prod");
  for (const auto& [key, table] : want.at("vpc-prod").tables) CHECK(router.tables.at(key) == table);
  CHECK(r.plan(want, Scope::all()).empty());
}

TEST_CASE("an interval set that loses an element or merges ranges is flushed and refilled") {
  NftTable one = publicTable({"10.10.1.0/24"});
  NftTable two = publicTable({"10.10.1.0/24", "10.10.5.0/24"});
  NftTable adjacent = publicTable({"10.10.1.0/24", "10.10.2.0/24"});

  auto grow = setDeltas(one, two);
  REQUIRE(grow);
  REQUIRE(grow->size() == 1);
  CHECK_FALSE(grow->front().flush);
  CHECK(grow->front().add.size() == 2);  // a start and an end

  // 10.10.1.0/24 + 10.10.2.0/24 is one range: its end moves.
  auto merge = setDeltas(one, adjacent);
  REQUIRE(merge);
  CHECK(merge->front().flush);
  CHECK(merge->front().add == adjacent.sets.front().elems);

  auto shrink = setDeltas(two, one);
  REQUIRE(shrink);
  CHECK(shrink->front().flush);
  CHECK(shrink->front().add == one.sets.front().elems);
}

TEST_CASE("a set without intervals loses exactly the elements that went") {
  PortAddress a{"s-web", *Ipv4::parse("10.10.1.2"), "02:00:00:00:00:01"};
  PortAddress b{"s-db", *Ipv4::parse("10.10.2.2"), "02:00:00:00:00:02"};
  auto d = setDeltas(bridgeTable({a, b}, {}), bridgeTable({a}, {}));
  REQUIRE(d);
  REQUIRE(d->size() == 2);  // port_addrs and port_macs
  for (const auto& delta : *d) {
    CHECK_FALSE(delta.flush);
    CHECK(delta.add.empty());
    CHECK(delta.remove.size() == 1);
  }
}

TEST_CASE("anything but set elements differing means the table is replaced") {
  NftTable before = publicTable({"10.10.1.0/24"});
  NftTable rule = before;
  rule.rules.pop_back();
  CHECK_FALSE(setDeltas(before, rule));
  NftTable chain = before;
  chain.chains.front().priority += 1;
  CHECK_FALSE(setDeltas(before, chain));
  NftTable definition = before;
  definition.sets.front().flags = 0;
  CHECK_FALSE(setDeltas(before, definition));
}

TEST_CASE("the kept observation follows vpcd's own changes and forgets on doubt") {
  ObservationCache cache;
  Namespace router{.name = "vpc-prod"};
  router.links["lo"] = Link{.name = "lo", .kind = LinkKind::Loopback, .alias = "vpcd:netns:x"};
  cache.store(router, {"lo", "stray"});
  Namespace want{.name = "vpc-prod"};
  REQUIRE(cache.find("vpc-prod", &want) != nullptr);

  SECTION("a veth created: both ends, as a dump shows them") {
    cache.store(Namespace{.name = "vpc-prod.web"}, {"lo"});
    Action create{.op = Action::Op::CreateLink,
                  .ns = "vpc-prod",
                  .link = {.name = "s-web",
                           .alias = "vpcd:port",
                           .peerNamespace = "vpc-prod.web",
                           .peerName = "eth0"},
                  .peer = {.name = "eth0", .alias = "vpcd:nic", .isPeer = true}};
    cache.applied(create);
    const Link& port = cache.find("vpc-prod", &want)->links.at("s-web");
    CHECK(port.peerNamespace.empty());
    CHECK(cache.find("vpc-prod.web", nullptr)->links.at("eth0").isPeer == false);
  }
  SECTION("an unmarked link that is now wanted: the kernel is asked again (adoption)") {
    want.links["stray"] = Link{.name = "stray"};
    CHECK(cache.find("vpc-prod", &want) == nullptr);
  }
  SECTION("deleting a namespace forgets everything: veth peers die elsewhere") {
    cache.applied({.op = Action::Op::DeleteNamespace, .ns = "vpc-other"});
    CHECK(cache.find("vpc-prod", &want) == nullptr);
  }
  SECTION("a link set (maybe down, losing its routes) forgets its namespace") {
    cache.applied({.op = Action::Op::SetLink, .ns = "vpc-prod", .link = {.name = "lo"}});
    CHECK(cache.find("vpc-prod", &want) == nullptr);
  }
  SECTION("an added route is kept; a deleted one forgets the namespace") {
    Route r{
        .dst = *Cidr::parse("10.20.0.0/16"), .gateway = *Ipv4::parse("169.254.64.1"), .dev = "p-b"};
    cache.applied({.op = Action::Op::AddRoute, .ns = "vpc-prod", .route = r});
    CHECK(cache.find("vpc-prod", &want)->routes.count(r) == 1);
    cache.applied({.op = Action::Op::DeleteRoute, .ns = "vpc-prod", .route = r});
    CHECK(cache.find("vpc-prod", &want) == nullptr);
  }
}
