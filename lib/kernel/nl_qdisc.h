#pragma once
// The qdiscs vpcd asks the kernel for, as libnl objects (nl_qdisc.cpp).
// Exposed so that the messages they make are checked by the unit tests
// without a kernel: the project's machines have no netem to try them on.
#include <memory>

#include "lib/plan/kernel_model.h"

struct rtnl_qdisc;

namespace vpcd {

struct QdiscFree {
  void operator()(rtnl_qdisc* q) const;
};
using QdiscPtr = std::unique_ptr<rtnl_qdisc, QdiscFree>;

// The root netem (handle kQdiscMajor:) that `netem` asks for on `ifindex`.
QdiscPtr netemQdisc(int ifindex, const Netem& netem);
// The tbf of its rate: under the netem when there is one, else at the root.
QdiscPtr rateQdisc(int ifindex, const Netem& netem);

}  // namespace vpcd
