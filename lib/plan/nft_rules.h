#pragma once
// The nftables tables vpcd programs, built as values (see nft_model.h).
#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/plan/nft_model.h"

namespace vpcd {

// `table inet vpcd` in a VPC router namespace:
//   set public { type ipv4_addr; flags interval; elements = <public subnets> }
//   chain postrouting (nat):  oifname "uplink" ip saddr @public masquerade
//   chain forward (filter):   oifname "uplink" ip saddr != @public drop
//                             iifname "uplink" ct state established,related accept
//                             iifname "uplink" drop
// The drop toward the uplink is explicit so that no packet with a private (or
// any un-NATed) source ever leaves the VPC, whatever else changes.
// The elements of an interval set holding `prefixes` (merged when adjacent).
std::vector<NftSetElem> intervalElems(std::vector<Cidr> prefixes);

NftTable routerTable(const std::string& uplink, const std::vector<Cidr>& publicSubnets);

// `table ip vpcd` in the host namespace:
//   chain postrouting (nat):  ip saddr <transit pool> oifname <uplink> masquerade
//   chain forward (filter):   ip saddr <transit pool> ip daddr <transit pool> drop
NftTable hostTable(const Cidr& transitPool, const std::string& uplink);

}  // namespace vpcd
