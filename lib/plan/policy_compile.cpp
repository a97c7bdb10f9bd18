#include "lib/plan/policy_compile.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "lib/model/error.h"
#include "lib/plan/nft_build.h"

namespace vpcd {
namespace {

using namespace nftb;  // NOLINT: the bytecode vocabulary of this file

constexpr uint32_t kProtoType = 12;    // nft's TYPE_INET_PROTOCOL
constexpr uint32_t kServiceType = 13;  // nft's TYPE_INET_SERVICE
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;
constexpr uint32_t kVerdictDataLen = 16;  // sizeof(struct nft_verdict), as the kernel reports

// Sort key of the merged first-match order: priority, deny first on a tie,
// then policy name and position so that the order never depends on input order.
using OrderKey = std::tuple<int, int, std::string, size_t, size_t>;

// --- first-match resolution --------------------------------------------------

struct Interval {
  uint64_t first, last;  // inclusive
  size_t tag;
};

// Paints intervals in the given order: each point keeps the tag of the first
// interval covering it. Returns disjoint intervals sorted by start.
class Painter {
 public:
  void paint(uint64_t first, uint64_t last, size_t tag) {
    uint64_t cursor = first;
    auto it = painted_.upper_bound(first);
    if (it != painted_.begin() && std::prev(it)->second.last >= first) --it;
    for (; it != painted_.end() && it->first <= last && cursor <= last; ++it) {
      if (it->first > cursor)
        painted_.emplace_hint(it, cursor, Interval{cursor, it->first - 1, tag});
      cursor = std::max(cursor, it->second.last + 1);
    }
    if (cursor <= last) painted_.emplace(cursor, Interval{cursor, last, tag});
  }
  bool covers(uint64_t first, uint64_t last) const {
    auto it = painted_.find(first);
    uint64_t cursor = first;
    for (; it != painted_.end() && it->first == cursor; ++it) {
      if (it->second.last >= last) return true;
      cursor = it->second.last + 1;
    }
    return false;
  }
  std::vector<Interval> result() const {
    std::vector<Interval> out;
    for (const auto& [start, iv] : painted_) out.push_back(iv);
    return out;
  }

 private:
  std::map<uint64_t, Interval> painted_;
};

struct Box {
  uint64_t addrFirst, addrLast;
  uint16_t portFirst, portLast;
  size_t rule;
};

void checkSize(size_t n, size_t limit = kMaxFilterEntries) {
  if (n > limit) {
    throw DomainError::unprocessable("the policies on this subnet resolve into more than " +
                                     std::to_string(kMaxFilterEntries) +
                                     " disjoint entries; merge overlapping sources or port ranges");
  }
}

// Resolution runs before the fallback takes its share out, so the pieces may
// exceed the final limit by that much: bounded, to keep memory bounded.
constexpr size_t kMaxPieces = 4 * kMaxFilterEntries;

// Two dimensions (address x port) for one of tcp/udp: a sweep over the
// address axis, painting the ports of the boxes active in each segment; equal
// neighbouring segments are merged.
void resolvePorts(const std::vector<Box>& boxes, uint8_t proto, std::vector<FilterEntry>& out) {
  std::vector<uint64_t> cuts;
  for (const auto& b : boxes) {
    cuts.push_back(b.addrFirst);
    cuts.push_back(b.addrLast + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  // Boxes by start; the active set is ordered by rule so painting is first-match.
  std::vector<size_t> byStart(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) byStart[i] = i;
  std::sort(byStart.begin(), byStart.end(),
            [&](size_t a, size_t b) { return boxes[a].addrFirst < boxes[b].addrFirst; });
  std::set<std::pair<size_t, size_t>> active;  // (rule, box)
  size_t next = 0;
  std::vector<Interval> previous;
  size_t firstOfPrevious = out.size();
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    uint64_t segFirst = cuts[c], segLast = cuts[c + 1] - 1;
    while (next < byStart.size() && boxes[byStart[next]].addrFirst <= segFirst) {
      active.insert({boxes[byStart[next]].rule, byStart[next]});
      ++next;
    }
    std::erase_if(active, [&](const auto& a) { return boxes[a.second].addrLast < segFirst; });
    Painter ports;
    for (const auto& [rule, box] : active) {
      if (ports.covers(0, 65535)) break;
      ports.paint(boxes[box].portFirst, boxes[box].portLast, rule);
    }
    std::vector<Interval> painted = ports.result();
    auto same = [](const std::vector<Interval>& a, const std::vector<Interval>& b) {
      return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.first == y.first && x.last == y.last && x.tag == y.tag;
      });
    };
    if (!painted.empty() && same(painted, previous) && out.size() > firstOfPrevious &&
        out.back().addrLast + uint64_t{1} == segFirst) {
      for (size_t k = firstOfPrevious; k < out.size(); ++k)
        out[k].addrLast = static_cast<uint32_t>(segLast);
      continue;
    }
    firstOfPrevious = out.size();
    for (const auto& iv : painted) {
      out.push_back(FilterEntry{.addrFirst = static_cast<uint32_t>(segFirst),
                                .addrLast = static_cast<uint32_t>(segLast),
                                .protoFirst = proto,
                                .protoLast = proto,
                                .portFirst = static_cast<uint16_t>(iv.first),
                                .portLast = static_cast<uint16_t>(iv.last),
                                .ports = true,
                                .rule = iv.tag});
    }
    previous = std::move(painted);
    checkSize(out.size(), kMaxPieces);
  }
}

// The rule holding the most pieces leaves them and is represented by its own
// boxes (resolved alone, so disjoint) in the fallback map, looked up after
// the first map: a packet the first map misses is one no earlier rule holds.
// Only where that saves entries. Address-only protocols are not cut into
// pieces by ports, so they keep one map.
void splitFallback(const std::vector<Box>& boxes, uint8_t proto, std::vector<FilterEntry>& pieces) {
  std::map<size_t, size_t> held;
  for (const auto& e : pieces) ++held[e.rule];
  auto most = std::max_element(held.begin(), held.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (most == held.end()) return;
  size_t rule = most->first;
  std::vector<Box> own;
  for (const auto& b : boxes) {
    if (b.rule == rule) own.push_back(b);
  }
  std::vector<FilterEntry> fallback;
  resolvePorts(own, proto, fallback);
  if (fallback.size() >= most->second) return;
  std::erase_if(pieces, [&](const FilterEntry& e) { return e.rule == rule; });
  for (auto& e : fallback) {
    e.fallback = true;
    pieces.push_back(e);
  }
}

// One dimension (address) for protocols without ports: each of `protos`
// (inclusive ranges) gets the painted address intervals.
void resolveAddresses(const std::vector<Box>& boxes,
                      const std::vector<std::pair<uint8_t, uint8_t>>& protos,
                      std::vector<FilterEntry>& out) {
  Painter addrs;
  for (const auto& b : boxes) addrs.paint(b.addrFirst, b.addrLast, b.rule);
  for (const auto& iv : addrs.result()) {
    for (const auto& [pf, pl] : protos) {
      out.push_back(FilterEntry{.addrFirst = static_cast<uint32_t>(iv.first),
                                .addrLast = static_cast<uint32_t>(iv.last),
                                .protoFirst = pf,
                                .protoLast = pl,
                                .rule = iv.tag});
    }
  }
  checkSize(out.size());
}

// --- nftables ----------------------------------------------------------------

std::string u8key(uint8_t v) {
  return std::string{static_cast<char>(v), '\0', '\0', '\0'};
}
std::string portKey(uint16_t port) {
  uint16_t be = htons(port);
  return std::string(reinterpret_cast<const char*>(&be), 2) + std::string(2, '\0');
}

NftSet filterMap(const std::string& name, bool ports) {
  NftSet s{.name = name,
           .flags = NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_CONCAT,
           .keyType = ports ? (kIpv4AddrType << 2 * kConcatBits) | (kProtoType << kConcatBits) |
                                  kServiceType
                            : (kIpv4AddrType << kConcatBits) | kProtoType,
           .keyLen = ports ? 12u : 8u,
           .dataType = NFT_DATA_VERDICT,
           .dataLen = kVerdictDataLen,
           .counter = true};
  s.fields = ports ? std::vector<uint8_t>{4, 1, 2} : std::vector<uint8_t>{4, 1};
  return s;
}

// The verdict of a rule's entries, and the log chain that carries it out when
// the rule logs.
struct RuleVerdict {
  int32_t code;
  std::string chain;
};

int32_t verdictOf(Direction d, PolicyAction a) {
  if (a == PolicyAction::Deny) return NF_DROP;
  // Egress allow returns to the filter chain so the destination's ingress
  // policy still applies; ingress allow is final.
  return d == Direction::Ingress ? NF_ACCEPT : NFT_RETURN;
}

bool hasChain(const NftTable& t, const std::string& chain) {
  return std::any_of(t.chains.begin(), t.chains.end(),
                     [&](const auto& c) { return c.name == chain; });
}

// The flow log's copy of a dropped packet (its prefix is only a marker).
NftExpr flowLogDrop() {
  return NftExpr{.name = "log", .key = kFlowLogGroup, .data = "flow: "};
}

// The chain dropped packets of rules without "log" go through while the
// VPC has a flow log.
constexpr const char* kFlowDropChain = "flow_drop";

void addFlowDropChain(NftTable& t) {
  if (hasChain(t, kFlowDropChain)) return;
  t.chains.push_back({.name = kFlowDropChain});
  t.rules.push_back(NftRule{kFlowDropChain, {flowLogDrop(), verdict(NF_DROP)}});
}

void addLogChain(NftTable& t, const std::string& chain, const EffectiveRule& r, int32_t code,
                 bool logDrops) {
  if (hasChain(t, chain)) return;
  t.chains.push_back({.name = chain});
  std::string prefix = "vpcd " + r.id + " " + toString(r.rule.action) + ": ";
  if (prefix.size() > 127) prefix.resize(127);  // NF_LOG_PREFIXLEN with its NUL
  std::vector<NftExpr> exprs{NftExpr{.name = "log", .key = kPolicyLogGroup, .data = prefix}};
  if (logDrops && code == NF_DROP) exprs.push_back(flowLogDrop());
  exprs.push_back(verdict(static_cast<uint32_t>(code)));
  t.rules.push_back(NftRule{chain, std::move(exprs)});
}

void addDirection(NftTable& t, const SubnetFilter& f, Direction d, bool logDrops) {
  const auto& rules = f.rules(d);
  std::string chain = filterChain(d, f.subnet);
  t.chains.push_back({.name = chain});
  std::vector<RuleVerdict> verdicts;
  for (const auto& r : rules) {
    int32_t code = verdictOf(d, r.rule.action);
    if (!r.rule.log && logDrops && code == NF_DROP) {
      addFlowDropChain(t);
      verdicts.push_back({NFT_GOTO, kFlowDropChain});
      continue;
    }
    if (!r.rule.log) {
      verdicts.push_back({code, ""});
      continue;
    }
    // One chain per logging rule, shared by the subnets it applies to.
    std::string logChain = "log_" + r.id;
    std::replace_if(
        logChain.begin(), logChain.end(), [](char c) { return !std::isalnum(c) && c != '-'; }, '_');
    addLogChain(t, logChain, r, code, logDrops);
    verdicts.push_back({NFT_GOTO, logChain});
  }
  NftSet l4 = filterMap(chain + "_l4", true), l3 = filterMap(chain + "_l3", false),
         fallback = filterMap(chain + "_fallback", true);
  for (const auto& e : resolveFilter(rules)) {
    const RuleVerdict& v = verdicts[e.rule];
    NftSetElem el{
        .verdict = v.code, .chain = v.chain, .comment = rules[e.rule].id, .counter = true};
    el.key = be32(e.addrFirst) + u8key(e.protoFirst);
    el.keyEnd = be32(e.addrLast) + u8key(e.protoLast);
    if (e.ports) {
      el.key += portKey(e.portFirst);
      el.keyEnd += portKey(e.portLast);
    }
    (e.fallback ? fallback : e.ports ? l4 : l3).elems.push_back(std::move(el));
  }
  uint32_t peerOffset = d == Direction::Ingress ? kSaddrOffset : kDaddrOffset;
  for (NftSet* map : {&l4, &l3, &fallback}) {
    if (map->elems.empty()) continue;
    std::vector<NftExpr> key = ipv4Only();  // so that `nft list` says ip saddr/daddr
    key.insert(key.end(), {ipField(peerOffset, NFT_REG_1), meta(NFT_META_L4PROTO, NFT_REG32_01)});
    if (map != &l3) key.push_back(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_02));
    NftExpr lookupMap = lookup(map->name);
    lookupMap.toVerdict = true;
    key.push_back(lookupMap);
    t.rules.push_back(NftRule{chain, key});
    t.sets.push_back(std::move(*map));
  }
  int32_t fallbackCode = verdictOf(d, f.defaultFor(d));
  std::vector<NftExpr> last{NftExpr{.name = "counter"}};
  if (logDrops && fallbackCode == NF_DROP) last.push_back(flowLogDrop());
  last.push_back(verdict(static_cast<uint32_t>(fallbackCode)));
  t.rules.push_back(NftRule{chain, std::move(last)});
}

// An interval map from subnet CIDRs (disjoint) to `jump <chain>`. As nft
// does for maps, every range gets its end element, even where the next range
// starts on the same key (leaving it out makes the kernel refuse the start).
NftSet dispatchMap(const std::string& name, const std::vector<SubnetFilter>& filters, Direction d) {
  NftSet s{.name = name,
           .flags = NFT_SET_INTERVAL | NFT_SET_MAP,
           .keyType = kIpv4AddrType,
           .keyLen = 4,
           .dataType = NFT_DATA_VERDICT,
           .dataLen = kVerdictDataLen};
  std::vector<const SubnetFilter*> sorted;
  for (const auto& f : filters) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->cidr < b->cidr; });
  if (!sorted.empty() && sorted.front()->cidr.network().value != 0)
    s.elems.push_back({.key = be32(0), .flags = NFT_SET_ELEM_INTERVAL_END});
  for (size_t i = 0; i < sorted.size(); ++i) {
    const Cidr& c = sorted[i]->cidr;
    s.elems.push_back({.key = be32(c.network().value),
                       .verdict = NFT_JUMP,
                       .chain = filterChain(d, sorted[i]->subnet)});
    uint64_t end = uint64_t{c.broadcast().value} + 1;
    if (end <= 0xffffffffu) {
      s.elems.push_back(
          {.key = be32(static_cast<uint32_t>(end)), .flags = NFT_SET_ELEM_INTERVAL_END});
    }
  }
  return s;
}

}  // namespace

std::string filterChain(Direction d, const std::string& subnet) {
  return (d == Direction::Ingress ? "in_" : "out_") + subnet;
}

std::vector<SubnetFilter> subnetFilters(const std::string& vpc,
                                        const std::vector<std::pair<std::string, Cidr>>& subnets,
                                        const std::vector<Policy>& policies) {
  std::vector<const Policy*> refs;
  for (const auto& p : policies) refs.push_back(&p);
  return subnetFilters(vpc, subnets, refs);
}

std::vector<SubnetFilter> subnetFilters(const std::string& vpc,
                                        const std::vector<std::pair<std::string, Cidr>>& subnets,
                                        const std::vector<const Policy*>& policies) {
  std::vector<SubnetFilter> out;
  for (const auto& [subnet, cidr] : subnets) {
    std::string target = vpc + "/" + subnet;
    SubnetFilter f{.subnet = subnet, .cidr = cidr};
    bool any = false;
    std::map<Direction, std::vector<std::pair<OrderKey, EffectiveRule>>> merged;
    for (const Policy* pp : policies) {
      const Policy& p = *pp;
      for (size_t s = 0; s < p.sections.size(); ++s) {
        const PolicySection& sec = p.sections[s];
        if (std::find(sec.appliesTo.begin(), sec.appliesTo.end(), target) == sec.appliesTo.end())
          continue;
        if (!any) f.defaultIngress = f.defaultEgress = PolicyAction::Allow;
        any = true;
        for (Direction d : {Direction::Ingress, Direction::Egress}) {
          if (sec.defaultFor(d) == PolicyAction::Deny)
            (d == Direction::Ingress ? f.defaultIngress : f.defaultEgress) = PolicyAction::Deny;
          const auto& rules = sec.rules(d);
          for (size_t i = 0; i < rules.size(); ++i) {
            OrderKey key{rules[i].priority, rules[i].action == PolicyAction::Deny ? 0 : 1, p.name,
                         s, i};
            merged[d].push_back(
                {key, EffectiveRule{rules[i], p.name + ":" + p.rulePath(s, d, i), p.name}});
          }
        }
      }
    }
    if (!any) continue;
    for (auto& [d, rules] : merged) {
      std::sort(rules.begin(), rules.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      auto& dest = d == Direction::Ingress ? f.ingress : f.egress;
      for (auto& [key, r] : rules) {
        r.order = dest.size();
        dest.push_back(std::move(r));
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<FilterEntry> resolveFilter(const std::vector<EffectiveRule>& rules) {
  std::map<uint8_t, std::vector<Box>> portBoxes;  // tcp, udp
  std::vector<Box> icmp, other;
  for (size_t i = 0; i < rules.size(); ++i) {
    const PolicyRule& r = rules[i].rule;
    std::vector<std::pair<uint64_t, uint64_t>> addrs;
    for (const auto& c : r.peers) addrs.emplace_back(c.network().value, c.broadcast().value);
    if (addrs.empty()) addrs.emplace_back(0, 0xffffffffu);
    std::vector<PortRange> ports = r.ports.empty() ? std::vector<PortRange>{{0, 65535}} : r.ports;
    std::vector<uint8_t> portProtos;
    if (r.protocol == PolicyProtocol::Tcp || r.protocol == PolicyProtocol::All)
      portProtos.push_back(kTcp);
    if (r.protocol == PolicyProtocol::Udp || r.protocol == PolicyProtocol::All)
      portProtos.push_back(kUdp);
    for (const auto& [af, al] : addrs) {
      for (uint8_t proto : portProtos) {
        for (const auto& p : ports) portBoxes[proto].push_back({af, al, p.first, p.last, i});
      }
      // Ports name tcp and udp only; a rule without ports covers every protocol.
      if (r.protocol == PolicyProtocol::Icmp ||
          (r.protocol == PolicyProtocol::All && r.ports.empty()))
        icmp.push_back({af, al, 0, 0, i});
      if (r.protocol == PolicyProtocol::All && r.ports.empty()) other.push_back({af, al, 0, 0, i});
    }
  }
  std::vector<FilterEntry> out;
  for (const auto& [proto, boxes] : portBoxes) {
    std::vector<FilterEntry> pieces;
    resolvePorts(boxes, proto, pieces);
    splitFallback(boxes, proto, pieces);
    out.insert(out.end(), pieces.begin(), pieces.end());
  }
  resolveAddresses(icmp, {{kIcmp, kIcmp}}, out);
  resolveAddresses(other, {{0, 0}, {2, 5}, {7, 16}, {18, 255}}, out);
  checkSize(out.size());
  return out;
}

std::optional<DefaultVerdict> defaultVerdictOf(const NftRule& r) {
  if (r.exprs.size() < 2 || r.exprs.front().name != "counter" || r.exprs.back().name != "immediate")
    return std::nullopt;
  for (size_t i = 1; i + 1 < r.exprs.size(); ++i) {
    if (r.exprs[i].name != "log") return std::nullopt;
  }
  return DefaultVerdict{r.exprs.front().packets, r.exprs.front().bytes,
                        static_cast<int32_t>(r.exprs.back().key) == NF_DROP};
}

void addFilters(NftTable& t, const std::vector<SubnetFilter>& filters, bool logDrops) {
  if (filters.empty()) return;
  t.chains.push_back({.name = kFilterChain});
  t.rules.push_back(rule("forward", {{jumpTo(NFT_GOTO, kFilterChain)}}));
  t.rules.push_back(rule(kFilterChain, {ctStateIn(kEstablishedRelated), {verdict(NF_ACCEPT)}}));
  // What conntrack cannot place in a connection (out-of-window segments,
  // stray packets of a closed one) is no new connection for a policy to allow.
  t.rules.push_back(rule(kFilterChain, {ctStateIn(NF_CT_STATE_INVALID_BIT), {verdict(NF_DROP)}}));
  t.sets.push_back(dispatchMap("egress", filters, Direction::Egress));
  t.sets.push_back(dispatchMap("ingress", filters, Direction::Ingress));
  for (auto [map, offset] :
       {std::pair{"egress", kSaddrOffset}, std::pair{"ingress", kDaddrOffset}}) {
    NftExpr l = lookup(map);
    l.toVerdict = true;
    t.rules.push_back(rule(kFilterChain, {ipv4Only(), {ipField(offset), l}}));
  }
  for (const auto& f : filters) {
    addDirection(t, f, Direction::Ingress, logDrops);
    addDirection(t, f, Direction::Egress, logDrops);
  }
}

}  // namespace vpcd
