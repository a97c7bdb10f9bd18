#pragma once
// Impairments in the kernel picture: which end of which link each one acts
// on, and as what qdisc (docs/impairments.md).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/model/impairment.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

// The netem (and rate) an impairment asks for, in the kernel's units.
Netem netemOf(const Impairment& i);

// Puts `list` (enabled impairments with an end in VPC `vpc`) on the VPC's
// namespaces: the router's ports and peering links, the subnet hosts' eth0.
void impairVpc(std::map<std::string, Namespace>& namespaces, const std::string& vpc,
               const std::vector<std::shared_ptr<const Impairment>>& list);
// Puts the outbound side of `list` (enabled impairments on its NICs) on an
// instance's namespace.
void impairInstance(Namespace& ns, const std::vector<std::shared_ptr<const Impairment>>& list);

}  // namespace vpcd
