#include "lib/model/names.h"

#include <cstdio>

#include "lib/model/error.h"

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
  throw DomainError::invalid(std::string(field),
                             "\"" + std::string(name) + "\" is not a valid name: " + why);
}

std::optional<SubnetRef> SubnetRef::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  SubnetRef ref{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  if (!isLabel(ref.vpc) || !isLabel(ref.subnet)) return std::nullopt;
  return ref;
}

std::string routerNamespace(std::string_view vpc) {
  return "vpc-" + std::string(vpc);
}

std::string subnetNamespace(std::string_view vpc, std::string_view subnet) {
  return "vpc-" + std::string(vpc) + "." + std::string(subnet);
}

std::string instanceNamespace(std::string_view instance) {
  return "vm-" + std::string(instance);
}

NamespaceOwner ownerOfNamespace(std::string_view ns) {
  using Kind = NamespaceOwner::Kind;
  NamespaceOwner out;
  if (ns.starts_with("vm-") && isLabel(ns.substr(3))) {
    out.kind = Kind::Instance;
    out.instance = std::string(ns.substr(3));
  } else if (ns.starts_with("vpc-")) {
    std::string_view rest = ns.substr(4);
    size_t dot = rest.find('.');
    std::string_view vpc = rest.substr(0, dot);
    if (!isLabel(vpc)) return out;
    if (dot == std::string_view::npos) {
      out.kind = Kind::Router;
    } else if (isLabel(rest.substr(dot + 1))) {
      out.kind = Kind::Subnet;
      out.subnet = std::string(rest.substr(dot + 1));
    } else {
      return out;
    }
    out.vpc = std::string(vpc);
  }
  return out;
}

std::string transitLinkName(std::string_view vpc) {
  return interfaceName("t-", vpc);
}

std::string subnetPortName(std::string_view subnet) {
  return interfaceName("s-", subnet);
}

std::string peerLinkName(std::string_view peerVpc) {
  return interfaceName("p-", peerVpc);
}

std::string nicName(int index) {
  return "eth" + std::to_string(index);
}

int nicIndex(std::string_view nic) {
  if (!nic.starts_with("eth") || nic.size() < 4 || nic.size() > 8) return -1;
  int k = 0;
  for (char c : nic.substr(3)) {
    if (c < '0' || c > '9') return -1;
    k = k * 10 + (c - '0');
  }
  return k;
}

std::string instancePortName(std::string_view instance, std::string_view nic) {
  // eth<k> -> n-<instance>-<k>
  return interfaceName("n-", std::string(instance) + "-" + std::to_string(nicIndex(nic)));
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

namespace {

struct RoleName {
  LinkRole role;
  std::string_view word;
};
// Spelled once: the alias words, in the order parseLinkAlias tries them.
constexpr RoleName kRoles[] = {
    {LinkRole::Netns, "netns"},   {LinkRole::Transit, "transit"}, {LinkRole::Uplink, "uplink"},
    {LinkRole::Bridge, "bridge"}, {LinkRole::Port, "port"},       {LinkRole::Nic, "nic"},
    {LinkRole::VmPort, "vmport"}, {LinkRole::VmNic, "vmnic"},     {LinkRole::Peer, "peer"},
};

std::string_view wordOf(LinkRole role) {
  for (const auto& r : kRoles) {
    if (r.role == role) return r.word;
  }
  return "";
}

}  // namespace

std::string linkAlias(LinkRole role, std::string_view owner) {
  return std::string(kAliasPrefix) + std::string(wordOf(role)) + ":" + std::string(owner);
}

std::string linkAlias(LinkRole role, std::string_view owner, std::string_view part) {
  return linkAlias(role, std::string(owner) + "/" + std::string(part));
}

std::optional<ParsedAlias> parseLinkAlias(std::string_view alias) {
  if (!alias.starts_with(kAliasPrefix)) return std::nullopt;
  alias.remove_prefix(std::string_view(kAliasPrefix).size());
  size_t colon = alias.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  for (const auto& r : kRoles) {
    if (alias.substr(0, colon) != r.word) continue;
    std::string_view owner = alias.substr(colon + 1);
    size_t slash = owner.find('/');
    // A namespace name (netns:) may itself hold no '/', so it is whole.
    if (r.role == LinkRole::Netns || slash == std::string_view::npos)
      return ParsedAlias{r.role, std::string(owner), ""};
    return ParsedAlias{r.role, std::string(owner.substr(0, slash)),
                       std::string(owner.substr(slash + 1))};
  }
  return std::nullopt;
}

std::string peerNamespaceOf(std::string_view alias) {
  auto a = parseLinkAlias(alias);
  if (!a) return "";
  switch (a->role) {
    case LinkRole::Transit:
      return routerNamespace(a->owner);
    case LinkRole::VmPort:
      return instanceNamespace(a->owner);
    case LinkRole::Port:
      return a->part.empty() ? "" : subnetNamespace(a->owner, a->part);
    default:
      return "";
  }
}

}  // namespace vpcd
