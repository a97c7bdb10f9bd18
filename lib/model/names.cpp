#include "lib/model/names.h"

#include <cstdio>

#include "lib/model/api_error.h"

namespace vpcd {

bool isLabel(std::string_view name) {
  if (name.empty() || name.size() > kMaxLabel) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  if (name.back() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

void requireLabel(std::string_view field, std::string_view name) {
  if (isLabel(name)) return;
  std::string why = name.size() > kMaxLabel ? "longer than 63 characters"
                                            : "must be a lowercase RFC 1035 label "
                                              "([a-z]([-a-z0-9]{0,61}[a-z0-9])?)";
  throw ApiError::invalid(std::string(field),
                          "\"" + std::string(name) + "\" is not a valid name: " + why);
}

std::string routerNamespace(std::string_view vpc) {
  return "vpc-" + std::string(vpc);
}

std::string subnetNamespace(std::string_view vpc, std::string_view subnet) {
  return "vpc-" + std::string(vpc) + "." + std::string(subnet);
}

std::string shortHash(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", h & 0xffffffu);
  return buf;
}

std::string interfaceName(std::string_view prefix, std::string_view name) {
  if (prefix.size() + name.size() <= kIfNameMax) return std::string(prefix) + std::string(name);
  size_t keep = kIfNameMax - prefix.size() - 7;  // '_' + six hex digits
  return std::string(prefix) + std::string(name.substr(0, keep)) + "_" + shortHash(name);
}

}  // namespace vpcd
