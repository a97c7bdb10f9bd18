#include "lib/plan/nft_rules.h"

#include <arpa/inet.h>  // htonl/htons only: keys and compare data are network order
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>  // RTN_LOCAL, for fib

#include <algorithm>

#include "lib/plan/nft_build.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {
namespace {

using namespace nftb;  // NOLINT: the bytecode vocabulary of this file

std::vector<NftExpr> etherType(uint16_t type) {
  uint16_t be = htons(type);
  return {payload(NFT_PAYLOAD_LL_HEADER, 12, 2),
          cmp(NFT_CMP_EQ, std::string(reinterpret_cast<const char*>(&be), 2))};
}

NftSet intervalSet(const std::string& name, const std::vector<Cidr>& prefixes) {
  return NftSet{.name = name,
                .flags = NFT_SET_INTERVAL,
                .keyType = kIpv4AddrType,
                .keyLen = 4,
                .elems = intervalElems(prefixes)};
}

// `pass` is the verdict for traffic the structure allows: accept, or a goto
// into the policy filter when some subnet of the VPC has a policy.
void addPeerRules(NftTable& t, const PeerLink& peer, const NftExpr& pass) {
  std::string local = peer.peering + "-local", remote = peer.peering + "-remote";
  t.sets.push_back(intervalSet(local, peer.local));
  t.sets.push_back(intervalSet(remote, peer.remote));
  auto in = ifname(NFT_META_IIFNAME, peer.ifname), out = ifname(NFT_META_OIFNAME, peer.ifname);
  t.rules.push_back(rule("forward", {in, between(remote, local), {pass}}));
  t.rules.push_back(rule("forward", {in, {verdict(NF_DROP)}}));
  t.rules.push_back(rule("forward", {out, between(local, remote), {pass}}));
  t.rules.push_back(rule("forward", {out, {verdict(NF_DROP)}}));
}

// `iifname . <4 bytes at network header + offset> != @port_addrs drop`: the
// interface name fills register 1 (16 bytes), the address starts register 2.
NftRule spoofRule(const std::string& chain, uint16_t type, uint32_t offset) {
  return rule(chain, {etherType(type),
                      {meta(NFT_META_IIFNAME, NFT_REG_1), ipField(offset, NFT_REG_2),
                       lookup("port_addrs", true), verdict(NF_DROP)}});
}

// `[match] iifname . <6-byte MAC at base + offset> != @port_macs drop`.
NftRule macRule(const std::string& chain, const std::vector<NftExpr>& match, uint32_t base,
                uint32_t offset) {
  return rule(chain, {match,
                      {meta(NFT_META_IIFNAME, NFT_REG_1), payload(base, offset, 6, NFT_REG_2),
                       lookup("port_macs", true), verdict(NF_DROP)}});
}

// "02:ab:…" as set key bytes; a concatenated field fills whole registers.
std::string macKey(const std::string& mac) {
  std::string out;
  for (size_t i = 0; i + 1 < mac.size(); i += 3)
    out.push_back(static_cast<char>(std::stoi(mac.substr(i, 2), nullptr, 16)));
  out.resize(8, '\0');
  return out;
}

// A port as a concatenation field: two bytes, network order, in a register of four.
std::string portField(uint16_t port) {
  uint16_t be = htons(port);
  std::string out(reinterpret_cast<const char*>(&be), 2);
  out.resize(4, '\0');
  return out;
}
std::string protoField(uint8_t proto) {
  std::string out(4, '\0');
  out[0] = static_cast<char>(proto);
  return out;
}

constexpr uint32_t kInetProtoType = 12;    // nft's TYPE_INET_PROTOCOL
constexpr uint32_t kInetServiceType = 13;  // nft's TYPE_INET_SERVICE
constexpr uint32_t kAddrPortType = (kIpv4AddrType << kConcatBits) | kInetServiceType;
constexpr uint32_t kProtoPortType = (kInetProtoType << kConcatBits) | kInetServiceType;
constexpr uint32_t kTransportDport = 2;  // offset in the TCP and UDP headers
constexpr int32_t kNatDstPriority = -100;

NftSet forwardMap(const std::string& name, uint32_t keyType, uint32_t keyLen) {
  return NftSet{.name = name,
                .flags = NFT_SET_MAP,
                .keyType = keyType,
                .keyLen = keyLen,
                .dataType = kAddrPortType,
                .dataLen = 8};
}

// `meta l4proto . th dport` from register `reg` on (each field a 32-bit register).
std::vector<NftExpr> protoPort(uint32_t reg) {
  return {meta(NFT_META_L4PROTO, reg), payload(NFT_PAYLOAD_TRANSPORT_HEADER, kTransportDport, 2,
                                               reg == kReg ? uint32_t{NFT_REG32_01} : reg + 1)};
}

// `dnat ip to <key> map @map`: the element's address . port land in
// registers 1 and 9 (NFT_REG32_01), where the nat expression reads them.
std::vector<NftExpr> dnatByMap(const std::string& map) {
  NftExpr l = lookup(map);
  l.dreg = kReg;
  return {l, NftExpr{.name = "nat",
                     .key = NFT_NAT_DNAT,
                     .sreg = kReg,
                     .sreg2 = NFT_REG32_01,
                     .base = NFPROTO_IPV4}};
}

std::vector<NftExpr> ctDnat() {
  return {NftExpr{.name = "ct", .key = NFT_CT_STATUS, .dreg = kReg}, bitmask(u32(IPS_DST_NAT)),
          cmp(NFT_CMP_NEQ, u32(0))};
}

void addRouterForwards(NftTable& t, const std::string& uplink,
                       const std::vector<RouterForward>& forwards, const NftExpr& pass) {
  if (forwards.empty()) return;
  NftSet map = forwardMap("forwards", kProtoPortType, 8);
  for (const auto& f : forwards) {
    map.elems.push_back({.key = protoField(f.protocol) + portField(f.port),
                         .data = be32(f.target.value) + portField(f.targetPort)});
  }
  t.sets.push_back(std::move(map));
  t.chains.push_back({"prerouting", "nat", NF_INET_PRE_ROUTING, kNatDstPriority, NF_ACCEPT});
  std::vector<NftExpr> dnat = protoPort(kReg);
  for (auto& x : dnatByMap("forwards")) dnat.push_back(x);
  t.rules.push_back(rule("prerouting", {ifname(NFT_META_IIFNAME, uplink), ipv4Only(), dnat}));
  // Ahead of the drops: the replies of a private target leave with its own
  // (un-NATed) source, translated back only in postrouting.
  t.rules.insert(
      t.rules.begin(),
      rule("forward", {ifname(NFT_META_OIFNAME, uplink), ctDnat(), {verdict(NF_ACCEPT)}}));
  auto drop = std::find(t.rules.begin(), t.rules.end(),
                        rule("forward", {ifname(NFT_META_IIFNAME, uplink), {verdict(NF_DROP)}}));
  t.rules.insert(drop, rule("forward", {ifname(NFT_META_IIFNAME, uplink), ctDnat(), {pass}}));
}

}  // namespace

// Interval set elements as the kernel's rbtree keeps them: each range is a
// start element and an end element one past its last address; a leading
// "0.0.0.0 end" closes the gap before the first range, as nft itself adds.
// Adjacent or overlapping prefixes are merged first: an end and a start on the
// same key are refused by the kernel (EEXIST).
std::vector<NftSetElem> intervalElems(std::vector<Cidr> prefixes) {
  std::sort(prefixes.begin(), prefixes.end(),
            [](const Cidr& a, const Cidr& b) { return a.network() < b.network(); });
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [start, end)
  for (const auto& p : prefixes) {
    uint64_t first = p.network().value, last = uint64_t{p.broadcast().value} + 1;
    if (!ranges.empty() && first <= ranges.back().second) {
      ranges.back().second = std::max(ranges.back().second, last);
    } else {
      ranges.emplace_back(first, last);
    }
  }
  std::vector<NftSetElem> elems;
  if (!ranges.empty() && ranges.front().first != 0)
    elems.push_back({.key = be32(0), .flags = NFT_SET_ELEM_INTERVAL_END});
  for (const auto& [first, last] : ranges) {
    elems.push_back({.key = be32(static_cast<uint32_t>(first))});
    if (last <= 0xffffffffu)
      elems.push_back(
          {.key = be32(static_cast<uint32_t>(last)), .flags = NFT_SET_ELEM_INTERVAL_END});
  }
  return elems;
}

NftTable routerTable(const std::string& uplink, const std::vector<Cidr>& publicSubnets,
                     const std::vector<PeerLink>& peers, const std::vector<SubnetFilter>& filters,
                     const std::vector<RouterForward>& forwards, bool logDrops) {
  NftTable t{.family = NFPROTO_INET, .name = "vpcd"};
  t.sets.push_back(intervalSet("public", publicSubnets));
  t.chains.push_back({"postrouting", "nat", NF_INET_POST_ROUTING, kNatSrcPriority, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT});

  auto toUplink = ifname(NFT_META_OIFNAME, uplink), fromUplink = ifname(NFT_META_IIFNAME, uplink);
  std::vector<NftExpr> saddr = ipv4Only();
  saddr.push_back(ipField(kSaddrOffset));

  t.rules.push_back(
      rule("postrouting", {toUplink, saddr, {lookup("public"), NftExpr{.name = "masq"}}}));
  t.rules.push_back(rule("forward", {toUplink, saddr, {lookup("public", true), verdict(NF_DROP)}}));
  t.rules.push_back(
      rule("forward", {fromUplink, ctStateIn(kEstablishedRelated), {verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {fromUplink, {verdict(NF_DROP)}}));
  NftExpr pass = filters.empty() ? verdict(NF_ACCEPT) : jumpTo(NFT_GOTO, kFilterChain);
  addRouterForwards(t, uplink, forwards, pass);
  for (const auto& peer : peers) addPeerRules(t, peer, pass);
  addFilters(t, filters, logDrops);
  t.canonicalize();
  return t;
}

NftTable bridgeTable(const std::vector<PortAddress>& ports,
                     const std::vector<std::pair<std::string, std::string>>& samePortPairs) {
  NftTable t{.family = NFPROTO_BRIDGE, .name = "vpcd"};
  NftSet macs{
      .name = "port_macs", .keyType = (kIfnameType << kConcatBits) | kEtherAddrType, .keyLen = 24};
  NftSet addrs{
      .name = "port_addrs", .keyType = (kIfnameType << kConcatBits) | kIpv4AddrType, .keyLen = 20};
  for (const auto& p : ports) {
    macs.elems.push_back({.key = padded(p.port) + macKey(p.mac)});
    addrs.elems.push_back({.key = padded(p.port) + be32(p.addr.value)});
  }
  NftSet pairs{
      .name = "port_pairs", .keyType = (kIfnameType << kConcatBits) | kIfnameType, .keyLen = 32};
  for (const auto& [a, b] : samePortPairs) pairs.elems.push_back({.key = padded(a) + padded(b)});
  t.sets = {macs, addrs, pairs};
  t.chains.push_back({"input", "filter", NF_BR_LOCAL_IN, 0, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_BR_FORWARD, 0, NF_ACCEPT});
  for (const char* chain : {"input", "forward"}) {
    t.rules.push_back(macRule(chain, {}, NFT_PAYLOAD_LL_HEADER, kEtherSaddrOffset));
    t.rules.push_back(
        macRule(chain, etherType(kEtherTypeArp), NFT_PAYLOAD_NETWORK_HEADER, kArpShaOffset));
    t.rules.push_back(spoofRule(chain, kEtherTypeIp, kSaddrOffset));
    t.rules.push_back(spoofRule(chain, kEtherTypeArp, kArpSpaOffset));
  }
  t.rules.push_back(
      rule("forward", {{meta(NFT_META_IIFNAME, NFT_REG_1), meta(NFT_META_OIFNAME, NFT_REG_2),
                        lookup("port_pairs", true), verdict(NF_DROP)}}));
  t.canonicalize();
  return t;
}

const NftChainRef kDockerUserChain{NFPROTO_IPV4, "filter", "DOCKER-USER"};

std::vector<NftRule> transitAccepts(const std::vector<std::string>& transitLinks) {
  std::vector<NftRule> rules;
  for (const auto& link : transitLinks) {
    for (uint32_t key : {NFT_META_IIFNAME, NFT_META_OIFNAME})
      rules.push_back(rule(kDockerUserChain.chain, {ifname(key, link), {verdict(NF_ACCEPT)}}));
  }
  return rules;
}

namespace {

void addHostForwards(NftTable& t, const Cidr& pool, const std::vector<HostForward>& forwards) {
  if (forwards.empty()) return;
  NftSet any = forwardMap("forwards_any", kProtoPortType, 8);
  NftSet at = forwardMap("forwards_at", (kIpv4AddrType << (2 * kConcatBits)) | kProtoPortType, 12);
  for (const auto& f : forwards) {
    std::string data = be32(f.router.value) + portField(f.port);
    std::string key = protoField(f.protocol) + portField(f.port);
    if (f.listen) {
      at.elems.push_back({.key = be32(f.listen->value) + key, .data = data});
    } else {
      any.elems.push_back({.key = key, .data = data});
    }
  }
  t.sets = {any, at};
  t.chains.push_back({"prerouting", "nat", NF_INET_PRE_ROUTING, kNatDstPriority, NF_ACCEPT});
  t.chains.push_back({"output", "nat", NF_INET_LOCAL_OUT, kNatDstPriority, NF_ACCEPT});
  std::vector<NftExpr> local = {
      NftExpr{
          .name = "fib", .key = NFT_FIB_RESULT_ADDRTYPE, .dreg = kReg, .flags = NFTA_FIB_F_DADDR},
      cmp(NFT_CMP_EQ, u32(RTN_LOCAL))};
  std::vector<NftExpr> byAny = protoPort(kReg), byAt = {ipField(kDaddrOffset)};
  for (auto& x : dnatByMap("forwards_any")) byAny.push_back(x);
  for (auto& x : protoPort(NFT_REG32_01)) byAt.push_back(x);
  for (auto& x : dnatByMap("forwards_at")) byAt.push_back(x);
  // The host's own connections to 127.0.0.1 stay local: translated to a
  // router they would carry a loopback source out of the host.
  std::vector<NftExpr> notLoopback = {payload(NFT_PAYLOAD_NETWORK_HEADER, kDaddrOffset, 1),
                                      cmp(NFT_CMP_NEQ, std::string(1, '\x7f'))};
  t.rules.push_back(rule("prerouting", {local, byAny}));
  t.rules.push_back(rule("prerouting", {byAt}));
  t.rules.push_back(rule("output", {notLoopback, local, byAny}));
  t.rules.push_back(rule("output", {byAt}));
  t.rules.push_back(rule("postrouting", {ipAddrIn(kSaddrOffset, pool),
                                         ipAddrIn(kDaddrOffset, pool),
                                         ctDnat(),
                                         {NftExpr{.name = "masq"}}}));
  t.rules.push_back(rule("forward", {ipAddrIn(kSaddrOffset, pool),
                                     ipAddrIn(kDaddrOffset, pool),
                                     ctDnat(),
                                     {verdict(NF_ACCEPT)}}));
}

}  // namespace

NftTable hostTable(const Cidr& transitPool, const std::string& uplink,
                   const std::vector<HostForward>& forwards) {
  NftTable t{.family = NFPROTO_IPV4, .name = "vpcd"};
  addHostForwards(t, transitPool, forwards);
  t.chains.push_back({"postrouting", "nat", NF_INET_POST_ROUTING, kNatSrcPriority, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT});
  if (!uplink.empty()) {
    t.rules.push_back(rule("postrouting", {ipAddrIn(kSaddrOffset, transitPool),
                                           ifname(NFT_META_OIFNAME, uplink),
                                           {NftExpr{.name = "masq"}}}));
  }
  // VPC routers are neighbours on the host; without this, one VPC could
  // reach another VPC's router through the host.
  t.rules.push_back(rule("forward", {ipAddrIn(kSaddrOffset, transitPool),
                                     ipAddrIn(kDaddrOffset, transitPool),
                                     {verdict(NF_DROP)}}));
  t.canonicalize();
  return t;
}

}  // namespace vpcd
