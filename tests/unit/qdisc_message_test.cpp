// The qdisc messages vpcd sends, checked byte by byte without a kernel: the
// project's machines run a kernel without netem, so this is where the netem
// half of lib/kernel/nl_qdisc.cpp is held to what sch_netem and sch_tbf read
// (struct tc_netem_qopt, TCA_NETEM_*, TCA_TBF_PARMS).
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/route/qdisc.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>

#include "lib/kernel/nl_qdisc.h"

using namespace vpcd;

namespace {

struct Message {
  tcmsg tc{};
  std::string kind;
  std::string options;  // TCA_OPTIONS' payload
};

// The request libnl builds for adding `q`, read back.
Message requestOf(rtnl_qdisc* q) {
  nl_msg* msg = nullptr;
  REQUIRE(rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_REPLACE, &msg) == 0);
  nlmsghdr* h = nlmsg_hdr(msg);
  Message out;
  std::memcpy(&out.tc, NLMSG_DATA(h), sizeof out.tc);
  nlattr* attrs = nlmsg_attrdata(h, sizeof(tcmsg));
  int len = nlmsg_attrlen(h, sizeof(tcmsg));
  nlattr* a = nullptr;
  int rem = 0;
  nla_for_each_attr(a, attrs, len, rem) {
    std::string payload(static_cast<const char*>(nla_data(a)), static_cast<size_t>(nla_len(a)));
    if (nla_type(a) == TCA_KIND) out.kind = payload.c_str();
    if (nla_type(a) == TCA_OPTIONS) out.options = payload;
  }
  nlmsg_free(msg);
  return out;
}

// Attributes inside a payload, from `offset` on, by type.
std::map<int, std::string> attributesOf(const std::string& payload, size_t offset) {
  std::map<int, std::string> out;
  while (offset + NLA_HDRLEN <= payload.size()) {
    nlattr a;
    std::memcpy(&a, payload.data() + offset, sizeof a);
    if (a.nla_len < NLA_HDRLEN || offset + a.nla_len > payload.size()) break;
    out[a.nla_type & NLA_TYPE_MASK] = payload.substr(offset + NLA_HDRLEN, a.nla_len - NLA_HDRLEN);
    offset += NLA_ALIGN(a.nla_len);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "a netem request carries the delay in the kernel's ticks and the probabilities as given") {
  Netem n{.delayUs = 50000,
          .jitterUs = 5000,
          .loss = 858993459,  // 20 %
          .duplicate = 42949673,
          .corrupt = 4294967,
          .reorder = 1073741824};
  QdiscPtr q = netemQdisc(7, n);
  Message m = requestOf(q.get());
  CHECK(m.kind == "netem");
  CHECK(m.tc.tcm_ifindex == 7);
  CHECK(m.tc.tcm_parent == TC_H_ROOT);
  CHECK(m.tc.tcm_handle == uint32_t{kQdiscMajor} << 16);
  REQUIRE(m.options.size() >= sizeof(tc_netem_qopt));
  tc_netem_qopt opt;
  std::memcpy(&opt, m.options.data(), sizeof opt);
  // The kernel reads latency and jitter in psched ticks of 64 ns
  // (PSCHED_SHIFT 6): 50 ms is 781250 of them.
  CHECK(opt.latency == 781250);
  CHECK(opt.jitter == 78125);
  CHECK(opt.limit == 1000);
  CHECK(opt.loss == 858993459);
  CHECK(opt.duplicate == 42949673);
  CHECK(opt.gap == 1);  // reordering needs a gap (as tc sets it)
  auto nested = attributesOf(m.options, NLA_ALIGN(sizeof(tc_netem_qopt)));
  REQUIRE(nested.count(TCA_NETEM_REORDER));
  tc_netem_reorder reorder;
  std::memcpy(&reorder, nested[TCA_NETEM_REORDER].data(), sizeof reorder);
  CHECK(reorder.probability == 1073741824);
  REQUIRE(nested.count(TCA_NETEM_CORRUPT));
  tc_netem_corrupt corrupt;
  std::memcpy(&corrupt, nested[TCA_NETEM_CORRUPT].data(), sizeof corrupt);
  CHECK(corrupt.probability == 4294967);
}

TEST_CASE("a netem without corruption sends no corruption (why turning it off takes a new qdisc)") {
  QdiscPtr q = netemQdisc(3, Netem{.delayUs = 1000});
  Message m = requestOf(q.get());
  auto nested = attributesOf(m.options, NLA_ALIGN(sizeof(tc_netem_qopt)));
  CHECK_FALSE(nested.count(TCA_NETEM_CORRUPT));
  CHECK_FALSE(nested.count(TCA_NETEM_REORDER));
}

TEST_CASE("a rate is a tbf: at the root alone, under the netem beside one") {
  Netem alone{.rateBytes = 250000};
  Message root = requestOf(rateQdisc(4, alone).get());
  CHECK(root.kind == "tbf");
  CHECK(root.tc.tcm_parent == TC_H_ROOT);
  CHECK(root.tc.tcm_handle == uint32_t{kQdiscMajor} << 16);
  auto parms = attributesOf(root.options, 0);
  REQUIRE(parms.count(TCA_TBF_PARMS));
  tc_tbf_qopt opt;
  std::memcpy(&opt, parms[TCA_TBF_PARMS].data(), sizeof opt);
  CHECK(opt.rate.rate == 250000);
  CHECK(opt.limit > 0);

  Netem both{.delayUs = 1000, .rateBytes = 250000};
  Message under = requestOf(rateQdisc(4, both).get());
  CHECK(under.tc.tcm_parent == ((uint32_t{kQdiscMajor} << 16) | 1));
  CHECK(under.tc.tcm_handle == uint32_t{kRateMajor} << 16);
}
