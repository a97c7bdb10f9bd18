#include "lib/kernel/nft_codec.h"

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>

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
  } else if (n == "ct") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, x.key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, x.dreg);
  } else if (n == "immediate") {
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, x.dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, x.key);
  }
  // masq carries no attributes.
  return e;
}

NftExpr decodeExpr(const nftnl_expr* e) {
  NftExpr x{.name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME)};
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
  } else if (n == "ct") {
    x.key = getU32(e, NFTNL_EXPR_CT_KEY);
    x.dreg = getU32(e, NFTNL_EXPR_CT_DREG);
  } else if (n == "immediate") {
    x.dreg = getU32(e, NFTNL_EXPR_IMM_DREG);
    x.key = getU32(e, NFTNL_EXPR_IMM_VERDICT);
  }
  return x;
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
  for (size_t k = first; k < first + count && k < s.elems.size(); ++k) {
    const NftSetElem& el = s.elems[k];
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el.key.data(), static_cast<uint32_t>(el.key.size()));
    if (el.flags) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, el.flags);
    nftnl_set_elem_add(out.get(), e);
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
  NftChain out{.name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME)};
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)) {
    out.type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
    out.hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
    out.priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
    out.policy = nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY);
  }
  return out;
}

NftSet decodeSet(nftnl_set* s) {
  return NftSet{.name = nftnl_set_get_str(s, NFTNL_SET_NAME),
                .flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
                .keyType = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
                .keyLen = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN)};
}

std::vector<NftSetElem> decodeElems(nftnl_set* s) {
  std::vector<NftSetElem> out;
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s);
  while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it)) {
    uint32_t len = 0;
    auto* key = static_cast<const char*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
    uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
                         ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)
                         : 0;
    out.push_back({key ? std::string(key, len) : std::string(), flags});
  }
  nftnl_set_elems_iter_destroy(it);
  return out;
}

NftRule decodeRule(nftnl_rule* r) {
  NftRule out{.chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN)};
  nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  while (nftnl_expr* e = nftnl_expr_iter_next(it)) out.exprs.push_back(decodeExpr(e));
  nftnl_expr_iter_destroy(it);
  return out;
}

}  // namespace vpcd
