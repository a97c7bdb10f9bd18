#include "lib/plan/nft_rules.h"

#include <arpa/inet.h>  // htonl only: set keys and compare data are network order
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>

#include <algorithm>

namespace vpcd {
namespace {

constexpr uint32_t kReg = NFT_REG_1;
constexpr uint32_t kIpv4AddrType = 7;  // nft's TYPE_IPADDR, for `nft list` display
constexpr int32_t kNatSrcPriority = 100;

std::string be32(uint32_t hostOrder) {
  uint32_t n = htonl(hostOrder);
  return std::string(reinterpret_cast<const char*>(&n), 4);
}
std::string u32(uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

NftExpr meta(uint32_t key) {
  return NftExpr{.name = "meta", .key = key, .dreg = kReg};
}
NftExpr cmp(uint32_t op, std::string data) {
  return NftExpr{.name = "cmp", .sreg = kReg, .op = op, .data = std::move(data)};
}
NftExpr verdict(uint32_t code) {
  return NftExpr{.name = "immediate", .key = code, .dreg = NFT_REG_VERDICT};
}

// Interface names compare as IFNAMSIZ bytes, zero padded, as nft emits them.
std::vector<NftExpr> ifname(uint32_t key, const std::string& name) {
  std::string padded = name;
  padded.resize(16, '\0');
  return {meta(key), cmp(NFT_CMP_EQ, padded)};
}

// `ip saddr`: in an inet table the IPv4 header is only there for IPv4.
std::vector<NftExpr> ipSaddr(bool inetFamily) {
  std::vector<NftExpr> out;
  if (inetFamily) {
    out.push_back(meta(NFT_META_NFPROTO));
    // meta nfproto is one byte; compared as one so `nft list` shows `ip saddr`.
    out.push_back(cmp(NFT_CMP_EQ, std::string(1, static_cast<char>(NFPROTO_IPV4))));
  }
  out.push_back(NftExpr{
      .name = "payload", .dreg = kReg, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 12, .len = 4});
  return out;
}

constexpr uint32_t kSaddrOffset = 12;
constexpr uint32_t kDaddrOffset = 16;

// `ip saddr|daddr <prefix>` in an ip-family table.
std::vector<NftExpr> ipAddrIn(uint32_t offset, const Cidr& prefix) {
  return {NftExpr{.name = "payload",
                  .dreg = kReg,
                  .base = NFT_PAYLOAD_NETWORK_HEADER,
                  .offset = offset,
                  .len = 4},
          NftExpr{.name = "bitwise",
                  .dreg = kReg,
                  .sreg = kReg,
                  .len = 4,
                  .data = be32(prefix.mask()),
                  .xorData = u32(0)},
          cmp(NFT_CMP_EQ, be32(prefix.network().value))};
}

NftRule rule(std::string chain, std::initializer_list<std::vector<NftExpr>> parts) {
  NftRule r{std::move(chain), {}};
  for (const auto& p : parts) r.exprs.insert(r.exprs.end(), p.begin(), p.end());
  return r;
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

namespace {

NftSet intervalSet(const std::string& name, const std::vector<Cidr>& prefixes) {
  return NftSet{.name = name,
                .flags = NFT_SET_INTERVAL,
                .keyType = kIpv4AddrType,
                .keyLen = 4,
                .elems = intervalElems(prefixes)};
}

// `ip saddr @from ip daddr @to` in an inet table.
std::vector<NftExpr> between(const std::string& from, const std::string& to) {
  auto addr = [](uint32_t offset) {
    return NftExpr{.name = "payload",
                   .dreg = kReg,
                   .base = NFT_PAYLOAD_NETWORK_HEADER,
                   .offset = offset,
                   .len = 4};
  };
  return {meta(NFT_META_NFPROTO),
          cmp(NFT_CMP_EQ, std::string(1, static_cast<char>(NFPROTO_IPV4))),
          addr(12),
          NftExpr{.name = "lookup", .sreg = kReg, .set = from},
          addr(16),
          NftExpr{.name = "lookup", .sreg = kReg, .set = to}};
}

void addPeerRules(NftTable& t, const PeerLink& peer) {
  std::string local = peer.peering + "-local", remote = peer.peering + "-remote";
  t.sets.push_back(intervalSet(local, peer.local));
  t.sets.push_back(intervalSet(remote, peer.remote));
  t.rules.push_back(
      rule("forward",
           {ifname(NFT_META_IIFNAME, peer.ifname), between(remote, local), {verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {ifname(NFT_META_IIFNAME, peer.ifname), {verdict(NF_DROP)}}));
  t.rules.push_back(
      rule("forward",
           {ifname(NFT_META_OIFNAME, peer.ifname), between(local, remote), {verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {ifname(NFT_META_OIFNAME, peer.ifname), {verdict(NF_DROP)}}));
}

}  // namespace

NftTable routerTable(const std::string& uplink, const std::vector<Cidr>& publicSubnets,
                     const std::vector<PeerLink>& peers) {
  NftTable t{.family = NFPROTO_INET, .name = "vpcd"};
  t.sets.push_back(NftSet{.name = "public",
                          .flags = NFT_SET_INTERVAL,
                          .keyType = kIpv4AddrType,
                          .keyLen = 4,
                          .elems = intervalElems(publicSubnets)});
  t.chains.push_back({"postrouting", "nat", NF_INET_POST_ROUTING, kNatSrcPriority, NF_ACCEPT});
  t.chains.push_back({"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT});

  NftExpr inPublic{.name = "lookup", .sreg = kReg, .set = "public"};
  NftExpr notInPublic = inPublic;
  notInPublic.flags = NFT_LOOKUP_F_INV;
  uint32_t establishedRelated = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);

  t.rules.push_back(
      rule("postrouting",
           {ifname(NFT_META_OIFNAME, uplink), ipSaddr(true), {inPublic, NftExpr{.name = "masq"}}}));
  t.rules.push_back(
      rule("forward",
           {ifname(NFT_META_OIFNAME, uplink), ipSaddr(true), {notInPublic, verdict(NF_DROP)}}));
  t.rules.push_back(rule("forward", {ifname(NFT_META_IIFNAME, uplink),
                                     {NftExpr{.name = "ct", .key = NFT_CT_STATE, .dreg = kReg},
                                      NftExpr{.name = "bitwise",
                                              .dreg = kReg,
                                              .sreg = kReg,
                                              .len = 4,
                                              .data = u32(establishedRelated),
                                              .xorData = u32(0)},
                                      cmp(NFT_CMP_NEQ, u32(0)), verdict(NF_ACCEPT)}}));
  t.rules.push_back(rule("forward", {ifname(NFT_META_IIFNAME, uplink), {verdict(NF_DROP)}}));
  for (const auto& peer : peers) addPeerRules(t, peer);
  t.canonicalize();
  return t;
}

namespace {

constexpr uint32_t kIfnameType = 41;  // nft's TYPE_IFNAME
constexpr uint32_t kConcatBits = 6;   // nft's TYPE_BITS: concatenated types
constexpr uint16_t kEtherTypeIp = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;

std::string padded(const std::string& ifname) {
  std::string out = ifname;
  out.resize(16, '\0');
  return out;
}

std::vector<NftExpr> etherType(uint16_t type) {
  uint16_t be = htons(type);
  return {
      NftExpr{
          .name = "payload", .dreg = kReg, .base = NFT_PAYLOAD_LL_HEADER, .offset = 12, .len = 2},
      cmp(NFT_CMP_EQ, std::string(reinterpret_cast<const char*>(&be), 2))};
}

// `iifname . <4 bytes at network header + offset> != @port_addrs drop`: the
// interface name fills register 1 (16 bytes), the address starts register 2.
NftRule spoofRule(const std::string& chain, uint16_t type, uint32_t offset) {
  return rule(
      chain,
      {etherType(type),
       {NftExpr{.name = "meta", .key = NFT_META_IIFNAME, .dreg = NFT_REG_1},
        NftExpr{.name = "payload",
                .dreg = NFT_REG_2,
                .base = NFT_PAYLOAD_NETWORK_HEADER,
                .offset = offset,
                .len = 4},
        NftExpr{
            .name = "lookup", .sreg = NFT_REG_1, .flags = NFT_LOOKUP_F_INV, .set = "port_addrs"},
        verdict(NF_DROP)}});
}

}  // namespace

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
    t.rules.push_back(spoofRule(chain, kEtherTypeIp, 12));   // ip saddr
    t.rules.push_back(spoofRule(chain, kEtherTypeArp, 14));  // arp saddr ip
  }
  t.rules.push_back(rule(
      "forward",
      {{NftExpr{.name = "meta", .key = NFT_META_IIFNAME, .dreg = NFT_REG_1},
        NftExpr{.name = "meta", .key = NFT_META_OIFNAME, .dreg = NFT_REG_2},
        NftExpr{
            .name = "lookup", .sreg = NFT_REG_1, .flags = NFT_LOOKUP_F_INV, .set = "port_pairs"},
        verdict(NF_DROP)}}));
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
