#include "lib/kernel/nft_codec.h"

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <string_view>

namespace vpcd {
namespace {

void setData(nftnl_expr* e, uint16_t attr, const std::string& bytes) {
  nftnl_expr_set(e, attr, bytes.data(), static_cast<uint32_t>(bytes.size()));
}

std::string getData(const nftnl_expr* e, uint16_t attr) {
  if (!nftnl_expr_is_set(e, attr)) return "";
  uint32_t len = 0;
  auto* p = static_cast<const char*>(nftnl_expr_get(e, attr, &len));
  return std::string(p, len);
}

uint32_t getU32(const nftnl_expr* e, uint16_t attr) {
  return nftnl_expr_is_set(e, attr) ? nftnl_expr_get_u32(e, attr) : 0;
}

nftnl_expr* encodeExpr(const NftExpr& x, uint32_t setId) {
  nftnl_expr* e = nftnl_expr_alloc(x.name.c_str());
  std::string_view n = x.name;
  if (n == "meta") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, x.key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, x.dreg);
  } else if (n == "cmp") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, x.sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, x.op);
    setData(e, NFTNL_EXPR_CMP_DATA, x.data);
  } else if (n == "payload") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, x.dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, x.base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, x.offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, x.len);
  } else if (n == "bitwise") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, x.sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, x.dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, x.len);
    setData(e, NFTNL_EXPR_BITWISE_MASK, x.data);
    setData(e, NFTNL_EXPR_BITWISE_XOR, x.xorData);
  } else if (n == "lookup") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, x.sreg);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, x.set.c_str());
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, setId);
    if (x.flags) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, x.flags);
    if (x.toVerdict || x.dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, x.dreg);
  } else if (n == "ct") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, x.key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, x.dreg);
  } else if (n == "immediate") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, x.dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, x.key);
    if (!x.chain.empty()) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, x.chain.c_str());
  } else if (n == "nat") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, x.key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, x.base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, x.sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, x.sreg2);
  } else if (n == "fib") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, x.key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, x.flags);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, x.dreg);
  } else if (n == "log") {
    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, x.data.c_str());
    nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, static_cast<uint16_t>(x.key));
  }
  // masq and counter carry no attributes we set (a counter starts at zero).
  return e;
}

NftExpr decodeExpr(const nftnl_expr* e) {
  NftExpr x{.name = orEmpty(nftnl_expr_get_str(e, NFTNL_EXPR_NAME))};
  std::string_view n = x.name;
  if (n == "meta") {
    x.key = getU32(e, NFTNL_EXPR_META_KEY);
    x.dreg = getU32(e, NFTNL_EXPR_META_DREG);
  } else if (n == "cmp") {
    x.sreg = getU32(e, NFTNL_EXPR_CMP_SREG);
    x.op = getU32(e, NFTNL_EXPR_CMP_OP);
    x.data = getData(e, NFTNL_EXPR_CMP_DATA);
  } else if (n == "payload") {
    x.dreg = getU32(e, NFTNL_EXPR_PAYLOAD_DREG);
    x.base = getU32(e, NFTNL_EXPR_PAYLOAD_BASE);
    x.offset = getU32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
    x.len = getU32(e, NFTNL_EXPR_PAYLOAD_LEN);
  } else if (n == "bitwise") {
    x.sreg = getU32(e, NFTNL_EXPR_BITWISE_SREG);
    x.dreg = getU32(e, NFTNL_EXPR_BITWISE_DREG);
    x.len = getU32(e, NFTNL_EXPR_BITWISE_LEN);
    x.data = getData(e, NFTNL_EXPR_BITWISE_MASK);
    x.xorData = getData(e, NFTNL_EXPR_BITWISE_XOR);
  } else if (n == "lookup") {
    x.sreg = getU32(e, NFTNL_EXPR_LOOKUP_SREG);
    x.set = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET)
                ? nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET)
                : "";
    x.flags = getU32(e, NFTNL_EXPR_LOOKUP_FLAGS);
    x.dreg = getU32(e, NFTNL_EXPR_LOOKUP_DREG);
    x.toVerdict = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG) && x.dreg == NFT_REG_VERDICT;
  } else if (n == "ct") {
    x.key = getU32(e, NFTNL_EXPR_CT_KEY);
    x.dreg = getU32(e, NFTNL_EXPR_CT_DREG);
  } else if (n == "immediate") {
    x.dreg = getU32(e, NFTNL_EXPR_IMM_DREG);
    x.key = getU32(e, NFTNL_EXPR_IMM_VERDICT);
    if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
      x.chain = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
  } else if (n == "nat") {
    // The kernel fills in the range's maximum registers and flags from the
    // minimum ones: what we set is what identifies the rule.
    x.key = getU32(e, NFTNL_EXPR_NAT_TYPE);
    x.base = getU32(e, NFTNL_EXPR_NAT_FAMILY);
    x.sreg = getU32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN);
    x.sreg2 = getU32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN);
  } else if (n == "fib") {
    x.key = getU32(e, NFTNL_EXPR_FIB_RESULT);
    x.flags = getU32(e, NFTNL_EXPR_FIB_FLAGS);
    x.dreg = getU32(e, NFTNL_EXPR_FIB_DREG);
  } else if (n == "log") {
    x.data = nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX)
                 ? nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX)
                 : "";
    x.key = nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP) ? nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP)
                                                       : 0;
  } else if (n == "counter") {
    x.packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
    x.bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
  }
  return x;
}

std::string elemBytes(nftnl_set_elem* e, uint16_t attr) {
  if (!nftnl_set_elem_is_set(e, attr)) return "";
  uint32_t len = 0;
  auto* p = static_cast<const char*>(nftnl_set_elem_get(e, attr, &len));
  return p ? std::string(p, len) : std::string();
}

nftnl_set_elem* encodeElem(const NftSet& s, const NftSetElem& el) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el.key.data(), static_cast<uint32_t>(el.key.size()));
  if (!el.keyEnd.empty()) {
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, el.keyEnd.data(),
                       static_cast<uint32_t>(el.keyEnd.size()));
  }
  if (el.flags) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, el.flags);
  if (!el.data.empty()) {
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, el.data.data(),
                       static_cast<uint32_t>(el.data.size()));
  }
  if (s.dataType == NFT_DATA_VERDICT && !(el.flags & NFT_SET_ELEM_INTERVAL_END)) {
    nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(el.verdict));
    if (!el.chain.empty()) nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, el.chain.c_str());
  }
  if (!el.comment.empty()) {
    std::string tlv = commentTlv(el.comment);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, tlv.data(), static_cast<uint32_t>(tlv.size()));
  }
  return e;
}

NftSetElem decodeElem(nftnl_set_elem* e) {
  NftSetElem el{.key = elemBytes(e, NFTNL_SET_ELEM_KEY),
                .keyEnd = elemBytes(e, NFTNL_SET_ELEM_KEY_END),
                .data = elemBytes(e, NFTNL_SET_ELEM_DATA),
                .comment = commentOf(elemBytes(e, NFTNL_SET_ELEM_USERDATA))};
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
    el.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
    el.verdict = static_cast<int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
    el.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
  nftnl_set_elem_expr_foreach(
      e,
      [](nftnl_expr* x, void* data) {
        if (orEmpty(nftnl_expr_get_str(x, NFTNL_EXPR_NAME)) != "counter") return 0;
        auto* out = static_cast<NftSetElem*>(data);
        out->counter = true;
        out->packets = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_PACKETS);
        out->bytes = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_BYTES);
        return 0;
      },
      &el);
  return el;
}

}  // namespace

void NftnlDeleter::operator()(nftnl_table* t) const {
  nftnl_table_free(t);
}
void NftnlDeleter::operator()(nftnl_chain* c) const {
  nftnl_chain_free(c);
}
void NftnlDeleter::operator()(nftnl_set* s) const {
  nftnl_set_free(s);
}
void NftnlDeleter::operator()(nftnl_rule* r) const {
  nftnl_rule_free(r);
}
void NftnlDeleter::operator()(nftnl_gen* g) const {
  nftnl_gen_free(g);
}

NftnlPtr<nftnl_table> encodeTable(const NftTable& t) {
  NftnlPtr<nftnl_table> out(nftnl_table_alloc());
  nftnl_table_set_str(out.get(), NFTNL_TABLE_NAME, t.name.c_str());
  nftnl_table_set_u32(out.get(), NFTNL_TABLE_FAMILY, t.family);
  return out;
}

NftnlPtr<nftnl_chain> encodeChain(const NftTable& t, const NftChain& c) {
  NftnlPtr<nftnl_chain> out(nftnl_chain_alloc());
  nftnl_chain_set_str(out.get(), NFTNL_CHAIN_TABLE, t.name.c_str());
  nftnl_chain_set_str(out.get(), NFTNL_CHAIN_NAME, c.name.c_str());
  nftnl_chain_set_u32(out.get(), NFTNL_CHAIN_FAMILY, t.family);
  if (!c.type.empty()) {
    nftnl_chain_set_str(out.get(), NFTNL_CHAIN_TYPE, c.type.c_str());
    nftnl_chain_set_u32(out.get(), NFTNL_CHAIN_HOOKNUM, c.hook);
    nftnl_chain_set_s32(out.get(), NFTNL_CHAIN_PRIO, c.priority);
    nftnl_chain_set_u32(out.get(), NFTNL_CHAIN_POLICY, c.policy);
  }
  return out;
}

NftnlPtr<nftnl_set> encodeSet(const NftTable& t, const NftSet& s, uint32_t id, size_t first,
                              size_t count) {
  NftnlPtr<nftnl_set> out(nftnl_set_alloc());
  nftnl_set_set_str(out.get(), NFTNL_SET_TABLE, t.name.c_str());
  nftnl_set_set_str(out.get(), NFTNL_SET_NAME, s.name.c_str());
  nftnl_set_set_u32(out.get(), NFTNL_SET_FAMILY, t.family);
  nftnl_set_set_u32(out.get(), NFTNL_SET_FLAGS, s.flags);
  nftnl_set_set_u32(out.get(), NFTNL_SET_KEY_TYPE, s.keyType);
  nftnl_set_set_u32(out.get(), NFTNL_SET_KEY_LEN, s.keyLen);
  nftnl_set_set_u32(out.get(), NFTNL_SET_ID, id);
  if (s.dataType) {
    nftnl_set_set_u32(out.get(), NFTNL_SET_DATA_TYPE, s.dataType);
    nftnl_set_set_u32(out.get(), NFTNL_SET_DATA_LEN, s.dataLen);
  }
  if (!s.fields.empty()) {
    // libnftnl counts the fields up to the first zero length.
    uint8_t lens[NFT_REG32_COUNT] = {};
    std::copy(s.fields.begin(), s.fields.end(), lens);
    nftnl_set_set_data(out.get(), NFTNL_SET_DESC_CONCAT, lens,
                       static_cast<uint32_t>(s.fields.size()));
  }
  if (s.counter) nftnl_set_add_expr(out.get(), nftnl_expr_alloc("counter"));
  for (size_t k = first; k < first + count && k < s.elems.size(); ++k) {
    nftnl_set_elem_add(out.get(), encodeElem(s, s.elems[k]));
  }
  return out;
}

NftnlPtr<nftnl_rule> encodeRule(const NftTable& t, const NftRule& r,
                                uint32_t (*setId)(const NftTable&, const std::string&)) {
  NftnlPtr<nftnl_rule> out(nftnl_rule_alloc());
  nftnl_rule_set_str(out.get(), NFTNL_RULE_TABLE, t.name.c_str());
  nftnl_rule_set_str(out.get(), NFTNL_RULE_CHAIN, r.chain.c_str());
  nftnl_rule_set_u32(out.get(), NFTNL_RULE_FAMILY, t.family);
  for (const auto& x : r.exprs) {
    nftnl_rule_add_expr(out.get(), encodeExpr(x, x.set.empty() ? 0 : setId(t, x.set)));
  }
  return out;
}

NftChain decodeChain(nftnl_chain* c) {
  NftChain out{.name = orEmpty(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME))};
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)) {
    out.type = orEmpty(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
    out.hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
    out.priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
    out.policy = nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY);
  }
  return out;
}

NftSet decodeSet(nftnl_set* s) {
  NftSet out{.name = orEmpty(nftnl_set_get_str(s, NFTNL_SET_NAME)),
             .flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
             .keyType = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
             .keyLen = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN)};
  if (nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE)) {
    out.dataType = nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE);
    out.dataLen = nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN);
  }
  if (nftnl_set_is_set(s, NFTNL_SET_DESC_CONCAT)) {
    uint32_t n = 0;
    auto* lens = static_cast<const uint8_t*>(nftnl_set_get_data(s, NFTNL_SET_DESC_CONCAT, &n));
    out.fields.assign(lens, lens + n);
  }
  nftnl_set_expr_foreach(
      s,
      [](nftnl_expr* e, void* data) {
        if (orEmpty(nftnl_expr_get_str(e, NFTNL_EXPR_NAME)) == "counter")
          static_cast<NftSet*>(data)->counter = true;
        return 0;
      },
      &out);
  return out;
}

std::vector<NftSetElem> decodeElems(nftnl_set* s) {
  std::vector<NftSetElem> out;
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s);
  while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it)) {
    out.push_back(decodeElem(e));
  }
  nftnl_set_elems_iter_destroy(it);
  return out;
}

NftRule decodeRule(nftnl_rule* r) {
  NftRule out{.chain = orEmpty(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN))};
  nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  while (nftnl_expr* e = nftnl_expr_iter_next(it)) out.exprs.push_back(decodeExpr(e));
  nftnl_expr_iter_destroy(it);
  return out;
}

std::string commentTlv(const std::string& comment) {
  std::string tlv{'\0', static_cast<char>(comment.size() + 1)};
  return tlv + comment + '\0';
}

std::string commentOf(const std::string& tlv) {
  size_t at = 0;
  while (at + 2 <= tlv.size()) {
    auto type = static_cast<uint8_t>(tlv[at]), len = static_cast<uint8_t>(tlv[at + 1]);
    if (at + 2 + len > tlv.size()) break;
    if (type == 0 && len > 0) return std::string(tlv.data() + at + 2, len - 1);
    at += 2 + len;
  }
  return "";
}

}  // namespace vpcd
