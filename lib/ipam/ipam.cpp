#include "lib/ipam/ipam.h"

#include <string>

namespace vpcd {

std::optional<int> lowestFreeIndex(const std::set<int>& used, int capacity) {
  int candidate = 0;
  for (int u : used) {  // std::set iterates in order
    if (u > candidate) break;
    if (u == candidate) ++candidate;
  }
  if (candidate >= capacity) return std::nullopt;
  return candidate;
}

int transitCapacity(const Cidr& pool) {
  return pool.prefix > 30 ? 0 : static_cast<int>(pool.size() / 4);
}

SubnetIpam::SubnetIpam(Cidr cidr) : cidr_(cidr) {}

bool SubnetIpam::isReserved(Ipv4 addr) const {
  return addr == cidr_.network() || addr == cidr_.host(1) || addr == cidr_.host(2) ||
         addr == cidr_.broadcast();
}

std::optional<Ipv4> SubnetIpam::allocate(std::optional<Ipv4> requested, std::string* why) {
  auto refuse = [&](const std::string& reason) -> std::optional<Ipv4> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (requested) {
    if (!cidr_.contains(*requested)) return refuse(requested->str() + " is outside " + cidr_.str());
    if (isReserved(*requested)) return refuse(requested->str() + " is reserved in " + cidr_.str());
    if (inUse(*requested)) return refuse(requested->str() + " is in use");
    used_.insert(requested->value);
    return requested;
  }
  for (uint32_t n = 3; n + 1 < cidr_.size(); ++n) {
    Ipv4 a = cidr_.host(n);
    if (!inUse(a)) {
      used_.insert(a.value);
      return a;
    }
  }
  return refuse("no free address in " + cidr_.str());
}

std::vector<Ipv4> SubnetIpam::available(size_t limit) const {
  std::vector<Ipv4> out;
  for (uint32_t n = 3; n + 1 < cidr_.size() && out.size() < limit; ++n) {
    if (!inUse(cidr_.host(n))) out.push_back(cidr_.host(n));
  }
  return out;
}

}  // namespace vpcd
