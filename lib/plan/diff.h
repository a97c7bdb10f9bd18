#pragma once
// Desired vs observed kernel state -> an ordered Plan. Pure.
//
// `observed` holds the namespaces that were looked at (the host, the
// namespaces of the reconcile's scope, and for a full reconcile every
// namespace carrying vpcd's marker). Desired namespaces that were not looked
// at are out of scope and left alone.
//
// Order: namespaces that should not exist are deleted whole (one call removes
// every link in them); then, children before parents, stale tables, routes,
// addresses and links go; then parents before children: namespaces, bridges,
// veth pairs (each created once, its far end born in its namespace), link
// settings, addresses, sysctls, routes, and finally nftables tables.
#include "lib/plan/kernel_model.h"

namespace vpcd {

Plan diff(const KernelState& desired, const KernelState& observed);

}  // namespace vpcd
