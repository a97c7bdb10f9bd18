#include <linux/netfilter/nf_tables.h>

#include <catch2/catch.hpp>

#include "lib/kernel/fake_kernel.h"
#include "lib/model/vpc.h"
#include "lib/plan/desired.h"
#include "lib/plan/diff.h"
#include "lib/plan/nft_rules.h"
#include "lib/reconcile/reconciler.h"
#include "tests/unit/lab.h"

using namespace vpcd;
using nlohmann::json;
using vpcd::test::lab;
using vpcd::test::labNic;

namespace {

std::vector<std::string> describe(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& a : p.actions) out.push_back(a.describe());
  return out;
}

size_t indexOf(const std::vector<std::string>& lines, const std::string& line) {
  auto it = std::find(lines.begin(), lines.end(), line);
  REQUIRE(it != lines.end());
  return static_cast<size_t>(it - lines.begin());
}

}  // namespace

TEST_CASE("the desired state of a VPC") {
  KernelState want = desiredState(lab());
  REQUIRE(want.count("vpc-prod"));
  REQUIRE(want.count("vpc-prod.web"));
  REQUIRE(want.count("vpc-prod.db"));
  const Namespace& router = want.at("vpc-prod");
  CHECK(router.links.at("br0").kind == LinkKind::Bridge);
  // A MAC of its own, stable per VPC: a bridge left to choose re-picks it as
  // ports come and go, and hosts' ARP entries for the gateway go stale.
  CHECK(router.links.at("br0").mac == macFor("bridge:prod"));
  CHECK(router.links.at("br0").mac.rfind("02:", 0) == 0);
  CHECK(router.links.at("s-web").master == "br0");
  CHECK(router.links.at("s-web").peerNamespace == "vpc-prod.web");
  CHECK(router.addresses.count({"br0", *Cidr::parse("10.10.1.1/24")}));
  CHECK(router.addresses.count({"uplink", *Cidr::parse("169.254.64.2/30")}));
  CHECK(router.sysctls.at("net/ipv4/conf/all/forwarding") == "1");
  const Namespace& web = want.at("vpc-prod.web");
  CHECK(web.addresses.count({"eth0", *Cidr::parse("10.10.1.2/24")}));
  CHECK(web.routes.count({Cidr{}, *Ipv4::parse("10.10.1.1"), "eth0"}));
  const Namespace& host = want.at("");
  CHECK(host.links.at("t-prod").isPeer);
  CHECK(router.links.at("uplink").peerName == "t-prod");  // created from the router's side
  CHECK(host.tables.count("ip vpcd"));
  for (const auto& [name, ns] : want) {
    for (const auto& [ln, link] : ns.links) {
      INFO(name << " " << ln);
      CHECK(link.alias.rfind("vpcd:", 0) == 0);
      CHECK(ln.size() <= 15);
    }
  }
}

const NftSet& setNamed(const NftTable& t, const std::string& name) {
  auto it =
      std::find_if(t.sets.begin(), t.sets.end(), [&](const NftSet& s) { return s.name == name; });
  REQUIRE(it != t.sets.end());
  return *it;
}

bool hasKey(const NftSet& set, const std::string& key) {
  return std::count_if(set.elems.begin(), set.elems.end(),
                       [&](const NftSetElem& e) { return e.key == key; }) == 1;
}

std::string portKey(const std::string& port) {
  return port + std::string(16 - port.size(), '\0');
}

TEST_CASE("the bridge table pins each port to its address and MAC") {
  KernelState want = desiredState(lab());
  const NftTable& table = want.at("vpc-prod").tables.at("bridge vpcd");
  REQUIRE(table.sets.size() == 3);
  const NftSet& addrs = setNamed(table, "port_addrs");
  REQUIRE(addrs.elems.size() == 2);
  CHECK(hasKey(addrs, portKey("s-web") + std::string("\x0a\x0a\x01\x02", 4)));
  const NftSet& macs = setNamed(table, "port_macs");
  REQUIRE(macs.elems.size() == 2);
  std::string mac = want.at("vpc-prod.web").links.at("eth0").mac;
  CHECK(mac == subnetMac("prod", "web"));
  CHECK(macs.elems[0].key.size() == 24);
  CHECK(setNamed(table, "port_pairs").elems.empty());  // one port per subnet
  // MAC, ARP sender MAC, IP and ARP sender address in input and forward, and
  // the port-pair rule.
  CHECK(table.rules.size() == 9);
}

TEST_CASE("an instance with two NICs: ports, addresses, policy routing, layer-2 pairs") {
  Topology t = lab();
  Instance i{.name = "router1", .status = InstanceStatus::Running};
  i.nics.push_back(labNic("router1", "eth0", "web", "10.10.1.0/24", "10.10.1.3"));
  i.nics.push_back(labNic("router1", "eth1", "db", "10.10.2.0/24", "10.10.2.50"));
  t.instances.push_back(i);
  KernelState want = desiredState(t);
  const Namespace& vm = want.at("vm-router1");
  CHECK(vm.links.at("eth1").mac == i.nics[1].mac);
  CHECK(vm.links.at("eth1").up);
  CHECK(vm.addresses.count({"eth1", *Cidr::parse("10.10.2.50/24")}));
  CHECK(vm.routes.count({Cidr{}, *Ipv4::parse("10.10.1.1"), "eth0"}));
  CHECK(vm.routes.count({Cidr{}, *Ipv4::parse("10.10.2.1"), "eth1", 101}));
  CHECK(vm.routes.count({*Cidr::parse("10.10.2.0/24"), Ipv4{}, "eth1", 101}));
  CHECK(vm.rules.count({1001, *Cidr::parse("10.10.2.50/32"), 101}));
  CHECK(vm.rules.count({1000, *Cidr::parse("10.10.1.3/32"), 100}));
  CHECK(vm.rules.size() == 2);
  const Namespace& router = want.at("vpc-prod");
  const Link& port = router.links.at("n-router1-1");
  CHECK(port.master == "br0");
  CHECK(port.peerNamespace == "vm-router1");
  CHECK(peerNamespaceOf(port.alias) == "vm-router1");
  const NftTable& bridge = router.tables.at("bridge vpcd");
  CHECK(hasKey(setNamed(bridge, "port_addrs"),
               portKey("n-router1-1") + std::string("\x0a\x0a\x02\x32", 4)));
  const NftSet& pairs = setNamed(bridge, "port_pairs");
  CHECK(pairs.elems.size() == 4);  // s-web <-> n-router1-0, s-db <-> n-router1-1
  CHECK(hasKey(pairs, portKey("s-db") + portKey("n-router1-1")));

  i.status = InstanceStatus::Stopped;
  t.instances = {i};
  CHECK_FALSE(desiredState(t).at("vm-router1").links.at("eth0").up);
}

TEST_CASE("with no VPC, the host keeps no vpcd table") {
  Topology t = lab();
  t.vpcs.clear();
  CHECK(desiredState(t).at("").tables.empty());
}

TEST_CASE("the public set holds exactly the public subnets") {
  KernelState want = desiredState(lab());
  const NftTable& table = want.at("vpc-prod").tables.at("inet vpcd");
  REQUIRE(table.sets.size() == 1);
  // 10.10.1.0 start, 10.10.2.0 end, and the leading 0.0.0.0 end
  CHECK(table.sets[0].elems.size() == 3);
  CHECK(table.chains.size() == 2);
  CHECK(table.rules.size() == 4);
}

TEST_CASE("interval set elements merge adjacent prefixes") {
  auto keys = [](const std::vector<NftSetElem>& elems) {
    std::vector<std::string> out;
    for (const auto& e : elems) {
      auto b = reinterpret_cast<const unsigned char*>(e.key.data());
      out.push_back(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) +
                    "." + std::to_string(b[3]) + (e.flags ? " end" : ""));
    }
    return out;
  };
  auto c = [](const char* text) { return *Cidr::parse(text); };
  CHECK(keys(intervalElems({c("10.10.2.0/24"), c("10.10.1.0/24")})) ==
        std::vector<std::string>{"0.0.0.0 end", "10.10.1.0", "10.10.3.0 end"});
  CHECK(keys(intervalElems({c("10.10.1.0/24"), c("10.10.5.0/24")})) ==
        std::vector<std::string>{"0.0.0.0 end", "10.10.1.0", "10.10.2.0 end", "10.10.5.0",
                                 "10.10.6.0 end"});
  CHECK(keys(intervalElems({c("0.0.0.0/1")})) ==
        std::vector<std::string>{"0.0.0.0", "128.0.0.0 end"});
  CHECK(keys(intervalElems({c("255.255.255.0/24")})) ==
        std::vector<std::string>{"0.0.0.0 end", "255.255.255.0"});
  CHECK(intervalElems({}).empty());
}

TEST_CASE("a plan from nothing creates parents before children") {
  FakeKernel kernel;
  Reconciler r(kernel);
  auto lines = describe(r.plan(desiredState(lab()), Scope::all()));
  size_t ns = indexOf(lines, "+ netns vpc-prod.web");
  size_t router = indexOf(lines, "+ netns vpc-prod");
  size_t br = indexOf(lines, "+ link br0 in vpc-prod");
  size_t port = indexOf(lines, "+ link s-web in vpc-prod (peer eth0 in vpc-prod.web)");
  size_t addr = indexOf(lines, "+ address 10.10.1.2/24 on eth0 in vpc-prod.web");
  size_t route = indexOf(lines, "+ route default via 10.10.1.1 in vpc-prod.web");
  size_t table = indexOf(lines, "~ nft table inet vpcd in vpc-prod");
  CHECK(ns < port);
  CHECK(router < br);
  CHECK(br < port);
  CHECK(port < addr);
  CHECK(addr < route);
  CHECK(route < table);
  CHECK(kernel.mutatingCalls() == 0);  // planning changes nothing
}

TEST_CASE("applying the same desired state twice makes no kernel call the second time") {
  FakeKernel kernel;
  Reconciler r(kernel);
  KernelState want = desiredState(lab());
  ReconcileReport first = r.reconcile(want, Scope::all());
  INFO(first.error);
  REQUIRE(first.ok());
  CHECK_FALSE(first.applied.empty());
  uint64_t calls = kernel.mutatingCalls();
  ReconcileReport second = r.reconcile(want, Scope::all());
  CHECK(second.applied.empty());
  CHECK(kernel.mutatingCalls() == calls);
  CHECK(r.plan(want, Scope::all()).empty());
}

TEST_CASE("drift is repaired: a deleted namespace, a deleted bridge, a lost route") {
  FakeKernel kernel;
  Reconciler r(kernel);
  KernelState want = desiredState(lab());
  REQUIRE(r.reconcile(want, Scope::all()).ok());

  SECTION("subnet namespace deleted by hand") {
    kernel.apply({.op = Action::Op::DeleteNamespace, .ns = "vpc-prod.web"});
    CHECK_FALSE(kernel.state().at("vpc-prod").links.count("s-web"));  // the pair died with it
    auto lines = describe(r.plan(want, Scope::all()));
    indexOf(lines, "+ netns vpc-prod.web");
    indexOf(lines, "+ link s-web in vpc-prod (peer eth0 in vpc-prod.web)");
  }
  SECTION("bridge deleted by hand: recreated, ports re-attached, gateways re-added") {
    kernel.apply({.op = Action::Op::DeleteLink, .ns = "vpc-prod", .link = {.name = "br0"}});
    auto lines = describe(r.plan(want, Scope::all()));
    indexOf(lines, "+ link br0 in vpc-prod");
    indexOf(lines, "~ link s-web in vpc-prod");
    indexOf(lines, "+ address 10.10.1.1/24 on br0 in vpc-prod");
  }
  SECTION("transit link deleted: recreated with its per-device sysctl") {
    kernel.apply({.op = Action::Op::DeleteLink, .ns = "", .link = {.name = "t-prod"}});
    // The fake keeps the old value, as a stale observation of the real kernel can.
    auto lines = describe(r.plan(want, Scope::all()));
    indexOf(lines, "+ link uplink in vpc-prod (peer t-prod in host)");
    indexOf(lines, "~ sysctl net/ipv4/conf/t-prod/forwarding=1 in host");
    indexOf(lines, "+ route default via 169.254.64.1 in vpc-prod");
  }
  SECTION("default route deleted in a subnet") {
    kernel.state().at("vpc-prod.db").routes.clear();
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"+ route default via 10.10.2.1 in vpc-prod.db"});
  }
  SECTION("a link set down, an MTU changed, a port taken off its bridge") {
    auto& router = kernel.state().at("vpc-prod");
    router.links.at("br0").up = false;
    router.links.at("s-db").mtu = 9000;
    router.links.at("s-web").master.clear();
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"~ link br0 in vpc-prod", "~ link s-db in vpc-prod",
                                   "~ link s-web in vpc-prod"});
  }
  SECTION("an address removed, a stray address of ours added") {
    auto& web = kernel.state().at("vpc-prod.web");
    web.addresses.clear();
    web.addresses.insert({"eth0", *Cidr::parse("10.10.1.99/24")});
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"- address 10.10.1.99/24 on eth0 in vpc-prod.web",
                                   "+ address 10.10.1.2/24 on eth0 in vpc-prod.web"});
  }
  SECTION("forwarding switched off in the router") {
    kernel.state().at("vpc-prod").sysctls["net/ipv4/conf/all/forwarding"] = "0";
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"~ sysctl net/ipv4/conf/all/forwarding=1 in vpc-prod"});
  }
  SECTION("a rule added to our table by hand") {
    kernel.state().at("vpc-prod").tables.at("inet vpcd").rules.push_back({"forward", {}});
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"~ nft table inet vpcd in vpc-prod"});
  }
  SECTION("nft table flushed: both tables come back in one transaction") {
    kernel.state().at("vpc-prod").tables.clear();
    uint64_t before = kernel.mutatingCalls();
    REQUIRE(r.reconcile(want, Scope::all()).applied.size() == 2);
    CHECK(kernel.mutatingCalls() == before + 1);
    kernel.state().at("vpc-prod").tables.clear();
    CHECK(describe(r.plan(want, Scope::all())) ==
          std::vector<std::string>{"~ nft table bridge vpcd in vpc-prod",
                                   "~ nft table inet vpcd in vpc-prod"});
  }
  REQUIRE(r.reconcile(want, Scope::all()).ok());
  CHECK(r.plan(want, Scope::all()).empty());
}

TEST_CASE("orphans are removed whole; others' objects are left alone") {
  FakeKernel kernel;
  Reconciler r(kernel);
  REQUIRE(r.reconcile(desiredState(lab()), Scope::all()).ok());
  // Someone else's namespace and link with names that look like ours.
  Namespace foreign;
  foreign.name = "vpc-other";
  foreign.owned = false;
  kernel.state()["vpc-other"] = foreign;
  kernel.state()[""].links["t-other"] = Link{.name = "t-other", .alias = "not ours"};

  Topology empty = lab();
  empty.vpcs.clear();
  Plan teardown = r.plan(desiredState(empty), Scope::all());
  auto lines = describe(teardown);
  CHECK(teardown.vanishing == std::vector<std::pair<std::string, std::string>>{{"", "t-prod"}});
  // Three namespace deletions; the transit link and the subnet ports die with
  // their namespaces and are not deleted one by one.
  CHECK(lines == std::vector<std::string>{"- netns vpc-prod", "- netns vpc-prod.db",
                                          "- netns vpc-prod.web", "- nft table ip vpcd in host"});
  REQUIRE(r.reconcile(desiredState(empty), Scope::all()).ok());
  CHECK(kernel.state().count("vpc-other"));
  CHECK(kernel.state().at("").links.count("t-other"));
  CHECK_FALSE(kernel.state().at("").links.count("t-prod"));
}

TEST_CASE("a link created but not yet marked when vpcd died is adopted") {
  FakeKernel kernel;
  Reconciler r(kernel);
  KernelState want = desiredState(lab());
  REQUIRE(r.reconcile(want, Scope::all()).ok());
  kernel.state().at("vpc-prod").links.at("s-web").alias.clear();
  kernel.state().at("vpc-prod.web").links.at("eth0").alias.clear();
  CHECK(describe(r.plan(want, Scope::all())) ==
        std::vector<std::string>{"~ link s-web in vpc-prod", "~ link eth0 in vpc-prod.web"});
  // An unmarked link vpcd does not want is someone else's, even in our namespace.
  kernel.state().at("vpc-prod").links["hand-made"] =
      Link{.name = "hand-made", .kind = LinkKind::Bridge};
  kernel.state().at("").links["t-prod"].alias.clear();  // and in the host, never adopted
  auto lines = describe(r.plan(want, Scope::all()));
  CHECK(std::find(lines.begin(), lines.end(), "- link hand-made in vpc-prod") == lines.end());
}

TEST_CASE("a desired namespace taken by someone else is a conflict, not touched") {
  FakeKernel kernel;
  Namespace foreign;
  foreign.name = "vpc-prod";
  foreign.owned = false;
  kernel.state()["vpc-prod"] = foreign;
  Reconciler r(kernel);
  Plan p = r.plan(desiredState(lab()), Scope::all());
  CHECK(p.conflicts == std::vector<std::string>{"vpc-prod"});
  for (const auto& a : p.actions) CHECK(a.ns != "vpc-prod");
}

TEST_CASE("a scoped reconcile only looks at its namespaces") {
  FakeKernel kernel;
  Reconciler r(kernel);
  KernelState want = desiredState(lab());
  REQUIRE(r.reconcile(want, Scope::all()).ok());
  kernel.state().at("vpc-prod.db").routes.clear();
  CHECK(r.plan(want, Scope::of({"vpc-prod", "vpc-prod.web"})).empty());
  CHECK_FALSE(r.plan(want, Scope::of({"vpc-prod.db"})).empty());
}

TEST_CASE("docker-compat accepts: one in and one out per transit link, exact names") {
  auto rules = transitAccepts({"t-prod", "t-lab"});
  REQUIRE(rules.size() == 4);
  for (const auto& r : rules) CHECK(r.chain == kDockerUserChain.chain);
  CHECK(rules[0].exprs.front().key == NFT_META_IIFNAME);
  CHECK(rules[1].exprs.front().key == NFT_META_OIFNAME);
  CHECK(rules[2].exprs[1].data.rfind("t-lab", 0) == 0);
  CHECK(transitAccepts({}).empty());  // no VPC left: the accepts go
}
