// What vpcd makes of the kernel's replies: the extended ack of an error
// (rtnetlink and nftables; one message, its length field set to what
// arrived, as recv() gives it), NFLOG datagrams (whose packet bytes come
// from whoever sent the packet), and the decoding of nftables dumps (chains,
// sets, set elements with their comment TLVs, rules with their expressions)
// from the objects libnftnl parses them into, and the reading of a reply
// buffer (runReplies), and conntrack messages and dropped packets as the
// flow logs read them (daemon/flow_collector.h). The first byte picks which.
#include <fuzzer/FuzzedDataProvider.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "lib/kernel/conntrack.h"
#include "lib/kernel/event_source.h"
#include "lib/kernel/netlink_socket.h"
#include "lib/kernel/nft_codec.h"
#include "lib/kernel/nft_kernel.h"
#include "lib/kernel/nl_route.h"

namespace {

// The message in memory aligned as a netlink buffer, its length its size.
std::vector<uint32_t> message(const uint8_t* data, size_t size) {
  std::vector<uint32_t> buf((std::max(size, sizeof(nlmsghdr)) + 3) / 4, 0);
  std::memcpy(buf.data(), data, size);
  reinterpret_cast<nlmsghdr*>(buf.data())->nlmsg_len = static_cast<uint32_t>(size);
  return buf;
}

// An nftables object as libnftnl hands it to vpcd's decoder, its attributes
// drawn from the input. libnftnl's own message parser is not driven here: it
// trusts the kernel by design (an attribute of an unexpected size makes it
// exit(), an expression without a name makes it strcmp NULL; both found by
// an earlier version of this target, docs/fuzzing.md), so what is vpcd's is
// what it does with any object libnftnl can produce.
struct ExprAttr {
  uint16_t attr;
  char type;  // '4' u32, '2' u16, '8' u64, 's' string, 'd' data
};
struct ExprKind {
  const char* name;
  std::vector<ExprAttr> attrs;
};

const std::vector<ExprKind>& exprKinds() {
  static const std::vector<ExprKind> kinds = {
      {"meta", {{NFTNL_EXPR_META_KEY, '4'}, {NFTNL_EXPR_META_DREG, '4'}}},
      {"cmp", {{NFTNL_EXPR_CMP_SREG, '4'}, {NFTNL_EXPR_CMP_OP, '4'}, {NFTNL_EXPR_CMP_DATA, 'd'}}},
      {"payload",
       {{NFTNL_EXPR_PAYLOAD_DREG, '4'},
        {NFTNL_EXPR_PAYLOAD_BASE, '4'},
        {NFTNL_EXPR_PAYLOAD_OFFSET, '4'},
        {NFTNL_EXPR_PAYLOAD_LEN, '4'}}},
      {"bitwise",
       {{NFTNL_EXPR_BITWISE_SREG, '4'},
        {NFTNL_EXPR_BITWISE_DREG, '4'},
        {NFTNL_EXPR_BITWISE_LEN, '4'},
        {NFTNL_EXPR_BITWISE_MASK, 'd'},
        {NFTNL_EXPR_BITWISE_XOR, 'd'}}},
      {"lookup",
       {{NFTNL_EXPR_LOOKUP_SREG, '4'},
        {NFTNL_EXPR_LOOKUP_SET, 's'},
        {NFTNL_EXPR_LOOKUP_FLAGS, '4'},
        {NFTNL_EXPR_LOOKUP_DREG, '4'}}},
      {"ct", {{NFTNL_EXPR_CT_KEY, '4'}, {NFTNL_EXPR_CT_DREG, '4'}}},
      {"immediate",
       {{NFTNL_EXPR_IMM_DREG, '4'}, {NFTNL_EXPR_IMM_VERDICT, '4'}, {NFTNL_EXPR_IMM_CHAIN, 's'}}},
      {"log", {{NFTNL_EXPR_LOG_PREFIX, 's'}, {NFTNL_EXPR_LOG_GROUP, '2'}}},
      {"counter", {{NFTNL_EXPR_CTR_PACKETS, '8'}, {NFTNL_EXPR_CTR_BYTES, '8'}}},
      {"masq", {}},
      {"reject", {}},
  };
  return kinds;
}

nftnl_expr* makeExpr(FuzzedDataProvider& in) {
  const auto& kinds = exprKinds();
  const ExprKind& k = kinds[in.ConsumeIntegralInRange<size_t>(0, kinds.size() - 1)];
  nftnl_expr* e = nftnl_expr_alloc(k.name);
  for (const auto& a : k.attrs) {
    if (!in.ConsumeBool()) continue;
    switch (a.type) {
      case '4':
        nftnl_expr_set_u32(e, a.attr, in.ConsumeIntegral<uint32_t>());
        break;
      case '2':
        nftnl_expr_set_u16(e, a.attr, in.ConsumeIntegral<uint16_t>());
        break;
      case '8':
        nftnl_expr_set_u64(e, a.attr, in.ConsumeIntegral<uint64_t>());
        break;
      case 's':
        nftnl_expr_set_str(e, a.attr, in.ConsumeRandomLengthString(64).c_str());
        break;
      default: {
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 16));
        if (bytes.empty()) bytes.push_back(0);  // as for a set's concat lengths
        nftnl_expr_set(e, a.attr, bytes.data(), static_cast<uint32_t>(bytes.size()));
      }
    }
  }
  // The kernel names a chain only with a jump or goto, and libnftnl frees
  // the name only then (an immediate with another verdict leaked it).
  if (std::strcmp(k.name, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, in.ConsumeBool() ? NFT_JUMP : NFT_GOTO);
  return e;
}

void setBytes(FuzzedDataProvider& in, nftnl_set_elem* e, uint16_t attr, size_t max) {
  auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, max));
  if (bytes.empty()) bytes.push_back(0);  // libnftnl exit()s on an empty key
  nftnl_set_elem_set(e, attr, bytes.data(), static_cast<uint32_t>(bytes.size()));
}

void nftObject(FuzzedDataProvider& in) {
  using namespace vpcd;
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0: {
      NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
      if (in.ConsumeBool()) nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, "forward");
      if (in.ConsumeBool()) {
        nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, in.ConsumeRandomLengthString(16).c_str());
        nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, in.ConsumeIntegral<uint32_t>());
        nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, in.ConsumeIntegral<int32_t>());
        nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, in.ConsumeIntegral<uint32_t>());
      }
      decodeChain(c.get());
      break;
    }
    case 1: {
      NftnlPtr<nftnl_set> s(nftnl_set_alloc());
      if (in.ConsumeBool()) nftnl_set_set_str(s.get(), NFTNL_SET_NAME, "subnets");
      nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, in.ConsumeIntegral<uint32_t>());
      if (in.ConsumeBool()) {
        nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, in.ConsumeIntegral<uint32_t>());
        nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, in.ConsumeIntegral<uint32_t>());
      }
      if (in.ConsumeBool()) {
        auto lens = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 16));
        if (lens.empty()) lens.push_back(0);  // libnftnl exit()s on no data at all
        nftnl_set_set_data(s.get(), NFTNL_SET_DESC_CONCAT, lens.data(),
                           static_cast<uint32_t>(lens.size()));
      }
      if (in.ConsumeBool()) nftnl_set_add_expr(s.get(), makeExpr(in));
      decodeSet(s.get());
      break;
    }
    case 2: {
      NftnlPtr<nftnl_set> s(nftnl_set_alloc());
      for (int n = in.ConsumeIntegralInRange(0, 8); n > 0; --n) {
        nftnl_set_elem* e = nftnl_set_elem_alloc();
        if (in.ConsumeBool()) setBytes(in, e, NFTNL_SET_ELEM_KEY, 16);
        if (in.ConsumeBool()) setBytes(in, e, NFTNL_SET_ELEM_KEY_END, 16);
        if (in.ConsumeBool())
          nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, in.ConsumeIntegral<uint32_t>());
        if (in.ConsumeBool())
          nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, in.ConsumeIntegral<uint32_t>());
        if (in.ConsumeBool())
          nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, in.ConsumeRandomLengthString(32).c_str());
        // The comment TLV vpcd writes and reads back (commentOf).
        if (in.ConsumeBool()) setBytes(in, e, NFTNL_SET_ELEM_USERDATA, 255);
        if (in.ConsumeBool()) nftnl_set_elem_add_expr(e, makeExpr(in));
        nftnl_set_elem_add(s.get(), e);
      }
      decodeElems(s.get());
      break;
    }
    default: {
      NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
      if (in.ConsumeBool()) nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, "filter");
      for (int n = in.ConsumeIntegralInRange(0, 12); n > 0; --n)
        nftnl_rule_add_expr(r.get(), makeExpr(in));
      decodeRule(r.get());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // 0xff: the reading of an nftables reply buffer (runReplies: errors,
  // acks, NLMSG_DONE, interrupted dumps); otherwise the four below.
  bool replies = data[0] == 0xff;
  uint8_t kind = data[0] % 4;
  ++data;
  --size;
  if (replies) {
    std::vector<uint32_t> buf((size + 3) / 4 + 1, 0);  // aligned, as recv() fills it
    if (size > 0) std::memcpy(buf.data(), data, size);
    vpcd::ReplyState::OnMessage ignore = [](const nlmsghdr*) {};
    vpcd::ReplyState st{&ignore};
    vpcd::runReplies(reinterpret_cast<const char*>(buf.data()), size, 0, st, true);
  } else if (kind == 0) {
    auto buf = message(data, size);
    if (size >= sizeof(nlmsghdr)) vpcd::extAckMessage(reinterpret_cast<nlmsghdr*>(buf.data()));
  } else if (kind == 1) {
    std::vector<uint32_t> buf((size + 3) / 4);
    if (size > 0) std::memcpy(buf.data(), data, size);  // an empty vector has no buffer
    const char* bytes = reinterpret_cast<const char*>(buf.data());
    vpcd::logLines(bytes, size);
    // The flow log's reading of the same datagram: the dropped packets.
    vpcd::eachNflogPacket(bytes, size, [](std::string_view, const uint8_t* p, size_t len) {
      vpcd::droppedPacket(p, len);
    });
  } else if (kind == 3) {
    // Conntrack events and dump answers: vpcd's own reading of them (the
    // message walk, a connection's id and counts). libnetfilter-conntrack's
    // parser is not driven: like libnftnl's it trusts the kernel by design
    // (an attribute of an unexpected size makes it exit(), found by this
    // target, docs/fuzzing.md), so every connection is "unchanged" here.
    std::vector<uint32_t> buf((size + 3) / 4 + 1, 0);
    if (size > 0) std::memcpy(buf.data(), data, size);
    bool done = false;
    std::set<uint32_t> ids;
    vpcd::conntrackEntries(
        reinterpret_cast<const char*>(buf.data()), size, &done,
        [](uint32_t, uint64_t, uint64_t) { return true; }, &ids);
  } else {
    FuzzedDataProvider in(data, size);
    nftObject(in);
  }
  return 0;
}
