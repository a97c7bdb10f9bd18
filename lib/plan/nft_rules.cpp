#include "lib/plan/nft_rules.h"

#include <arpa/inet.h>  // htonl/htons only: keys and compare data are network order
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>

#include <algorithm>

namespace vpcd {
namespace {

// The nft bytecode below is what `nft` itself emits for the same rules
// (checked with `nft --debug=netlink`), so `nft list` shows them readably.

constexpr uint32_t kReg = NFT_REG_1;
constexpr uint32_t kIpv4AddrType = 7;  // nft's TYPE_IPADDR, for `nft list` display
constexpr uint32_t kIfnameType = 41;   // nft's TYPE_IFNAME
constexpr uint32_t kConcatBits = 6;    // nft's TYPE_BITS: concatenated types
constexpr int32_t kNatSrcPriority = 100;
constexpr uint32_t kSaddrOffset = 12;  // in the IPv4 header
constexpr uint32_t kDaddrOffset = 16;
constexpr uint32_t kArpSpaOffset = 14;  // ARP sender protocol address
constexpr uint16_t kEtherTypeIp = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;

std::string be32(uint32_t hostOrder) {
  uint32_t n = htonl(hostOrder);
  return std::string(reinterpret_cast<const char*>(&n), 4);
}
std::string u32(uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

// Interface names compare and concatenate as IFNAMSIZ bytes, zero padded.
std::string padded(const std::string& ifname) {
  std::string out = ifname;
  out.resize(16, '\0');
  return out;
}

NftExpr meta(uint32_t key, uint32_t reg = kReg) {
  return NftExpr{.name = "meta", .key = key, .dreg = reg};
}
NftExpr cmp(uint32_t op, std::string data) {
  return NftExpr{.name = "cmp", .sreg = kReg, .op = op, .data = std::move(data)};
}
NftExpr payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t reg = kReg) {
  return NftExpr{.name = "payload", .dreg = reg, .base = base, .offset = offset, .len = len};
}
NftExpr ipField(uint32_t offset, uint32_t reg = kReg) {
  return payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4, reg);
}
NftExpr bitmask(std::string mask) {
  return NftExpr{.name = "bitwise",
                 .dreg = kReg,
                 .sreg = kReg,
                 .len = 4,
                 .data = std::move(mask),
                 .xorData = u32(0)};
}
NftExpr lookup(const std::string& set, bool inverted = false) {
  return NftExpr{.name = "lookup",
                 .sreg = kReg,
                 .flags = inverted ? static_cast<uint32_t>(NFT_LOOKUP_F_INV) : 0u,
                 .set = set};
}
NftExpr verdict(uint32_t code) {
  return NftExpr{.name = "immediate", .key = code, .dreg = NFT_REG_VERDICT};
}

std::vector<NftExpr> ifname(uint32_t key, const std::string& name) {
  return {meta(key), cmp(NFT_CMP_EQ, padded(name))};
}

// In an inet table the IPv4 header is only there for IPv4. meta nfproto is
// one byte and compared as one, so `nft list` shows `ip saddr`, not raw bytes.
std::vector<NftExpr> ipv4Only() {
  return {meta(NFT_META_NFPROTO), cmp(NFT_CMP_EQ, std::string(1, static_cast<char>(NFPROTO_IPV4)))};
}

// `ip saddr|daddr <prefix>` in an ip-family table.
std::vector<NftExpr> ipAddrIn(uint32_t offset, const Cidr& prefix) {
  return {ipField(offset), bitmask(be32(prefix.mask())),
          cmp(NFT_CMP_EQ, be32(prefix.network().value))};
}

// `ip saddr @from ip daddr @to` in an inet table.
std::vector<NftExpr> between(const std::string& from, const std::string& to) {
  std::vector<NftExpr> out = ipv4Only();
  out.insert(out.end(), {ipField(kSaddrOffset), lookup(from), ipField(kDaddrOffset), lookup(to)});
  return out;
}

std::vector<NftExpr> etherType(uint16_t type) {
  uint16_t be = htons(type);
  return {payload(NFT_PAYLOAD_LL_HEADER, 12, 2),
          cmp(NFT_CMP_EQ, std::string(reinterpret_cast<const char*>(&be), 2))};
}

NftRule rule(std::string chain, std::initializer_list<std::vector<NftExpr>> parts) {
  NftRule r{std::move(chain), {}};
  for (const auto& p : parts) r.exprs.insert(r.exprs.end(), p.begin(), p.end());
  return r;
}

NftSet intervalSet(const std::string& name, const std::vector<Cidr>& prefixes) {
  return NftSet{.name = name,
                .flags = NFT_SET_INTERVAL,
                .keyType = kIpv4AddrType,
                .keyLen = 4,
                .elems = intervalElems(prefixes)};
}

void addPeerRules(NftTable& t, const PeerLink& peer) {
  std::string local = peer.peering + "-local", remote = peer.peering + "-remote";
  t.sets.push_back(intervalSet(local, peer.local));
  t.sets.push_back(intervalSet(remote, peer.remote));
  auto in = ifname(NFT_META_IIFNAME, peer.ifname), out = ifname(NFT_META_OIFNAME, peer.ifname);
  t.rules.push_back(rule("forward", {in, between(remote, local), {verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {in, {verdict(NF_DROP)}}));
  t.rules.push_back(rule("forward", {out, between(local, remote), {verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {out, {verdict(NF_DROP)}}));
}

// `iifname . <4 bytes at network header + offset> != @port_addrs drop`: the
// interface name fills register 1 (16 bytes), the address starts register 2.
NftRule spoofRule(const std::string& chain, uint16_t type, uint32_t offset) {
  return rule(chain, {etherType(type),
                      {meta(NFT_META_IIFNAME, NFT_REG_1), ipField(offset, NFT_REG_2),
                       lookup("port_addrs", true), verdict(NF_DROP)}});
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
    elems.push_back({be32(0), NFT_SET_ELEM_INTERVAL_END});
  for (const auto& [first, last] : ranges) {
    elems.push_back({be32(static_cast<uint32_t>(first)), 0});
    if (last <= 0xffffffffu)
      elems.push_back({be32(static_cast<uint32_t>(last)), NFT_SET_ELEM_INTERVAL_END});
  }
  return elems;
}

NftTable routerTable(const std::string& uplink, const std::vector<Cidr>& publicSubnets,
                     const std::vector<PeerLink>& peers) {
  NftTable t{.family = NFPROTO_INET, .name = "vpcd"};
  t.sets.push_back(intervalSet("public", publicSubnets));
  t.chains.push_back({"postrouting", "nat", NF_INET_POST_ROUTING, kNatSrcPriority, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT});

  auto toUplink = ifname(NFT_META_OIFNAME, uplink), fromUplink = ifname(NFT_META_IIFNAME, uplink);
  std::vector<NftExpr> saddr = ipv4Only();
  saddr.push_back(ipField(kSaddrOffset));
  uint32_t establishedRelated = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);

  t.rules.push_back(
      rule("postrouting", {toUplink, saddr, {lookup("public"), NftExpr{.name = "masq"}}}));
  t.rules.push_back(rule("forward", {toUplink, saddr, {lookup("public", true), verdict(NF_DROP)}}));
  t.rules.push_back(rule("forward", {fromUplink,
                                     {NftExpr{.name = "ct", .key = NFT_CT_STATE, .dreg = kReg},
                                      bitmask(u32(establishedRelated)), cmp(NFT_CMP_NEQ, u32(0)),
                                      verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {fromUplink, {verdict(NF_DROP)}}));
  for (const auto& peer : peers) addPeerRules(t, peer);
  t.canonicalize();
  return t;
}

NftTable bridgeTable(const std::vector<PortAddress>& ports,
                     const std::vector<std::pair<std::string, std::string>>& samePortPairs) {
  NftTable t{.family = NFPROTO_BRIDGE, .name = "vpcd"};
  NftSet addrs{
      .name = "port_addrs", .keyType = (kIfnameType << kConcatBits) | kIpv4AddrType, .keyLen = 20};
  for (const auto& p : ports) addrs.elems.push_back({padded(p.port) + be32(p.addr.value), 0});
  NftSet pairs{
      .name = "port_pairs", .keyType = (kIfnameType << kConcatBits) | kIfnameType, .keyLen = 32};
  for (const auto& [a, b] : samePortPairs) pairs.elems.push_back({padded(a) + padded(b), 0});
  t.sets = {addrs, pairs};
  t.chains.push_back({"input", "filter", NF_BR_LOCAL_IN, 0, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_BR_FORWARD, 0, NF_ACCEPT});
  for (const char* chain : {"input", "forward"}) {
    t.rules.push_back(spoofRule(chain, kEtherTypeIp, kSaddrOffset));
    t.rules.push_back(spoofRule(chain, kEtherTypeArp, kArpSpaOffset));
  }
  t.rules.push_back(
      rule("forward", {{meta(NFT_META_IIFNAME, NFT_REG_1), meta(NFT_META_OIFNAME, NFT_REG_2),
                        lookup("port_pairs", true), verdict(NF_DROP)}}));
  t.canonicalize();
  return t;
}

NftTable hostTable(const Cidr& transitPool, const std::string& uplink) {
  NftTable t{.family = NFPROTO_IPV4, .name = "vpcd"};
  t.chains.push_back({"postrouting", "nat", NF_INET_POST_ROUTING, kNatSrcPriority, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT});
  t.rules.push_back(rule("postrouting", {ipAddrIn(kSaddrOffset, transitPool),
                                         ifname(NFT_META_OIFNAME, uplink),
                                         {NftExpr{.name = "masq"}}}));
  // VPC routers are neighbours on the host; without this, one VPC could
  // reach another VPC's router through the host.
  t.rules.push_back(rule("forward", {ipAddrIn(kSaddrOffset, transitPool),
                                     ipAddrIn(kDaddrOffset, transitPool),
                                     {verdict(NF_DROP)}}));
  t.canonicalize();
  return t;
}

}  // namespace vpcd
