#pragma once
// The kernel objects vpcd owns, as values. The desired state is computed into
// these types from the topology; the kernel adapter observes into the same
// types; the diff of the two is a Plan of Actions.
#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lib/model/cidr.h"
#include "lib/model/names.h"
#include "lib/plan/nft_model.h"

namespace vpcd {

// Ownership markers (design.md §1): interface aliases start with this, routes
// carry kRouteProtocol, nftables tables are named kTableName.
inline constexpr uint8_t kRouteProtocol = 211;
inline constexpr const char* kTableName = "vpcd";
inline const std::string kHostNamespace = "";

enum class LinkKind { Loopback, Bridge, Veth, Other };

struct Link {
  std::string name;
  LinkKind kind = LinkKind::Veth;
  std::string alias;   // always starts with kAliasPrefix
  std::string master;  // bridge this link is a port of, or empty
  uint32_t mtu = 0;    // 0: leave as the kernel chose (loopback)
  std::string mac;     // "02:…"; empty: leave as the kernel chose
  bool up = true;
  // A veth pair is created from one end, in one call, with the other end born
  // directly in its namespace. That end names its peer here; the other end has
  // peerNamespace empty and isPeer set.
  std::string peerNamespace;
  std::string peerName;
  bool isPeer = false;

  // Whether two links agree on everything the kernel can be asked to change
  // without recreating the link.
  bool sameSettings(const Link& o) const {
    return alias == o.alias && master == o.master && (mtu == 0 || mtu == o.mtu) &&
           (mac.empty() || mac == o.mac) && up == o.up;
  }
  bool operator==(const Link&) const = default;

  // This link as a dump reports it: the kernel says nothing of how vpcd
  // planned the pair (peer fields).
  Link asObserved() const {
    Link seen = *this;
    seen.peerNamespace.clear();
    seen.peerName.clear();
    seen.isPeer = false;
    return seen;
  }
};

// The loopback of namespace `ns` as vpcd marks it: its alias is the
// namespace's ownership marker.
inline Link markedLoopback(const std::string& ns) {
  return Link{.name = "lo",
              .kind = LinkKind::Loopback,
              .alias = linkAlias(LinkRole::Netns, ns),
              .up = true};
}

struct Address {
  std::string link;
  Cidr cidr;  // the interface address with its prefix, e.g. 10.0.1.1/24
  auto operator<=>(const Address&) const = default;
};

// The qdisc vpcd puts at the root of one of its links to impair it, with
// handle kQdiscMajor: (its ownership marker): a netem, and under it a tbf
// with handle kRateMajor: when there is a rate; or, for a rate alone, a tbf
// at the root (so a rate limit needs no netem in the kernel).
// Probabilities are the kernel's: UINT32_MAX is 100 %.
inline constexpr uint16_t kQdiscMajor = 0xd211;
inline constexpr uint16_t kRateMajor = 0xd212;
struct Netem {
  uint32_t delayUs = 0, jitterUs = 0;
  uint32_t loss = 0, duplicate = 0, corrupt = 0, reorder = 0;
  uint32_t rateBytes = 0;  // per second; 0: no tbf
  bool operator==(const Netem&) const = default;
  // Whether it takes a netem (anything but a rate).
  bool needsNetem() const { return delayUs || jitterUs || loss || duplicate || corrupt || reorder; }
  // Equal as the kernel keeps them: it holds times in its own ticks (64 ns
  // here), so a delay read back may be a microsecond off the one written.
  bool sameAs(const Netem& o) const;
  std::string describe() const;  // "delay 50ms loss 20%", as tc shows it
};

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN

// Routes with protocol kRouteProtocol. A gateway of 0.0.0.0 is a route to a
// network on the link itself (scope link).
struct Route {
  Cidr dst;
  Ipv4 gateway;
  std::string dev;
  uint32_t table = kMainTable;
  auto operator<=>(const Route&) const = default;
};

// A policy-routing rule with protocol kRouteProtocol: packets from `src`
// look up `table` (`ip rule add from <src> lookup <table> pref <priority>`).
struct Rule {
  uint32_t priority = 0;
  Cidr src;
  uint32_t table = kMainTable;
  auto operator<=>(const Rule&) const = default;
};

// A setting that exists only when the kernel has br_netfilter: where its
// file is missing, the kernel behaves as it asks (kernel adapters read it
// as its desired value).
inline constexpr const char* kBridgeCallsIptables = "net/bridge/bridge-nf-call-iptables";

struct Namespace {
  bool operator==(const Namespace&) const = default;
  std::string name;  // kHostNamespace for the daemon's own namespace
  bool exists = true;
  bool owned = true;  // carries vpcd's marker (its loopback's alias)
  std::map<std::string, Link> links;
  std::set<Address> addresses;
  std::set<Route> routes;
  std::set<Rule> rules;
  std::map<std::string, std::string> sysctls;  // e.g. net/ipv4/conf/all/forwarding -> 1
  std::map<std::string, NftTable> tables;      // by NftTable::key()
  std::map<std::string, Netem> qdiscs;         // by link: vpcd's root qdiscs
};

using KernelState = std::map<std::string, Namespace>;

std::string displayName(const std::string& ns);  // "host" or the namespace name

struct Action {
  enum class Op {
    CreateNamespace,
    DeleteNamespace,
    CreateLink,
    DeleteLink,
    SetLink,
    AddAddress,
    DeleteAddress,
    AddRoute,
    DeleteRoute,
    AddRule,
    DeleteRule,
    SetSysctl,
    ReplaceTable,
    UpdateSets,
    DeleteTable,
    SetQdisc,     // link.name, netem
    DeleteQdisc,  // link.name
  };
  Op op;
  std::string ns;
  Link link;  // CreateLink, DeleteLink, SetLink
  Link peer;  // CreateLink of a veth: the other end, in link.peerNamespace
  Address address;
  Route route;
  Rule rule;          // AddRule, DeleteRule
  std::string key;    // SetSysctl
  std::string value;  // SetSysctl
  NftTable table;     // ReplaceTable, UpdateSets (the table after); DeleteTable: family, name
  std::vector<NftSetDelta> setDeltas;  // UpdateSets: the element changes that make `table`
  Netem netem;                         // SetQdisc

  // One line, as `vpcctl plan` prints it: "+ netns vpc-prod.web".
  std::string describe() const;
};

struct Plan {
  std::vector<Action> actions;
  // Desired namespaces whose name is taken by something vpcd does not own;
  // they are left alone and reported.
  std::vector<std::string> conflicts;
  // Links not deleted one by one because they die with a namespace this plan
  // deletes (the far end of a veth). The kernel removes them asynchronously
  // (netns cleanup runs in a workqueue); the applier waits for them.
  std::vector<std::pair<std::string, std::string>> vanishing;  // namespace, link
  bool empty() const { return actions.empty() && conflicts.empty(); }
};

}  // namespace vpcd
