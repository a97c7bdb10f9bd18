#pragma once
// nftables content as plain values: tables, chains, sets and rules whose
// expressions mirror the kernel's nft bytecode one to one. The kernel adapter
// encodes these with libnftnl and decodes dumps back into them, so desired and
// observed tables compare with ==. Constants are the kernel's uapi numbers
// (linux/netfilter/nf_tables.h); nothing here performs I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpcd {

struct NftExpr {
  // meta, cmp, payload, bitwise, lookup, ct, immediate, masq, counter, log, nat, fib
  std::string name;
  uint32_t key = 0;  // meta/ct key; verdict code for immediate; group for log; nat type; fib result
  uint32_t dreg = 0;       // a lookup in a data map: where the element's data goes
  uint32_t sreg = 0;       // nat: the register of the address
  uint32_t sreg2 = 0;      // nat: the register of the port
  uint32_t op = 0;         // cmp operator
  uint32_t base = 0;       // payload base; nat family
  uint32_t offset = 0;     // payload offset
  uint32_t len = 0;        // payload and bitwise length
  uint32_t flags = 0;      // lookup flags (NFT_LOOKUP_F_INV); fib flags
  std::string data;        // cmp data; bitwise mask; log prefix
  std::string xorData;     // bitwise xor
  std::string set;         // lookup set name
  std::string chain;       // immediate jump/goto target
  bool toVerdict = false;  // a lookup in a verdict map (`vmap`): dreg is the verdict register

  // Counter values are what the kernel counted, not what was asked for:
  // they are read back for statistics but never make two tables differ.
  uint64_t packets = 0, bytes = 0;

  bool operator==(const NftExpr& o) const;
  std::string str() const;
};

struct NftRule {
  std::string chain;
  std::vector<NftExpr> exprs;
  bool operator==(const NftRule&) const = default;
};

// A chain of a table vpcd does not own, by family, table and name.
struct NftChainRef {
  uint32_t family = 0;
  std::string table;
  std::string chain;
};

struct NftChain {
  std::string name;
  std::string type;  // filter, nat; empty for a regular chain
  uint32_t hook = 0;
  int32_t priority = 0;
  uint32_t policy = 1;  // NF_ACCEPT
  bool operator==(const NftChain&) const = default;
};

struct NftSetElem {
  std::string key;     // raw bytes, network order as the kernel keeps them
  std::string keyEnd;  // last key of a range in a concatenated interval set
  std::string data;    // a data map's value (a port forward's address . port)
  uint32_t flags = 0;
  int32_t verdict = 0;              // verdict maps: NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_RETURN, ...
  std::string chain;                // jump/goto target of the verdict
  std::string comment;              // shown by `nft list`; names the policy rule
  bool counter = false;             // carries a counter expression
  uint64_t packets = 0, bytes = 0;  // read back, never compared (see NftExpr)

  bool operator==(const NftSetElem& o) const;
  bool operator<(const NftSetElem& o) const;
};

struct NftSet {
  std::string name;
  uint32_t flags = 0;
  uint32_t keyType = 0;
  uint32_t keyLen = 0;
  uint32_t dataType = 0;  // maps: NFT_DATA_VERDICT, or the type of the data (flags NFT_SET_MAP)
  uint32_t dataLen = 0;
  std::vector<uint8_t> fields;  // concatenations: length of each field in bytes
  bool counter = false;         // every element gets a counter
  std::vector<NftSetElem> elems;
  bool operator==(const NftSet&) const = default;
};

struct NftTable {
  uint32_t family = 0;  // NFPROTO_*
  std::string name;
  std::vector<NftChain> chains;
  std::vector<NftSet> sets;
  std::vector<NftRule> rules;

  // Sorts chains, sets and set elements, and groups rules by chain keeping
  // their order, so that a kernel dump and a built table compare equal.
  void canonicalize();
  bool operator==(const NftTable&) const = default;
  std::string familyName() const;
  std::string key() const { return familyName() + " " + name; }
  std::string str() const;
};

// Element changes to one set of a table whose chains, rules and set
// definitions stay as they are.
struct NftSetDelta {
  std::string set;
  bool flush = false;  // every element goes first (then `add` holds them all)
  std::vector<NftSetElem> remove, add;
};

// How table `from` becomes `to` by changing set elements only, in the order
// to send them; nullopt when anything else differs. A plain interval set
// (rbtree) losing any element is flushed and filled again: its elements are
// the two ends of merged ranges, and an end moving is not a change the kernel
// takes alone. A concatenated interval set (a policy filter map) holds whole
// ranges and gets exactly the elements that differ.
std::optional<std::vector<NftSetDelta>> setDeltas(const NftTable& from, const NftTable& to);

}  // namespace vpcd
