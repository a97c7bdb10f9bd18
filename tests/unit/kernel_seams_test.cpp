// The kernel adapter's seams that the real kernel seldom exercises: an
// nftables dump the kernel flags as interrupted, a generation id that moves
// between the dumps of one snapshot, and the crash tests' fault hook.
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "lib/kernel/crash_after.h"
#include "lib/kernel/event_source.h"
#include "lib/kernel/fake_kernel.h"
#include "lib/kernel/nft_kernel.h"

using namespace vpcd;

namespace {

// Netlink messages as the kernel sends them for a dump: one data message
// (NFT_MSG_NEWTABLE) and NLMSG_DONE, each with its flags.
std::vector<char> dumpReply(uint16_t dataFlags, uint16_t doneFlags) {
  std::vector<char> buf(2 * NLMSG_SPACE(sizeof(nfgenmsg)) + NLMSG_SPACE(sizeof(int)), 0);
  auto* data = reinterpret_cast<nlmsghdr*>(buf.data());
  data->nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg));
  data->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | 0;  // NFT_MSG_NEWTABLE
  data->nlmsg_flags = NLM_F_MULTI | dataFlags;
  auto* done = reinterpret_cast<nlmsghdr*>(buf.data() + NLMSG_SPACE(sizeof(nfgenmsg)));
  done->nlmsg_len = NLMSG_LENGTH(sizeof(int));
  done->nlmsg_type = NLMSG_DONE;
  done->nlmsg_flags = NLM_F_MULTI | doneFlags;
  buf.resize(NLMSG_SPACE(sizeof(nfgenmsg)) + NLMSG_SPACE(sizeof(int)));
  return buf;
}

ReplyState read(const std::vector<char>& buf, int& messages) {
  static ReplyState::OnMessage count;
  count = [&messages](const nlmsghdr*) { ++messages; };
  ReplyState st{&count};
  CHECK_FALSE(runReplies(buf.data(), buf.size(), 0, st, true));  // NLMSG_DONE ends the read
  return st;
}

}  // namespace

// libmnl refuses a message flagged NLM_F_DUMP_INTR with EINTR: read as an
// error, every interrupted dump failed its request (found by this test).
TEST_CASE("a dump the kernel flags NLM_F_DUMP_INTR is known as interrupted") {
  int messages = 0;
  CHECK_FALSE(read(dumpReply(0, 0), messages).interrupted);
  CHECK(messages == 1);
  CHECK(read(dumpReply(NLM_F_DUMP_INTR, 0), messages).interrupted);
  CHECK(read(dumpReply(0, NLM_F_DUMP_INTR), messages).interrupted);
}

TEST_CASE("a reply whose framing is broken is refused, not walked") {
  // A length past INT_MAX made libmnl's walk leave the buffer (fuzz_kernel_replies).
  for (uint32_t badLength : {0xfffffff0u, 8u, 4096u}) {
    auto buf = dumpReply(0, 0);
    reinterpret_cast<nlmsghdr*>(buf.data())->nlmsg_len = badLength;
    int messages = 0;
    static ReplyState::OnMessage count;
    count = [&messages](const nlmsghdr*) { ++messages; };
    ReplyState st{&count};
    CHECK_FALSE(runReplies(buf.data(), buf.size(), 0, st, true));
    CHECK(st.error == EBADMSG);
    CHECK(messages == 0);
  }
}

TEST_CASE("a snapshot is read again while a dump is interrupted or the generation moves") {
  SECTION("interrupted dumps, then a whole one") {
    int reads = 0;
    auto got = consistentRead<int>([] { return 7u; },
                                   [&] {
                                     if (++reads < 3) throw DumpInterrupted{};
                                     return reads;
                                   });
    REQUIRE(got);
    CHECK(*got == 3);
  }
  SECTION("a transaction between the dumps of one attempt") {
    std::vector<uint32_t> generations{1, 2, 2, 2};  // before/after of two attempts
    size_t g = 0;
    int reads = 0;
    auto got = consistentRead<int>([&] { return generations.at(g++); }, [&] { return ++reads; });
    REQUIRE(got);
    CHECK(*got == 2);  // the first read was torn and is not used
  }
  SECTION("a ruleset that never holds still: no snapshot, not a torn one") {
    uint32_t gen = 0;
    int reads = 0;
    auto got = consistentRead<int>([&] { return ++gen; }, [&] { return ++reads; });
    CHECK_FALSE(got);
    CHECK(reads == kSnapshotAttempts);
  }
}

TEST_CASE("the crash hook kills the process right after the Nth mutating call, only when asked") {
  FakeKernel unhooked;
  Action create{.op = Action::Op::CreateNamespace, .ns = "vpc-a"};
  unhooked.apply(create);
  CHECK(unhooked.mutatingCalls() == 1);  // no hook: nothing happens

  // The unit tests ignore SIGCHLD (as vpcd does): waited for here.
  auto previous = ::signal(SIGCHLD, SIG_DFL);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    FakeKernel kernel;
    crashAfter(kernel, 2);
    kernel.apply({.op = Action::Op::CreateNamespace, .ns = "vpc-a"});
    kernel.apply({.op = Action::Op::CreateNamespace, .ns = "vpc-b"});
    _exit(0);  // not reached: killed by the second call
  }
  int status = 0;
  pid_t waited = ::waitpid(child, &status, 0);
  ::signal(SIGCHLD, previous);
  REQUIRE(waited == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

namespace {

// One RTM_NEWLINK message of `family` (AF_UNSPEC or AF_BRIDGE) for ifindex 3.
std::vector<char> linkMessage(uint8_t family) {
  std::vector<char> buf(NLMSG_SPACE(sizeof(ifinfomsg)), 0);
  auto* h = reinterpret_cast<nlmsghdr*>(buf.data());
  h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  h->nlmsg_type = RTM_NEWLINK;
  auto* info = static_cast<ifinfomsg*>(NLMSG_DATA(h));
  info->ifi_family = family;
  info->ifi_index = 3;
  return buf;
}

}  // namespace

TEST_CASE("a bridge port's own notifications are no drift; any other link message is") {
  auto bridge = linkMessage(AF_BRIDGE);
  auto link = linkMessage(AF_UNSPEC);
  CHECK_FALSE(mayBeDrift(bridge.data(), bridge.size()));
  CHECK(mayBeDrift(link.data(), link.size()));
  // Several in one buffer: one that may be drift is enough.
  std::vector<char> both = bridge;
  both.insert(both.end(), link.begin(), link.end());
  CHECK(mayBeDrift(both.data(), both.size()));
  std::vector<char> bridges = bridge;
  bridges.insert(bridges.end(), bridge.begin(), bridge.end());
  CHECK_FALSE(mayBeDrift(bridges.data(), bridges.size()));
  // What cannot be read whole is taken as drift (never silently dropped).
  CHECK(mayBeDrift(bridge.data(), 4));
}
