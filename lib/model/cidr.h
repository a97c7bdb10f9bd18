#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpcd {

// An IPv4 address in host byte order.
struct Ipv4 {
  uint32_t value = 0;

  static std::optional<Ipv4> parse(std::string_view text);
  std::string str() const;
  auto operator<=>(const Ipv4&) const = default;
};

// An IPv4 prefix. `addr` may carry host bits (an interface address such as
// 10.0.0.1/24); isNetwork() tells whether it is a clean network address.
struct Cidr {
  Ipv4 addr;
  int prefix = 0;

  // Accepts "a.b.c.d/n" only; returns nullopt on anything else.
  static std::optional<Cidr> parse(std::string_view text);
  std::string str() const;

  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  Ipv4 network() const { return Ipv4{addr.value & mask()}; }
  Ipv4 broadcast() const { return Ipv4{network().value | ~mask()}; }
  bool isNetwork() const { return addr == network(); }
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  // The n-th address of the network (0 = network address).
  Ipv4 host(uint32_t n) const { return Ipv4{network().value + n}; }
  // This address with another prefix length, e.g. gateway .1 as "10.0.0.1/24".
  Cidr withAddr(Ipv4 a) const { return Cidr{a, prefix}; }

  bool contains(Ipv4 a) const { return (a.value & mask()) == network().value; }
  bool contains(const Cidr& other) const {
    return other.prefix >= prefix && contains(other.network());
  }
  bool overlaps(const Cidr& other) const { return contains(other) || other.contains(*this); }
  auto operator<=>(const Cidr&) const = default;
};

}  // namespace vpcd
