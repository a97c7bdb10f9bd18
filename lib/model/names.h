#pragma once
// Naming rules: user-facing names, and every kernel name derived from them,
// each beside its inverse. Every derived name is a pure function of the
// user's names, so the daemon finds its own objects again after a restart
// (design.md §1 Names); the inverses are how a namespace or an alias seen in
// the kernel is traced back to the object it belongs to.
#include <optional>
#include <string>
#include <string_view>

namespace vpcd {

inline constexpr size_t kMaxLabel = 63;
inline constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

// RFC 1035 label: [a-z]([-a-z0-9]{0,61}[a-z0-9])?
bool isLabel(std::string_view name);

// Throws DomainError (Invalid) naming `field` when `name` is not a label.
void requireLabel(std::string_view field, std::string_view name);

// "vpc/subnet": how a subnet is named across VPCs (policy targets, NICs).
struct SubnetRef {
  std::string vpc;
  std::string subnet;
  std::string str() const { return vpc + "/" + subnet; }
  // "vpc/subnet" with both parts labels; nullopt for anything else.
  static std::optional<SubnetRef> parse(std::string_view text);
  auto operator<=>(const SubnetRef&) const = default;
};

// Namespaces: vpc-<vpc> (router), vpc-<vpc>.<subnet> (subnet host),
// vm-<instance> (instance).
std::string routerNamespace(std::string_view vpc);
std::string subnetNamespace(std::string_view vpc, std::string_view subnet);
std::string instanceNamespace(std::string_view instance);

// The inverse: what a namespace name says it belongs to. Labels hold no '.',
// so vpc-<vpc>.<subnet> splits at its only dot.
struct NamespaceOwner {
  enum class Kind { None, Router, Subnet, Instance } kind = Kind::None;
  std::string vpc;       // Router, Subnet
  std::string subnet;    // Subnet
  std::string instance;  // Instance
};
NamespaceOwner ownerOfNamespace(std::string_view ns);

// Interface names. Fixed inside namespaces vpcd owns; derived (and shortened
// to fit IFNAMSIZ) where they share a namespace with their kind.
inline constexpr const char* kBridge = "br0";
inline constexpr const char* kRouterUplink = "uplink";
inline constexpr const char* kSubnetNic = "eth0";
std::string transitLinkName(std::string_view vpc);    // t-<vpc>, host side
std::string subnetPortName(std::string_view subnet);  // s-<subnet>, in the router
std::string peerLinkName(std::string_view peerVpc);   // p-<peer>, in a router
// An instance's NIC k is eth<k> inside vm-<instance> and n-<instance>-<k> on
// its VPC's bridge.
std::string nicName(int index);
int nicIndex(std::string_view nic);  // eth<k> -> k; -1 when not of that form
std::string instancePortName(std::string_view instance, std::string_view nic);

// `prefix` + `name` when it fits IFNAMSIZ; otherwise the name is cut and a
// stable hash of the whole name follows an underscore. Labels never contain
// '_', so a shortened name can never equal another object's unshortened one.
std::string interfaceName(std::string_view prefix, std::string_view name);

// 24-bit FNV-1a of `text`, as six lowercase hex digits.
std::string shortHash(std::string_view text);

// Ownership aliases: every link vpcd makes carries "vpcd:<role>:<owner>" in
// its interface alias, the marker the kernel keeps for us.
inline constexpr const char* kAliasPrefix = "vpcd:";
enum class LinkRole {
  Netns,    // netns:<namespace>   the marked loopback of a namespace vpcd made
  Transit,  // transit:<vpc>       host end of a router's uplink
  Uplink,   // uplink:<vpc>        router end of it
  Bridge,   // bridge:<vpc>        br0
  Port,     // port:<vpc>/<subnet> a subnet's port on br0
  Nic,      // nic:<vpc>/<subnet>  a subnet host's eth0
  VmPort,   // vmport:<instance>/<nic> an instance NIC's port on br0
  VmNic,    // vmnic:<instance>/<nic>  the NIC inside the instance
  Peer,     // peer:<peering>      both ends of a peering link
};
std::string linkAlias(LinkRole role, std::string_view owner);
std::string linkAlias(LinkRole role, std::string_view owner, std::string_view part);
struct ParsedAlias {
  LinkRole role;
  std::string owner;  // before the '/', or the whole owner
  std::string part;   // after the '/', "" when none
};
std::optional<ParsedAlias> parseLinkAlias(std::string_view alias);

// The namespace holding the far end of a vpcd veth, from its alias: a
// transit end's router, a port's subnet host, an instance port's instance;
// "" when the alias names no such end.
std::string peerNamespaceOf(std::string_view alias);

}  // namespace vpcd
