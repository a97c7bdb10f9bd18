#include "lib/kernel/nft_kernel.h"

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <functional>
#include <set>
#include <tuple>
#include <vector>

#include "lib/kernel/kernel.h"
#include "lib/kernel/netns.h"
#include "lib/kernel/nft_codec.h"
#include "lib/kernel/nl_route.h"

namespace vpcd {
namespace {

int dataCallback(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<ReplyState*>(data);
  if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) st->interrupted = true;
  if (st->onMessage && *st->onMessage) (*st->onMessage)(nlh);
  return MNL_CB_OK;
}

int errorCallback(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<ReplyState*>(data);
  st->answered = true;
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
    // Too short to say which error: never from the kernel, so not trusted.
    if (st->error == 0) st->error = EBADMSG;
    return MNL_CB_OK;
  }
  auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  if (err->error == 0) return MNL_CB_OK;  // an ack
  if (st->error == 0) {
    st->error = -err->error;
    st->extAck = extAckMessage(nlh);
  }
  return MNL_CB_OK;  // keep reading: the kernel queued a reply for every message
}

// Reads replies until the queue is empty (nfnetlink answers a batch while
// processing the sendmsg call, so everything is queued when it returns) or, for
// dumps, until NLMSG_DONE.
void readReplies(mnl_socket* sock, uint32_t portId, ReplyState& st, bool untilDone) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  for (;;) {
    ssize_t n = recv(mnl_socket_get_fd(sock), buf.data(), buf.size(), untilDone ? 0 : MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      st.error = errno;
      return;
    }
    if (!runReplies(buf.data(), static_cast<size_t>(n), portId, st, untilDone)) return;
  }
}

}  // namespace

bool runReplies(const char* buf, size_t len, uint32_t portId, ReplyState& st, bool untilDone) {
  // libmnl trusts the kernel's lengths: one past INT_MAX reads as negative
  // and its walk leaves the buffer (found by fuzz_kernel_replies). The
  // framing is checked here first; bytes that are not whole messages are a
  // reply that cannot be read, not one to guess at.
  for (size_t off = 0; off < len;) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf + off);
    if (len - off < sizeof(nlmsghdr) || h->nlmsg_len < sizeof(nlmsghdr) ||
        h->nlmsg_len > len - off) {
      if (st.error == 0) st.error = EBADMSG;
      return false;
    }
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  // With a control array, libmnl no longer applies its defaults to the
  // control messages it covers, so NLMSG_DONE must stop the run explicitly.
  mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
  ctl[NLMSG_ERROR] = errorCallback;
  ctl[NLMSG_DONE] = [](const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) static_cast<ReplyState*>(data)->interrupted = true;
    return MNL_CB_STOP;
  };
  int rc = mnl_cb_run2(buf, len, 0, portId, dataCallback, &st, ctl, NLMSG_MIN_TYPE);
  if (rc < 0 && errno == EINTR) {
    // libmnl stops at a message flagged NLM_F_DUMP_INTR, without running
    // it, and says EINTR: the dump is torn (read again by the caller), not
    // failed. What is left of it is read and dropped up to its end, so that
    // the next request does not meet it.
    st.interrupted = true;
    int left = static_cast<int>(len);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(m, left);
         m = mnl_nlmsg_next(m, &left)) {
      if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR) return false;
    }
    return true;
  }
  if (rc == MNL_CB_STOP && untilDone) return false;  // NLMSG_DONE
  if (rc < 0 && errno != ESRCH) {
    st.error = st.error ? st.error : errno;
    return false;
  }
  return !(untilDone && st.answered);  // a non-dump request ends with its ack
}

namespace {

// NFTA_SET_ID ties a lookup to a set made in the same transaction; one
// transaction holds the `vpcd` table of several families, so the family is
// part of the id.
// At most 64 bytes of key and ~40 of attributes per element: 32 elements
// stay far below the 4 KiB batch page.
constexpr size_t kElemsPerMessage = 32;

uint32_t setIdOf(const NftTable& t, const std::string& name) {
  for (size_t i = 0; i < t.sets.size(); ++i) {
    if (t.sets[i].name == name) return t.family * 4096 + static_cast<uint32_t>(i + 1);
  }
  return 0;
}

}  // namespace

// nft's own batch page (32 memory pages): a 10 MB policy is ~80 pages, far
// below the 1,024 iovecs one sendmsg takes (UIO_MAXIOV, else EMSGSIZE).
constexpr uint32_t kBatchPage = 32 * 4096;

struct NftSocket::Batch {
  nftnl_batch* b = nftnl_batch_alloc(kBatchPage, MNL_SOCKET_BUFFER_SIZE);
  uint32_t& seq;
  explicit Batch(uint32_t& s) : seq(s) {
    nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(b)), seq++);
    nftnl_batch_update(b);
  }
  ~Batch() { nftnl_batch_free(b); }
  // Every message asks for an ack, except set elements (`ack` false): a
  // large set is hundreds of messages, and their acks would overrun the
  // receive buffer. A failing message is reported with or without the flag.
  nlmsghdr* header(uint16_t type, uint32_t family, uint16_t flags, bool ack = true) {
    return nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(b)), type, family,
                                 flags | (ack ? NLM_F_ACK : 0), seq++);
  }
  void next() { nftnl_batch_update(b); }
};

NftSocket::NftSocket(int nsFd, std::string nsName)
    : seq_(static_cast<uint32_t>(time(nullptr))), ns_(std::move(nsName)) {
  NetnsGuard in(nsFd);
  sock_ = mnl_socket_open(NETLINK_NETFILTER);
  if (!sock_) throw KernelError("nftables socket", displayName(ns_), std::strerror(errno));
  if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
    std::string why = std::strerror(errno);
    mnl_socket_close(sock_);
    throw KernelError("nftables bind", displayName(ns_), why);
  }
  int one = 1;
  mnl_socket_setsockopt(sock_, NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(sock_, NETLINK_CAP_ACK, &one, sizeof one);
  portId_ = mnl_socket_get_portid(sock_);
}

NftSocket::~NftSocket() {
  mnl_socket_close(sock_);
}

void NftSocket::send(Batch& batch, const std::string& what) {
  nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(batch.b)), seq_++);
  nftnl_batch_update(batch.b);
  int iovlen = nftnl_batch_iovec_len(batch.b);
  std::vector<iovec> iov(static_cast<size_t>(iovlen));
  nftnl_batch_iovec(batch.b, iov.data(), static_cast<uint32_t>(iovlen));
  // A large policy is a batch of megabytes; netlink takes one sendmsg only
  // up to the socket's send buffer, so it grows to the batch (as nft does).
  size_t total = 0;
  for (const auto& v : iov) total += v.iov_len;
  // The whole transaction must be one sendmsg (nfnetlink reads a batch from
  // one message); beyond the iovec limit it goes as one contiguous buffer.
  std::vector<char> flat;
  if (iov.size() > IOV_MAX) {
    flat.reserve(total);
    for (const auto& v : iov)
      flat.insert(flat.end(), static_cast<char*>(v.iov_base),
                  static_cast<char*>(v.iov_base) + v.iov_len);
    iov.assign(1, iovec{flat.data(), flat.size()});
  }
  if (total > sndbuf_) {
    int size = static_cast<int>(total);
    if (setsockopt(mnl_socket_get_fd(sock_), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) == 0)
      sndbuf_ = total;
  }
  sockaddr_nl snl{.nl_family = AF_NETLINK, .nl_pad = 0, .nl_pid = 0, .nl_groups = 0};
  msghdr msg{};
  msg.msg_name = &snl;
  msg.msg_namelen = sizeof snl;
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  if (sendmsg(mnl_socket_get_fd(sock_), &msg, 0) < 0) {
    int err = errno;
    throw KernelError("nftables transaction", what + " in " + displayName(ns_), std::strerror(err),
                      err);
  }
  ReplyState st{nullptr};
  readReplies(sock_, portId_, st, false);
  if (st.error) {
    std::string message = std::strerror(st.error);
    if (!st.extAck.empty()) message += " (" + st.extAck + ")";
    throw KernelError("nftables transaction", what + " in " + displayName(ns_), message, st.error);
  }
}

namespace {

// One dump request; returns the kernel's errno (0 on success).
int dumpRequest(mnl_socket* sock, uint32_t portId, uint32_t& seq, uint16_t type, uint32_t family,
                uint16_t flags, const std::function<void(nlmsghdr*)>& payload,
                const ReplyState::OnMessage& onMessage) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  // A dump ends with NLMSG_DONE; a plain get asks for an ack to know its end.
  uint16_t ack = (flags & NLM_F_DUMP) ? 0 : NLM_F_ACK;
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), type, family, flags | ack, seq++);
  payload(nlh);
  if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) return errno;
  ReplyState st{&onMessage};
  readReplies(sock, portId, st, true);
  if (st.interrupted && !st.error) throw DumpInterrupted{};
  return st.error;
}

// One dump, read again while the kernel marks it interrupted; `fn` starts
// from nothing each time. EAGAIN after kSnapshotAttempts.
template <typename Fn>
int retryInterrupted(Fn&& fn) {
  for (int attempt = 0; attempt < kSnapshotAttempts; ++attempt) {
    try {
      return fn();
    } catch (const DumpInterrupted&) {
    }
  }
  return EAGAIN;
}

}  // namespace

uint32_t NftSocket::generation() {
  uint32_t gen = 0;
  int err = dumpRequest(
      sock_, portId_, seq_, NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, [](nlmsghdr*) {},
      [&](const nlmsghdr* h) {
        NftnlPtr<nftnl_gen> g(nftnl_gen_alloc());
        if (nftnl_gen_nlmsg_parse(h, g.get()) == 0) gen = nftnl_gen_get_u32(g.get(), NFTNL_GEN_ID);
      });
  if (err) throw KernelError("read nftables generation", displayName(ns_), std::strerror(err), err);
  return gen;
}

std::map<std::string, NftTable> NftSocket::snapshot(const std::vector<uint32_t>& families,
                                                    const std::string& name) {
  // Each table is several dump requests (table, chains, sets, elements,
  // rules): one consistent state only when the generation did not move.
  auto tables =
      consistentRead<std::map<std::string, NftTable>>([this] { return generation(); },
                                                      [&] {
                                                        std::map<std::string, NftTable> out;
                                                        for (uint32_t family : families) {
                                                          if (auto t = dump(family, name))
                                                            out[t->key()] = std::move(*t);
                                                        }
                                                        return out;
                                                      });
  if (tables) return std::move(*tables);
  throw KernelError(
      "dump nftables tables", name + " in " + displayName(ns_),
      "the ruleset changed during each of " + std::to_string(kSnapshotAttempts) + " attempts",
      EAGAIN);
}

std::optional<NftTable> NftSocket::dump(uint32_t family, const std::string& name) {
  NftTable t{.family = family, .name = name};
  auto tableObj = encodeTable(t);
  int err =
      dumpRequest(sock_, portId_, seq_, NFT_MSG_GETTABLE, family, 0,
                  [&](nlmsghdr* h) { nftnl_table_nlmsg_build_payload(h, tableObj.get()); }, {});
  if (err == ENOENT) return std::nullopt;
  if (err)
    throw KernelError("dump nftables table", t.key() + " in " + displayName(ns_),
                      std::strerror(err));

  auto fail = [&](int e, const char* what) {
    if (e) throw KernelError(what, t.key() + " in " + displayName(ns_), std::strerror(e));
  };
  fail(dumpRequest(
           sock_, portId_, seq_, NFT_MSG_GETCHAIN, family, NLM_F_DUMP, [](nlmsghdr*) {},
           [&](const nlmsghdr* h) {
             NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
             if (nftnl_chain_nlmsg_parse(h, c.get()) == 0 &&
                 name == orEmpty(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE))) {
               t.chains.push_back(decodeChain(c.get()));
             }
           }),
       "dump nftables chains");
  fail(dumpRequest(
           sock_, portId_, seq_, NFT_MSG_GETSET, family, NLM_F_DUMP,
           [&](nlmsghdr* h) {
             NftnlPtr<nftnl_set> s(nftnl_set_alloc());
             nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, name.c_str());
             nftnl_set_nlmsg_build_payload(h, s.get());
           },
           [&](const nlmsghdr* h) {
             NftnlPtr<nftnl_set> s(nftnl_set_alloc());
             if (nftnl_set_nlmsg_parse(h, s.get()) == 0 &&
                 name == orEmpty(nftnl_set_get_str(s.get(), NFTNL_SET_TABLE))) {
               t.sets.push_back(decodeSet(s.get()));
             }
           }),
       "dump nftables sets");
  for (auto& set : t.sets) {
    NftnlPtr<nftnl_set> s(nftnl_set_alloc());
    nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, name.c_str());
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set.name.c_str());
    fail(dumpRequest(
             sock_, portId_, seq_, NFT_MSG_GETSETELEM, family, NLM_F_DUMP,
             [&](nlmsghdr* h) { nftnl_set_elems_nlmsg_build_payload(h, s.get()); },
             [&](const nlmsghdr* h) {
               NftnlPtr<nftnl_set> part(nftnl_set_alloc());
               if (nftnl_set_elems_nlmsg_parse(h, part.get()) == 0) {
                 auto elems = decodeElems(part.get());
                 set.elems.insert(set.elems.end(), elems.begin(), elems.end());
               }
             }),
         "dump nftables set elements");
  }
  fail(dumpRequest(
           sock_, portId_, seq_, NFT_MSG_GETRULE, family, NLM_F_DUMP,
           [&](nlmsghdr* h) {
             NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
             nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, name.c_str());
             nftnl_rule_nlmsg_build_payload(h, r.get());
           },
           [&](const nlmsghdr* h) {
             NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
             if (nftnl_rule_nlmsg_parse(h, r.get()) == 0 &&
                 name == orEmpty(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE))) {
               t.rules.push_back(decodeRule(r.get()));
             }
           }),
       "dump nftables rules");
  t.canonicalize();
  return t;
}

void NftSocket::change(const std::vector<TableChange>& changes) {
  Batch batch(seq_);
  std::string what;
  for (const auto& c : changes) {
    if (c.deltas) {
      addSetDeltas(batch, *c.table, *c.deltas);
    } else {
      addReplace(batch, *c.table);
    }
    what += (what.empty() ? "" : ", ") +
            std::string(c.deltas ? "update sets of table " : "replace table ") + c.table->key();
  }
  send(batch, what);
}

void NftSocket::addSetDeltas(Batch& batch, const NftTable& t,
                             const std::vector<NftSetDelta>& deltas) {
  for (const auto& d : deltas) {
    auto it = std::find_if(t.sets.begin(), t.sets.end(),
                           [&](const NftSet& s) { return s.name == d.set; });
    if (it == t.sets.end()) continue;
    uint32_t id = setIdOf(t, d.set);
    // A DELSETELEM without elements flushes the set.
    auto emit = [&](uint16_t type, uint16_t flags, const std::vector<NftSetElem>& elems) {
      NftSet chunkOf = *it;
      chunkOf.elems = elems;
      for (size_t first = 0; first == 0 || first < elems.size(); first += kElemsPerMessage) {
        auto chunk = encodeSet(t, chunkOf, id, first, kElemsPerMessage);
        nftnl_set_elems_nlmsg_build_payload(batch.header(type, t.family, flags, false),
                                            chunk.get());
        batch.next();
      }
    };
    if (d.flush) emit(NFT_MSG_DELSETELEM, 0, {});
    if (!d.remove.empty()) emit(NFT_MSG_DELSETELEM, 0, d.remove);
    if (!d.add.empty()) emit(NFT_MSG_NEWSETELEM, NLM_F_CREATE, d.add);
  }
}

void NftSocket::addReplace(Batch& batch, const NftTable& t) {
  auto table = encodeTable(t);
  // add + delete + add: the first add makes the delete valid whether or not
  // the table existed, so no prior dump is needed.
  nftnl_table_nlmsg_build_payload(batch.header(NFT_MSG_NEWTABLE, t.family, NLM_F_CREATE),
                                  table.get());
  batch.next();
  nftnl_table_nlmsg_build_payload(batch.header(NFT_MSG_DELTABLE, t.family, 0), table.get());
  batch.next();
  nftnl_table_nlmsg_build_payload(batch.header(NFT_MSG_NEWTABLE, t.family, NLM_F_CREATE),
                                  table.get());
  batch.next();
  // Chains first: verdict-map elements jump to them.
  for (const auto& c : t.chains) {
    auto chain = encodeChain(t, c);
    nftnl_chain_nlmsg_build_payload(batch.header(NFT_MSG_NEWCHAIN, t.family, NLM_F_CREATE),
                                    chain.get());
    batch.next();
  }
  for (const auto& s : t.sets) {
    uint32_t id = setIdOf(t, s.name);
    auto set = encodeSet(t, s, id);
    nftnl_set_nlmsg_build_payload(batch.header(NFT_MSG_NEWSET, t.family, NLM_F_CREATE), set.get());
    batch.next();
    // Elements go in chunks: one message must fit the overrun past a batch
    // page (8 KiB here), and libnftnl truncates a larger one silently, which
    // the kernel then takes as a set with fewer elements.
    for (size_t first = 0; first < s.elems.size(); first += kElemsPerMessage) {
      auto chunk = encodeSet(t, s, id, first, kElemsPerMessage);
      nftnl_set_elems_nlmsg_build_payload(
          batch.header(NFT_MSG_NEWSETELEM, t.family, NLM_F_CREATE, false), chunk.get());
      batch.next();
    }
  }
  for (const auto& r : t.rules) {
    auto rule = encodeRule(t, r, setIdOf);
    nftnl_rule_nlmsg_build_payload(
        batch.header(NFT_MSG_NEWRULE, t.family, NLM_F_CREATE | NLM_F_APPEND), rule.get());
    batch.next();
  }
}

bool NftSocket::remove(uint32_t family, const std::string& name) {
  NftTable t{.family = family, .name = name};
  Batch batch(seq_);
  auto table = encodeTable(t);
  nftnl_table_nlmsg_build_payload(batch.header(NFT_MSG_DELTABLE, family, 0), table.get());
  batch.next();
  try {
    send(batch, "delete table " + t.key());
  } catch (const KernelError& e) {
    if (e.code() == ENOENT) return false;
    throw;
  }
  return true;
}

bool dropsAll(const NftRule& r) {
  for (size_t i = 0; i < r.exprs.size(); ++i) {
    const NftExpr& e = r.exprs[i];
    bool last = i + 1 == r.exprs.size();
    if (e.name == "counter" || e.name == "log") continue;  // count or log, then go on
    if (!last) return false;                               // anything else is a condition
    return e.name == "reject" ||
           (e.name == "immediate" && e.dreg == NFT_REG_VERDICT && e.key == NF_DROP);
  }
  return false;
}

std::vector<std::string> NftSocket::forwardDropChains(bool dropOnly) {
  std::vector<std::string> out;
  // Forward-hook chains of other tables, for the rule dump below.
  std::set<std::tuple<uint32_t, std::string, std::string>> forward;
  int err = retryInterrupted([&] {
    out.clear();
    forward.clear();
    return dumpRequest(
        sock_, portId_, seq_, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP, [](nlmsghdr*) {},
        [&](const nlmsghdr* h) {
          NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
          if (nftnl_chain_nlmsg_parse(h, c.get()) != 0) return;
          uint32_t family = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_FAMILY);
          std::string table = orEmpty(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE));
          if (table == kTableName || !nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) return;
          if (family != NFPROTO_IPV4 && family != NFPROTO_INET) return;
          bool drops = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) == NF_DROP;
          if (nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM) != NF_INET_FORWARD) return;
          forward.emplace(family, table, orEmpty(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)));
          if (dropOnly && !drops) return;
          out.push_back(std::string("table ") + (family == NFPROTO_INET ? "inet " : "ip ") + table +
                        " chain " + orEmpty(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)) +
                        (drops ? " (policy drop)" : " (policy accept)"));
        });
  });
  if (err)
    throw KernelError("dump nftables chains", "all in " + displayName(ns_), std::strerror(err));
  if (dropOnly && !forward.empty()) addDroppingRules(forward, out);
  return out;
}

void NftSocket::addDroppingRules(
    const std::set<std::tuple<uint32_t, std::string, std::string>>& forward,
    std::vector<std::string>& out) {
  // A chain whose policy accepts can still end in a rule that drops or
  // rejects everything (firewalld's filter_FORWARD ends in a reject).
  std::vector<std::string> found;
  int err = retryInterrupted([&] {
    found.clear();
    return dumpRequest(
        sock_, portId_, seq_, NFT_MSG_GETRULE, NFPROTO_UNSPEC, NLM_F_DUMP, [](nlmsghdr*) {},
        [&](const nlmsghdr* h) {
          NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
          if (nftnl_rule_nlmsg_parse(h, r.get()) != 0) return;
          uint32_t family = nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY);
          std::string table = orEmpty(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE));
          std::string chain = orEmpty(nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN));
          if (!forward.count({family, table, chain})) return;
          NftRule rule = decodeRule(r.get());
          if (!dropsAll(rule)) return;
          // The last expression is `reject`, or an immediate `drop`.
          std::string verdict = rule.exprs.back().name == "reject" ? "reject" : "drop";
          std::string what = "table " + std::string(family == NFPROTO_INET ? "inet " : "ip ") +
                             table + " chain " + chain + " (rule: " + verdict + ")";
          if (std::find(found.begin(), found.end(), what) == found.end()) found.push_back(what);
        });
  });
  if (err)
    throw KernelError("dump nftables rules", "all in " + displayName(ns_), std::strerror(err));
  out.insert(out.end(), found.begin(), found.end());
}

NftSocket::Sync NftSocket::syncMarkedRules(uint32_t family, const std::string& table,
                                           const std::string& chain, const std::string& comment,
                                           const std::vector<NftRule>& rules) {
  std::vector<uint64_t> ours;
  std::vector<NftRule> current;
  int err = retryInterrupted([&] {
    ours.clear();
    current.clear();
    return dumpRequest(
        sock_, portId_, seq_, NFT_MSG_GETRULE, family, NLM_F_DUMP,
        [&](nlmsghdr* h) {
          NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
          nftnl_rule_nlmsg_build_payload(h, r.get());
        },
        [&](const nlmsghdr* h) {
          NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
          if (nftnl_rule_nlmsg_parse(h, r.get()) != 0 ||
              chain != orEmpty(nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) ||
              !nftnl_rule_is_set(r.get(), NFTNL_RULE_USERDATA))
            return;
          uint32_t len = 0;
          auto* data =
              static_cast<const char*>(nftnl_rule_get_data(r.get(), NFTNL_RULE_USERDATA, &len));
          if (commentOf(std::string(data, len)) == comment) {
            ours.push_back(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
            current.push_back(decodeRule(r.get()));
          }
        });
  });
  if (err == ENOENT) return Sync::NoChain;
  if (err)
    throw KernelError("dump nftables rules", table + " " + chain + " in " + displayName(ns_),
                      std::strerror(err));
  // Already so: nothing is sent, so no change event comes back to the drift watch.
  if (current == rules) return Sync::Unchanged;
  NftTable t{.family = family, .name = table};
  Batch batch(seq_);
  for (uint64_t handle : ours) {
    NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, handle);
    nftnl_rule_nlmsg_build_payload(batch.header(NFT_MSG_DELRULE, family, 0), r.get());
    batch.next();
  }
  // Without NLM_F_APPEND a new rule goes first; in reverse, they keep their order.
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    auto rule = encodeRule(t, *it, setIdOf);
    std::string tlv = commentTlv(comment);
    nftnl_rule_set_data(rule.get(), NFTNL_RULE_USERDATA, tlv.data(),
                        static_cast<uint32_t>(tlv.size()));
    nftnl_rule_nlmsg_build_payload(batch.header(NFT_MSG_NEWRULE, family, NLM_F_CREATE), rule.get());
    batch.next();
  }
  send(batch, "update rules marked " + comment + " in " + table + " " + chain);
  return Sync::Changed;
}

}  // namespace vpcd
