#pragma once
// NftTable values <-> libnftnl objects.
#include <memory>

#include "lib/plan/nft_model.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_set;
struct nftnl_rule;
struct nftnl_gen;

namespace vpcd {

struct NftnlDeleter {
  void operator()(nftnl_table* t) const;
  void operator()(nftnl_chain* c) const;
  void operator()(nftnl_set* s) const;
  void operator()(nftnl_rule* r) const;
  void operator()(nftnl_gen* g) const;
};
template <typename T>
using NftnlPtr = std::unique_ptr<T, NftnlDeleter>;

NftnlPtr<nftnl_table> encodeTable(const NftTable& t);
NftnlPtr<nftnl_chain> encodeChain(const NftTable& t, const NftChain& c);
// `id` ties the set to lookups in the same batch (NFTA_SET_ID). The set
// carries elements [first, first + count) of `s`.
NftnlPtr<nftnl_set> encodeSet(const NftTable& t, const NftSet& s, uint32_t id, size_t first = 0,
                              size_t count = 0);
NftnlPtr<nftnl_rule> encodeRule(const NftTable& t, const NftRule& r,
                                uint32_t (*setId)(const NftTable&, const std::string&));

// A string attribute a reply may lack (libnftnl then gives NULL).
inline std::string orEmpty(const char* s) {
  return s ? s : "";
}
NftChain decodeChain(nftnl_chain* c);
NftSet decodeSet(nftnl_set* s);  // without elements
std::vector<NftSetElem> decodeElems(nftnl_set* s);
NftRule decodeRule(nftnl_rule* r);

// Comments travel as nft's user data: one TLV of type 0 (the element's and
// the rule's comment type), its length counting the terminating NUL.
std::string commentTlv(const std::string& comment);
std::string commentOf(const std::string& tlv);

}  // namespace vpcd
