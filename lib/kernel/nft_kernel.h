#pragma once
// nftables over libmnl + libnftnl, on one socket bound to one namespace.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lib/plan/nft_model.h"

struct mnl_socket;
struct nlmsghdr;

namespace vpcd {

// What the replies to one nftables request said: data messages go to
// `onMessage`; the first error (with the kernel's extended ack); whether an
// ack or error arrived; whether the kernel flagged a dump whose objects
// changed while it was being sent (NLM_F_DUMP_INTR), so that what arrived
// may be neither the old state nor the new one.
struct ReplyState {
  using OnMessage = std::function<void(const nlmsghdr*)>;
  const OnMessage* onMessage;
  int error = 0;
  bool answered = false;
  bool interrupted = false;
  std::string extAck;
};
// Runs the netlink messages of one receive buffer through `st`. False when
// the reading ends here (NLMSG_DONE, an error, or with `untilDone` the
// ack of a request that is no dump).
bool runReplies(const char* buf, size_t len, uint32_t portId, ReplyState& st, bool untilDone);

// A dump the kernel marked as interrupted: the read starts again.
struct DumpInterrupted {};

// How often a snapshot is tried while the ruleset keeps changing under it.
constexpr int kSnapshotAttempts = 8;

// One consistent read of several dumps: the ruleset's generation id, read
// before and after, changes with every committed transaction, so equal ids
// mean the pieces form one state. Read again while the generation moves or a
// dump is interrupted; nullopt after kSnapshotAttempts.
template <class T, class Generation, class Read>
std::optional<T> consistentRead(Generation&& generation, Read&& read) {
  for (int attempt = 0; attempt < kSnapshotAttempts; ++attempt) {
    try {
      uint32_t before = generation();
      T out = read();
      if (generation() == before) return out;
    } catch (const DumpInterrupted&) {
      // Changed while it was being sent: read it again.
    }
  }
  return std::nullopt;
}

// A rule that drops or rejects every packet reaching it: nothing but
// counters and logging before a `drop` or `reject`.
bool dropsAll(const NftRule& r);

class NftSocket {
 public:
  NftSocket(int nsFd, std::string nsName);
  ~NftSocket();
  NftSocket(const NftSocket&) = delete;
  NftSocket& operator=(const NftSocket&) = delete;

  // The table with its chains, sets (with elements) and rules, canonicalized;
  // nullopt when it does not exist.
  std::optional<NftTable> dump(uint32_t family, const std::string& name);
  // The tables `name` of these families as one consistent state: retried
  // while the ruleset's generation changes during the dumps or a dump is
  // interrupted (NLM_F_DUMP_INTR). Keyed by NftTable::key().
  std::map<std::string, NftTable> snapshot(const std::vector<uint32_t>& families,
                                           const std::string& name);
  // The ruleset's generation id (NFT_MSG_GETGEN).
  uint32_t generation();

  // One transaction over several tables. Each is either created whole
  // (deleted first if it exists) or, given `deltas`, keeps everything but
  // the set elements those change. The kernel applies all of it or none of
  // it, so the namespace is never seen without its rules.
  struct TableChange {
    const NftTable* table;
    const std::vector<NftSetDelta>* deltas = nullptr;  // null: replace
  };
  void change(const std::vector<TableChange>& changes);
  bool remove(uint32_t family, const std::string& name);

  // Other tables' base chains on the forward hook: with `dropOnly`, those
  // that drop every packet, by policy ("table ip filter chain FORWARD
  // (policy drop)") or by a rule with no condition ("table inet firewalld
  // chain filter_FORWARD (rule: reject)"); else all of them, with their policy.
  std::vector<std::string> forwardDropChains(bool dropOnly);
  // In someone else's chain, the rules marked with `comment` become `rules`
  // (inserted at the chain's start; none removes them), in one transaction,
  // or nothing is sent when they already are.
  enum class Sync { NoChain, Unchanged, Changed };
  Sync syncMarkedRules(uint32_t family, const std::string& table, const std::string& chain,
                       const std::string& comment, const std::vector<NftRule>& rules);

 private:
  struct Batch;
  void send(Batch& batch, const std::string& what);
  void addReplace(Batch& batch, const NftTable& table);
  void addSetDeltas(Batch& batch, const NftTable& table, const std::vector<NftSetDelta>& deltas);
  // The rules of the `forward` chains (family, table, chain) that drop all.
  void addDroppingRules(const std::set<std::tuple<uint32_t, std::string, std::string>>& forward,
                        std::vector<std::string>& out);

  mnl_socket* sock_ = nullptr;
  uint32_t portId_ = 0;
  size_t sndbuf_ = 0;  // what SO_SNDBUFFORCE last set
  uint32_t seq_;
  std::string ns_;
};

}  // namespace vpcd
