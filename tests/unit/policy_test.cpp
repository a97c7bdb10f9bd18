#include "lib/model/policy.h"

#include <linux/netfilter/nf_tables.h>

#include <catch2/catch.hpp>
#include <random>

#include "daemon/http_error.h"
#include "lib/model/error.h"
#include "lib/plan/nft_rules.h"
#include "lib/plan/policy_compile.h"

using namespace vpcd;
using nlohmann::json;

namespace {

std::string fieldOf(const std::string& name, const json& body) {
  try {
    parsePolicy(name, body, 0);
  } catch (const DomainError& e) {
    return std::to_string(httpStatusOf(e.kind()).code) + " " + e.field();
  }
  return "accepted";
}

std::vector<EffectiveRule> effective(const std::vector<PolicyRule>& rules) {
  std::vector<EffectiveRule> out;
  for (size_t i = 0; i < rules.size(); ++i)
    out.push_back({rules[i], "p:ingress[" + std::to_string(i) + "]", "p", i});
  return out;
}

// The rule a packet meets by walking the rules in order, as a linear firewall would.
std::optional<size_t> naiveMatch(const std::vector<PolicyRule>& rules, uint32_t addr, uint8_t proto,
                                 uint16_t port) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const PolicyRule& r = rules[i];
    bool addrOk = r.peers.empty();
    for (const auto& c : r.peers) addrOk |= c.contains(Ipv4{addr});
    bool portful = proto == 6 || proto == 17;
    bool protoOk = r.protocol == PolicyProtocol::All   ? (portful || r.ports.empty())
                   : r.protocol == PolicyProtocol::Tcp ? proto == 6
                   : r.protocol == PolicyProtocol::Udp ? proto == 17
                                                       : proto == 1;
    bool portOk = r.ports.empty();
    for (const auto& p : r.ports) portOk |= portful && port >= p.first && port <= p.last;
    if (addrOk && protoOk && portOk) return i;
  }
  return std::nullopt;
}

// The rule a packet meets in the compiled entries: the first maps (l4 for tcp
// and udp, l3 for the rest), then the fallback map. Entries are disjoint
// within each map.
std::optional<size_t> compiledMatch(const std::vector<FilterEntry>& entries, uint32_t addr,
                                    uint8_t proto, uint16_t port) {
  for (bool fallback : {false, true}) {
    std::optional<size_t> found;
    for (const auto& e : entries) {
      bool portful = proto == 6 || proto == 17;
      if (e.fallback != fallback || e.ports != portful) continue;
      if (addr < e.addrFirst || addr > e.addrLast || proto < e.protoFirst || proto > e.protoLast)
        continue;
      if (e.ports && (port < e.portFirst || port > e.portLast)) continue;
      REQUIRE_FALSE(found);
      found = e.rule;
    }
    if (found) return found;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a vpcd-format policy parses, normalizes and survives the state file") {
  json doc = json::parse(R"({
    "name": "web", "applies_to": ["prod/web"], "default_ingress": "deny",
    "ingress": [{"priority": 100, "action": "allow", "protocol": "tcp",
                 "ports": ["80", 443, "8000-8100"], "sources": ["0.0.0.0/0", "10.1.2.3"],
                 "description": "http"},
                {"priority": 200, "action": "deny", "protocol": "tcp", "ports": ["22"], "log": true}],
    "egress": [{"priority": 100, "action": "deny", "protocol": "tcp", "ports": ["25"]}]})");
  Policy p = parsePolicy("web", doc, 1700000000);
  REQUIRE(p.format == "vpcd");
  REQUIRE(p.sections.size() == 1);
  const PolicySection& s = p.sections[0];
  CHECK(s.defaultEgress == PolicyAction::Allow);  // the default of an absent default_egress
  REQUIRE(s.ingress[0].ports.size() == 3);
  CHECK(s.ingress[0].ports[2] == PortRange{8000, 8100});
  CHECK(s.ingress[0].peers[1].str() == "10.1.2.3/32");
  CHECK(s.ingress[1].log);
  json shown = toJson(p);
  CHECK(shown["ingress"][0]["ports"] == json::array({"80", "443", "8000-8100"}));
  CHECK(fromPolicyState(toState(p)) == p);
}

TEST_CASE("the seed format: a subnet by CIDR, any/*, file order as priority, lists") {
  json one = json::parse(R"({"subnet": "10.10.1.0/24",
    "ingress": [{"port": 80, "protocol": "tcp", "action": "allow"},
                {"port": "*", "protocol": "any", "action": "deny", "source": "10.0.0.0/8"}],
    "egress": [{"port": "any", "protocol": "udp", "action": "deny", "destination": "any"}]})");
  Policy p = parsePolicy("seed", one, 0);
  CHECK(p.format == "seed");
  CHECK(p.sections[0].appliesTo == std::vector<std::string>{"10.10.1.0/24"});
  CHECK(p.sections[0].ingress[0].priority == 1);
  CHECK(p.sections[0].ingress[1].priority == 2);
  CHECK(p.sections[0].ingress[1].ports.empty());
  CHECK(p.sections[0].ingress[1].protocol == PolicyProtocol::All);
  CHECK(p.sections[0].egress[0].peers.empty());
  Policy list = parsePolicy("two", json::array({one, {{"subnet", "prod/db"}}}), 0);
  REQUIRE(list.sections.size() == 2);
  CHECK(list.rulePath(1, Direction::Egress, 0) == "sections[1].egress[0]");
  CHECK(p.rulePath(0, Direction::Ingress, 1) == "ingress[1]");
}

TEST_CASE("bad policy documents are refused naming the path of the field") {
  auto rule = [](json r) {
    return json{{"applies_to", {"prod/web"}},
                {"ingress", {{{"priority", 1}, {"action", "allow"}}, r}}};
  };
  CHECK(fieldOf("web", rule({{"priority", 2}, {"action", "deny"}, {"ports", {"70000"}}})) ==
        "400 ingress[1].ports[0]");
  CHECK(fieldOf("web", rule({{"priority", 2}, {"action", "deny"}, {"ports", {"90-80"}}})) ==
        "400 ingress[1].ports[0]");
  CHECK(fieldOf("web", rule({{"priority", 2}, {"action", "maybe"}})) == "400 ingress[1].action");
  CHECK(fieldOf("web", rule({{"action", "deny"}})) == "400 ingress[1].priority");
  CHECK(fieldOf("web", rule({{"priority", 2}, {"action", "deny"}, {"prot", "tcp"}})) ==
        "400 ingress[1].prot");
  CHECK(
      fieldOf("web", rule({{"priority", 2}, {"action", "deny"}, {"destinations", {"1.2.3.4"}}})) ==
      "400 ingress[1].destinations");
  CHECK(fieldOf(
            "web",
            rule({{"priority", 2}, {"action", "deny"}, {"protocol", "icmp"}, {"ports", {"1"}}})) ==
        "400 ingress[1].ports");
  CHECK(fieldOf("web", {{"applies_to", {"web"}}}) == "400 applies_to[0]");
  CHECK(fieldOf("web", {{"applies_to", json::array()}}) == "400 applies_to");
  CHECK(fieldOf("web", {{"name", "other"}, {"applies_to", {"prod/web"}}}) == "400 name");
  CHECK(fieldOf("Bad Name", {{"applies_to", {"prod/web"}}}) == "400 name");
  CHECK(fieldOf("s", json::array({{{"subnet", "10.0.0.0/24"}}, {{"subnet", "x"}}})) ==
        "400 [1].subnet");
  CHECK(fieldOf("s",
                {{"subnet", "10.0.0.0/24"}, {"ingress", {{{"port", "x"}, {"action", "allow"}}}}}) ==
        "400 ingress[0].port");
}

TEST_CASE("first-match resolution agrees with a linear walk of the rules") {
  std::mt19937 rng(7);
  const std::vector<const char*> pool = {"0.0.0.0/0",      "10.0.0.0/8",     "10.10.0.0/16",
                                         "10.10.1.0/24",   "10.10.1.128/25", "10.20.0.0/16",
                                         "192.168.0.0/16", "10.10.1.7/32"};
  for (int round = 0; round < 40; ++round) {
    std::vector<PolicyRule> rules;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      PolicyRule r{.priority = i, .action = rng() % 2 ? PolicyAction::Allow : PolicyAction::Deny};
      r.protocol = static_cast<PolicyProtocol>(rng() % 4);
      if (r.protocol != PolicyProtocol::Icmp && rng() % 3) {
        uint16_t first = static_cast<uint16_t>(rng() % 100);
        r.ports.push_back({first, static_cast<uint16_t>(first + rng() % 20)});
      }
      for (unsigned k = rng() % 3; k > 0; --k)
        r.peers.push_back(*Cidr::parse(pool[rng() % pool.size()]));
      rules.push_back(r);
    }
    auto entries = resolveFilter(effective(rules));
    for (int probe = 0; probe < 400; ++probe) {
      Cidr around = *Cidr::parse(pool[rng() % pool.size()]);
      uint32_t addr = around.network().value + static_cast<uint32_t>(rng() % 300);
      uint8_t proto = std::vector<uint8_t>{1, 6, 17, 47}[rng() % 4];
      uint16_t port = static_cast<uint16_t>(rng() % 130);
      INFO("round " << round << " addr " << Ipv4{addr}.str() << " proto " << int(proto) << " port "
                    << port);
      CHECK(compiledMatch(entries, addr, proto, port) == naiveMatch(rules, addr, proto, port));
    }
  }
}

TEST_CASE("policies on one subnet merge by priority, deny first on a tie, deny defaults win") {
  auto policy = [](const std::string& name, PolicyAction a, PolicyAction def) {
    Policy p{.name = name, .format = "vpcd"};
    PolicySection s{.appliesTo = {"prod/web"}, .defaultIngress = def};
    s.ingress.push_back(PolicyRule{.priority = 50, .action = a, .protocol = PolicyProtocol::Tcp});
    p.sections.push_back(s);
    return p;
  };
  auto filters = subnetFilters(
      "prod", {{"web", *Cidr::parse("10.10.1.0/24")}, {"db", *Cidr::parse("10.10.2.0/24")}},
      {policy("a-allow", PolicyAction::Allow, PolicyAction::Allow),
       policy("z-deny", PolicyAction::Deny, PolicyAction::Deny)});
  REQUIRE(filters.size() == 1);  // db has no policy: untouched
  CHECK(filters[0].ingress[0].id == "z-deny:ingress[0]");
  CHECK(filters[0].ingress[1].id == "a-allow:ingress[0]");
  CHECK(filters[0].defaultIngress == PolicyAction::Deny);
  CHECK(filters[0].defaultEgress == PolicyAction::Allow);
}

TEST_CASE("the router table dispatches by subnet and keeps no per-rule nft rule") {
  std::vector<PolicyRule> many;
  for (int i = 0; i < 10000; ++i) {
    uint32_t net = (10u << 24) | (static_cast<uint32_t>(i) << 8);
    many.push_back({.priority = i,
                    .action = PolicyAction::Allow,
                    .protocol = PolicyProtocol::Tcp,
                    .ports = {{static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)}},
                    .peers = {Cidr{Ipv4{net}, 24}}});
  }
  Policy p{.name = "big", .format = "vpcd"};
  p.sections.push_back({.appliesTo = {"prod/web", "prod/db"}, .ingress = many});
  auto filters = subnetFilters(
      "prod", {{"web", *Cidr::parse("10.10.1.0/24")}, {"db", *Cidr::parse("10.10.2.0/24")}}, {p});
  NftTable t = routerTable("uplink", {}, {}, filters);
  size_t rules = t.rules.size();
  CHECK(rules < 20);  // dispatch and two lookups per chain, whatever the rule count
  const NftSet* in = nullptr;
  for (const auto& s : t.sets) {
    if (s.name == "in_web_l4") in = &s;
  }
  REQUIRE(in);
  CHECK(in->elems.size() == 10000);
  CHECK(in->counter);
  // Adjacent subnets in a dispatch map: the end of one before the start of
  // the next on the same key, the only order the kernel takes.
  for (const auto& s : t.sets) {
    if (s.name != "ingress") continue;
    REQUIRE(s.elems.size() == 5);
    CHECK(s.elems[2].flags == NFT_SET_ELEM_INTERVAL_END);
    CHECK(s.elems[3].key == s.elems[2].key);
    CHECK(s.elems[3].chain == "in_db");
  }
}

TEST_CASE("deny 10,000 sources, allow the rest: the final allow waits in the fallback map") {
  // The case that once became 40,490 elements: each /24 with its own denied
  // port cuts the final allow into pieces around it.
  std::vector<PolicyRule> rules;
  for (uint32_t i = 0; i < 10000; ++i) {
    uint16_t port = static_cast<uint16_t>(1000 + i);
    rules.push_back({.priority = static_cast<int>(i),
                     .action = PolicyAction::Deny,
                     .protocol = PolicyProtocol::Tcp,
                     .ports = {{port, port}},
                     .peers = {Cidr{Ipv4{(11u << 24) | (i << 8)}, 24}}});
  }
  rules.push_back({.priority = 65000,
                   .action = PolicyAction::Allow,
                   .protocol = PolicyProtocol::Tcp,
                   .ports = {{1, 65535}}});
  auto entries = resolveFilter(effective(rules));
  size_t first = 0, fallback = 0;
  for (const auto& e : entries) (e.fallback ? fallback : first)++;
  CHECK(first == 10000);
  CHECK(fallback == 1);
  std::mt19937 rng(11);
  for (int probe = 0; probe < 2000; ++probe) {
    uint32_t addr = (11u << 24) + static_cast<uint32_t>(rng() % (10001u << 8));
    uint16_t port =
        static_cast<uint16_t>(rng() % 2 ? 1000 + ((addr >> 8) & 0xffff) : rng() % 12000);
    CHECK(compiledMatch(entries, addr, 6, port) == naiveMatch(rules, addr, 6, port));
  }
  CHECK(compiledMatch(entries, 11u << 24, 6, 0) == std::nullopt);  // port 0: the default
}

TEST_CASE("a policy that resolves into too many entries is refused with 422") {
  // Rules on every address with distinct ports, under rules with distinct
  // /24s: each /24 segment carries every port range, ~600 x 600 entries.
  std::vector<PolicyRule> rules;
  for (uint32_t i = 0; i < 600; ++i) {
    rules.push_back(
        {.priority = 1,
         .action = PolicyAction::Deny,
         .protocol = PolicyProtocol::Tcp,
         .ports = {{static_cast<uint16_t>(10 + 2 * i), static_cast<uint16_t>(10 + 2 * i)}}});
    rules.push_back({.priority = 2,
                     .action = PolicyAction::Allow,
                     .protocol = PolicyProtocol::Tcp,
                     .peers = {Cidr{Ipv4{(10u << 24) | (i << 8)}, 24}}});
  }
  try {
    resolveFilter(effective(rules));
    FAIL("accepted");
  } catch (const DomainError& e) {
    CHECK(e.kind() == ErrorKind::Unprocessable);
    CHECK(std::string(e.what()).find("disjoint entries") != std::string::npos);
  }
}
