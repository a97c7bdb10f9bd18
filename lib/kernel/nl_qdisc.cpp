// Impairments through libnl-route's qdisc API (declared in nl_route.h):
// netem at a link's root, tbf under it for a rate. Never by running tc.
#include "lib/kernel/nl_qdisc.h"

#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>

#include <algorithm>
#include <map>
#include <memory>

#include "lib/kernel/kernel.h"
#include "lib/kernel/nl_route.h"

namespace vpcd {
namespace {

struct QdiscCacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

constexpr uint32_t handle(uint16_t major, uint16_t minor) {
  return (uint32_t{major} << 16) | minor;
}
const uint32_t kNetemHandle = handle(kQdiscMajor, 0);
const uint32_t kRateParent = handle(kQdiscMajor, 1);
const uint32_t kRateHandle = handle(kRateMajor, 0);

// How much a tbf lets through at once, and how long it queues: 10 ms of the
// rate, never less than two jumbo frames (a packet larger than the bucket
// would be dropped; GSO packets are cut to fit), and 100 ms of queue.
constexpr int kMinBucket = 2 * 9018;
constexpr int kQueueLatencyUs = 100000;

// A getter's value, 0 where libnl says the attribute is absent (< 0).
uint32_t orZero(int v) {
  return v < 0 ? 0 : static_cast<uint32_t>(v);
}

// A tbf limiting to `rate` bytes a second.
void setRate(rtnl_qdisc* tbf, uint32_t rateBytes) {
  auto rate = static_cast<int>(rateBytes);
  rtnl_qdisc_tbf_set_rate(tbf, rate, std::max(rate / 100, kMinBucket), 0);
  rtnl_qdisc_tbf_set_limit_by_latency(tbf, kQueueLatencyUs);
}

QdiscPtr qdiscOn(int ifindex, uint32_t parent, uint32_t h, const char* kind) {
  QdiscPtr q(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(q.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(q.get()), parent);
  rtnl_tc_set_handle(TC_CAST(q.get()), h);
  if (kind) rtnl_tc_set_kind(TC_CAST(q.get()), kind);
  return q;
}

}  // namespace

void RouteSocket::observeQdiscs(Namespace& into, nl_cache* links) {
  nl_cache* raw = nullptr;
  check(rtnl_qdisc_alloc_cache(sock_, &raw), "dump qdiscs", "all");
  std::unique_ptr<nl_cache, QdiscCacheFree> qdiscs(raw);
  std::map<int, Netem> byIndex;
  std::map<int, uint32_t> rates;
  for (nl_object* o = nl_cache_get_first(qdiscs.get()); o; o = nl_cache_get_next(o)) {
    auto* q = reinterpret_cast<rtnl_qdisc*>(o);
    auto* tc = TC_CAST(q);
    const char* kind = rtnl_tc_get_kind(tc);
    std::string_view k = kind ? kind : "";
    int index = rtnl_tc_get_ifindex(tc);
    bool ours = rtnl_tc_get_parent(tc) == TC_H_ROOT && rtnl_tc_get_handle(tc) == kNetemHandle;
    if (ours && k == "tbf") {
      byIndex[index] = Netem{};
      rates[index] = orZero(rtnl_qdisc_tbf_get_rate(q));
    } else if (ours && k == "netem") {
      byIndex[index] = Netem{.delayUs = orZero(rtnl_netem_get_delay(q)),
                             .jitterUs = orZero(rtnl_netem_get_jitter(q)),
                             .loss = orZero(rtnl_netem_get_loss(q)),
                             .duplicate = orZero(rtnl_netem_get_duplicate(q)),
                             .corrupt = orZero(rtnl_netem_get_corruption_probability(q)),
                             .reorder = orZero(rtnl_netem_get_reorder_probability(q))};
    } else if (rtnl_tc_get_parent(tc) == kRateParent && k == "tbf") {
      rates[index] = orZero(rtnl_qdisc_tbf_get_rate(q));
    }
  }
  for (auto& [index, netem] : byIndex) {
    char name[IFNAMSIZ + 1] = {};
    if (!rtnl_link_i2name(links, index, name, sizeof name) || !into.links.count(name)) continue;
    if (auto r = rates.find(index); r != rates.end()) netem.rateBytes = r->second;
    into.qdiscs[name] = netem;
  }
}

void QdiscFree::operator()(rtnl_qdisc* q) const {
  rtnl_qdisc_put(q);
}

QdiscPtr netemQdisc(int ifindex, const Netem& netem) {
  QdiscPtr root = qdiscOn(ifindex, TC_H_ROOT, kNetemHandle, "netem");
  rtnl_qdisc* q = root.get();
  rtnl_netem_set_limit(q, 1000);  // packets held, as tc's default
  rtnl_netem_set_delay(q, static_cast<int>(netem.delayUs));
  rtnl_netem_set_jitter(q, static_cast<int>(netem.jitterUs));
  // libnl takes the kernel's 32-bit probabilities as int and stores them
  // back as unsigned: the bits pass through unchanged.
  rtnl_netem_set_loss(q, static_cast<int>(netem.loss));
  rtnl_netem_set_duplicate(q, static_cast<int>(netem.duplicate));
  rtnl_netem_set_corruption_probability(q, static_cast<int>(netem.corrupt));
  rtnl_netem_set_reorder_probability(q, static_cast<int>(netem.reorder));
  return root;
}

QdiscPtr rateQdisc(int ifindex, const Netem& netem) {
  QdiscPtr tbf = netem.needsNetem() ? qdiscOn(ifindex, kRateParent, kRateHandle, "tbf")
                                    : qdiscOn(ifindex, TC_H_ROOT, kNetemHandle, "tbf");
  setRate(tbf.get(), netem.rateBytes);
  return tbf;
}

void RouteSocket::setQdisc(const std::string& link, const Netem& netem) {
  int index = ifindex(link, true);
  // Create, or replace whatever the root holds; ours is changed in place
  // (its queue, and the tbf under a netem, stay).
  constexpr int kFlags = NLM_F_CREATE | NLM_F_REPLACE;
  if (!netem.needsNetem()) {
    check(rtnl_qdisc_add(sock_, rateQdisc(index, netem).get(), kFlags), "set qdisc tbf", link);
    return;
  }
  check(rtnl_qdisc_add(sock_, netemQdisc(index, netem).get(), kFlags), "set qdisc netem", link);
  if (netem.rateBytes) {
    check(rtnl_qdisc_add(sock_, rateQdisc(index, netem).get(), kFlags), "set qdisc tbf", link);
    return;
  }
  QdiscPtr tbf = qdiscOn(index, kRateParent, kRateHandle, nullptr);
  int rc = rtnl_qdisc_delete(sock_, tbf.get());
  // No tbf under it (the usual case): nothing to take away.
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_INVAL || rc == -NLE_NOATTR) {
    lastExtAck_.clear();
    return;
  }
  check(rc, "delete qdisc tbf", link);
}

bool RouteSocket::canMakeQdisc(const std::string& kind) {
  QdiscPtr q = qdiscOn(ifindex("lo", true), TC_H_ROOT, kNetemHandle, kind.c_str());
  if (kind == "tbf") setRate(q.get(), 125000);
  int rc = rtnl_qdisc_add(sock_, q.get(), NLM_F_CREATE | NLM_F_REPLACE);
  lastExtAck_.clear();
  return rc >= 0;
}

bool RouteSocket::deleteQdisc(const std::string& link) {
  int index = ifindex(link, false);
  if (!index) return false;  // gone with its link
  QdiscPtr root = qdiscOn(index, TC_H_ROOT, kNetemHandle, nullptr);
  int rc = rtnl_qdisc_delete(sock_, root.get());
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_INVAL || rc == -NLE_NODEV) {
    lastExtAck_.clear();
    return false;
  }
  check(rc, "delete qdisc netem", link);
  return true;
}

}  // namespace vpcd
