#pragma once
// Address allocation. Pure: callers pass what is in use, get back a choice.
#include <optional>
#include <set>
#include <vector>

#include "lib/model/cidr.h"

namespace vpcd {

// Lowest index in [0, capacity) that is not in `used`: freed slots are reused
// first, so addresses stay small and predictable.
std::optional<int> lowestFreeIndex(const std::set<int>& used, int capacity);

// Number of /30 transit links a pool holds.
int transitCapacity(const Cidr& pool);

// Addresses of one subnet. The network address, the gateway (.1), the subnet
// namespace's own address (.2) and the broadcast address are reserved.
class SubnetIpam {
 public:
  explicit SubnetIpam(Cidr cidr);

  bool isReserved(Ipv4 addr) const;
  bool inUse(Ipv4 addr) const { return used_.count(addr.value) > 0; }

  // A static request must be inside the subnet, not reserved and not in use;
  // otherwise the lowest free address from .3 up. nullopt when full or refused;
  // `why` says which.
  std::optional<Ipv4> allocate(std::optional<Ipv4> requested, std::string* why = nullptr);
  void markUsed(Ipv4 addr) { used_.insert(addr.value); }
  void release(Ipv4 addr) { used_.erase(addr.value); }
  std::vector<Ipv4> available(size_t limit) const;

 private:
  Cidr cidr_;
  std::set<uint32_t> used_;
};

}  // namespace vpcd
