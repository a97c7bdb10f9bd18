#include "lib/plan/nft_model.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <tuple>

namespace vpcd {
namespace {

std::string hex(const std::string& bytes) {
  std::string out;
  char buf[4];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

}  // namespace

bool NftExpr::operator==(const NftExpr& o) const {
  return std::tie(name, key, dreg, sreg, sreg2, op, base, offset, len, flags, data, xorData, set,
                  chain, toVerdict) == std::tie(o.name, o.key, o.dreg, o.sreg, o.sreg2, o.op,
                                                o.base, o.offset, o.len, o.flags, o.data, o.xorData,
                                                o.set, o.chain, o.toVerdict);
}

bool NftSetElem::operator==(const NftSetElem& o) const {
  return std::tie(key, keyEnd, data, flags, verdict, chain, comment, counter) ==
         std::tie(o.key, o.keyEnd, o.data, o.flags, o.verdict, o.chain, o.comment, o.counter);
}

// On an equal key an interval's end sorts before the next interval's start:
// the kernel takes them in that order only (as nft sends them).
bool NftSetElem::operator<(const NftSetElem& o) const {
  return std::tie(key, keyEnd, o.flags, data, verdict, chain, comment, counter) <
         std::tie(o.key, o.keyEnd, flags, o.data, o.verdict, o.chain, o.comment, o.counter);
}

std::string NftExpr::str() const {
  std::string out = "[" + name;
  auto field = [&](const char* label, uint32_t v) {
    out += " " + std::string(label) + "=" + std::to_string(v);
  };
  if (key) field("key", key);
  if (dreg) field("dreg", dreg);
  if (sreg) field("sreg", sreg);
  if (sreg2) field("sreg2", sreg2);
  if (op) field("op", op);
  if (name == "payload" || name == "nat") {
    field("base", base);
    field("offset", offset);
  }
  if (len) field("len", len);
  if (flags) field("flags", flags);
  if (!data.empty()) out += " data=" + hex(data);
  if (!xorData.empty()) out += " xor=" + hex(xorData);
  if (!set.empty()) out += " set=" + set;
  if (toVerdict) out += " vmap";
  if (!chain.empty()) out += " chain=" + chain;
  return out + "]";
}

void NftTable::canonicalize() {
  std::sort(chains.begin(), chains.end(),
            [](const NftChain& a, const NftChain& b) { return a.name < b.name; });
  std::sort(sets.begin(), sets.end(),
            [](const NftSet& a, const NftSet& b) { return a.name < b.name; });
  for (auto& s : sets) std::sort(s.elems.begin(), s.elems.end());
  std::stable_sort(rules.begin(), rules.end(),
                   [](const NftRule& a, const NftRule& b) { return a.chain < b.chain; });
}

// nftables' own names of the address families, as in `table ip vpcd`; they
// only label tables in keys, plans and messages.
std::string NftTable::familyName() const {
  switch (family) {
    case NFPROTO_INET:
      return "inet";
    case NFPROTO_IPV4:
      return "ip";
    case NFPROTO_BRIDGE:
      return "bridge";
    default:
      return "family" + std::to_string(family);
  }
}

std::string NftTable::str() const {
  std::string out = "table " + key() + "\n";
  for (const auto& c : chains)
    out += "  chain " + c.name + (c.type.empty() ? "" : " " + c.type) + "\n";
  for (const auto& s : sets)
    out += "  set " + s.name + " (" + std::to_string(s.elems.size()) + " elements)\n";
  for (const auto& r : rules) {
    out += "  rule " + r.chain + ":";
    for (const auto& e : r.exprs) out += " " + e.str();
    out += "\n";
  }
  return out;
}

namespace {

// Both canonical (sorted), so the differences are linear.
std::vector<NftSetElem> minus(const std::vector<NftSetElem>& a, const std::vector<NftSetElem>& b) {
  std::vector<NftSetElem> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

bool sameDefinition(const NftSet& a, const NftSet& b) {
  return std::tie(a.name, a.flags, a.keyType, a.keyLen, a.dataType, a.dataLen, a.fields,
                  a.counter) ==
         std::tie(b.name, b.flags, b.keyType, b.keyLen, b.dataType, b.dataLen, b.fields, b.counter);
}

}  // namespace

std::optional<std::vector<NftSetDelta>> setDeltas(const NftTable& from, const NftTable& to) {
  if (from.family != to.family || from.name != to.name || from.chains != to.chains ||
      from.rules != to.rules || from.sets.size() != to.sets.size()) {
    return std::nullopt;
  }
  std::vector<NftSetDelta> out;
  for (size_t i = 0; i < to.sets.size(); ++i) {
    const NftSet &have = from.sets[i], &want = to.sets[i];
    if (!sameDefinition(have, want)) return std::nullopt;
    if (have.elems == want.elems) continue;
    NftSetDelta d{.set = want.name, .remove = minus(have.elems, want.elems)};
    // Only the rbtree keeps a range as two elements whose ends move when
    // ranges merge; a concatenated (pipapo) set holds each range as one
    // element with both ends, removed and added exactly, and refilling it
    // costs the kernel O(n) per element (a 40,000-entry policy: minutes).
    bool rbtree = (want.flags & NFT_SET_INTERVAL) && !(want.flags & NFT_SET_CONCAT);
    if (rbtree && !d.remove.empty()) {
      d.flush = true;
      d.remove.clear();
      d.add = want.elems;
    } else {
      d.add = minus(want.elems, have.elems);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace vpcd
