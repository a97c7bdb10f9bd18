#pragma once
// Building blocks of nft bytecode shared by the table builders in lib/plan.
// The nft bytecode here is what `nft` itself emits for the same rules
// (checked with `nft --debug=netlink`), so `nft list` shows them readably.
#include <arpa/inet.h>  // htonl/htons only: keys and compare data are network order
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/plan/nft_model.h"

namespace vpcd::nftb {

inline constexpr uint32_t kReg = NFT_REG_1;
inline constexpr uint32_t kIpv4AddrType = 7;   // nft's TYPE_IPADDR, for `nft list` display
inline constexpr uint32_t kIfnameType = 41;    // nft's TYPE_IFNAME
inline constexpr uint32_t kEtherAddrType = 9;  // nft's TYPE_ETHERADDR
inline constexpr uint32_t kConcatBits = 6;     // nft's TYPE_BITS: concatenated types
inline constexpr int32_t kNatSrcPriority = 100;
inline constexpr uint32_t kSaddrOffset = 12;  // in the IPv4 header
inline constexpr uint32_t kDaddrOffset = 16;
inline constexpr uint32_t kArpShaOffset = 8;      // ARP sender hardware address
inline constexpr uint32_t kArpSpaOffset = 14;     // ARP sender protocol address
inline constexpr uint32_t kEtherSaddrOffset = 6;  // in the Ethernet header
inline constexpr uint16_t kEtherTypeIp = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;

inline std::string be32(uint32_t hostOrder) {
  uint32_t n = htonl(hostOrder);
  return std::string(reinterpret_cast<const char*>(&n), 4);
}
inline std::string u32(uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

// Interface names compare and concatenate as IFNAMSIZ bytes, zero padded.
inline std::string padded(const std::string& ifname) {
  std::string out = ifname;
  out.resize(16, '\0');
  return out;
}

inline NftExpr meta(uint32_t key, uint32_t reg = kReg) {
  return NftExpr{.name = "meta", .key = key, .dreg = reg};
}
inline NftExpr cmp(uint32_t op, std::string data) {
  return NftExpr{.name = "cmp", .sreg = kReg, .op = op, .data = std::move(data)};
}
inline NftExpr payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t reg = kReg) {
  return NftExpr{.name = "payload", .dreg = reg, .base = base, .offset = offset, .len = len};
}
inline NftExpr ipField(uint32_t offset, uint32_t reg = kReg) {
  return payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4, reg);
}
inline NftExpr bitmask(std::string mask) {
  return NftExpr{.name = "bitwise",
                 .dreg = kReg,
                 .sreg = kReg,
                 .len = 4,
                 .data = std::move(mask),
                 .xorData = u32(0)};
}
inline NftExpr lookup(const std::string& set, bool inverted = false) {
  return NftExpr{.name = "lookup",
                 .sreg = kReg,
                 .flags = inverted ? static_cast<uint32_t>(NFT_LOOKUP_F_INV) : 0u,
                 .set = set};
}
inline NftExpr verdict(uint32_t code) {
  return NftExpr{.name = "immediate", .key = code, .dreg = NFT_REG_VERDICT};
}

inline std::vector<NftExpr> ifname(uint32_t key, const std::string& name) {
  return {meta(key), cmp(NFT_CMP_EQ, padded(name))};
}

// In an inet table the IPv4 header is only there for IPv4. meta nfproto is
// one byte and compared as one, so `nft list` shows `ip saddr`, not raw bytes.
inline std::vector<NftExpr> ipv4Only() {
  return {meta(NFT_META_NFPROTO), cmp(NFT_CMP_EQ, std::string(1, static_cast<char>(NFPROTO_IPV4)))};
}

// `ip saddr|daddr <prefix>` in an ip-family table.
inline std::vector<NftExpr> ipAddrIn(uint32_t offset, const Cidr& prefix) {
  return {ipField(offset), bitmask(be32(prefix.mask())),
          cmp(NFT_CMP_EQ, be32(prefix.network().value))};
}

// `ip saddr @from ip daddr @to` in an inet table.
inline std::vector<NftExpr> between(const std::string& from, const std::string& to) {
  std::vector<NftExpr> out = ipv4Only();
  out.insert(out.end(), {ipField(kSaddrOffset), lookup(from), ipField(kDaddrOffset), lookup(to)});
  return out;
}

inline NftRule rule(std::string chain, std::initializer_list<std::vector<NftExpr>> parts) {
  NftRule r{std::move(chain), {}};
  for (const auto& p : parts) r.exprs.insert(r.exprs.end(), p.begin(), p.end());
  return r;
}

inline NftExpr jumpTo(int32_t code, const std::string& chain) {
  return NftExpr{.name = "immediate",
                 .key = static_cast<uint32_t>(code),
                 .dreg = NFT_REG_VERDICT,
                 .chain = chain};
}

inline constexpr uint32_t kEstablishedRelated =
    NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);

// The regular chain where policies begin (policy_compile.h).
inline constexpr const char* kFilterChain = "filter";

// `ct state <bits>`: any of the given conntrack states.
inline std::vector<NftExpr> ctStateIn(uint32_t bits) {
  return {NftExpr{.name = "ct", .key = NFT_CT_STATE, .dreg = kReg}, bitmask(u32(bits)),
          cmp(NFT_CMP_NEQ, u32(0))};
}

}  // namespace vpcd::nftb
