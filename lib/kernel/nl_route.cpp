#include "lib/kernel/nl_route.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "lib/kernel/kernel.h"
#include "lib/kernel/netns.h"

namespace vpcd {
namespace {

// Owning handles for libnl objects.
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
struct RulePut {
  void operator()(rtnl_rule* r) const { rtnl_rule_put(r); }
};
using RulePtr = std::unique_ptr<rtnl_rule, RulePut>;

std::string macText(nl_addr* a) {
  if (!a || nl_addr_get_family(a) != AF_LLC || nl_addr_get_len(a) != 6) return "";
  char buf[32];
  return nl_addr2str(a, buf, sizeof buf);
}
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;

bool startsWith(const char* s, const char* prefix) {
  return s && std::string_view(s).rfind(prefix, 0) == 0;
}

NlAddrPtr nlAddr(Ipv4 addr, int prefix) {
  uint32_t be = htonl(addr.value);
  NlAddrPtr a(nl_addr_build(AF_INET, &be, 4));
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

Ipv4 toIpv4(nl_addr* a) {
  if (!a || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) < 4) return Ipv4{};
  uint32_t be;
  std::memcpy(&be, nl_addr_get_binary_addr(a), 4);
  return Ipv4{ntohl(be)};
}

std::string nameOf(nl_cache* links, int ifindex) {
  char buf[IFNAMSIZ + 1] = {};
  if (ifindex <= 0 || !rtnl_link_i2name(links, ifindex, buf, sizeof buf)) return "";
  return buf;
}

LinkKind kindOf(rtnl_link* l) {
  if (rtnl_link_get_flags(l) & IFF_LOOPBACK) return LinkKind::Loopback;
  const char* type = rtnl_link_get_type(l);
  std::string_view t = type ? type : "";
  if (t == "bridge") return LinkKind::Bridge;
  if (t == "veth") return LinkKind::Veth;
  return LinkKind::Other;
}

// libnl reports the kernel's error code; the extended ack it does not parse,
// so the error callback keeps it for check() to put into the exception.
int onError(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  *static_cast<std::string*>(arg) = extAckMessage(hdr);
  return NL_STOP;  // libnl then returns the kernel's error code
}

}  // namespace

std::string extAckMessage(const nlmsghdr* hdr) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  if (hdr->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return "";
  auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(hdr));
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
    // The request echoed whole; the attributes start aligned after it (the
    // kernel's message is aligned; a reply saying otherwise is cut short).
    if (err->msg.nlmsg_len < NLMSG_HDRLEN) return "";
    offset += NLMSG_ALIGN(size_t{err->msg.nlmsg_len}) - NLMSG_HDRLEN;
  }
  const char* base = reinterpret_cast<const char*>(hdr);
  while (offset + NLA_HDRLEN <= hdr->nlmsg_len) {
    nlattr attr;
    std::memcpy(&attr, base + offset, sizeof attr);  // aligned in a kernel reply, not trusted to be
    if (attr.nla_len < NLA_HDRLEN || offset + attr.nla_len > hdr->nlmsg_len) break;
    if ((attr.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      return std::string(base + offset + NLA_HDRLEN,
                         strnlen(base + offset + NLA_HDRLEN, attr.nla_len - NLA_HDRLEN));
    }
    offset += NLA_ALIGN(attr.nla_len);
  }
  return "";
}

RouteSocket::RouteSocket(int nsFd, std::string nsName) : ns_(std::move(nsName)) {
  NetnsGuard in(nsFd);
  sock_ = nl_socket_alloc();
  if (!sock_) throw KernelError("netlink socket", displayName(ns_), "out of memory");
  int rc = nl_connect(sock_, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(sock_);
    throw KernelError("netlink connect", displayName(ns_), nl_geterror(rc));
  }
  int one = 1;
  setsockopt(nl_socket_get_fd(sock_), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(nl_socket_get_fd(sock_), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  nl_socket_modify_err_cb(sock_, NL_CB_CUSTOM, onError, &lastExtAck_);
}

RouteSocket::~RouteSocket() {
  nl_socket_free(sock_);
}

int RouteSocket::check(int err, const std::string& op, const std::string& object) {
  if (err >= 0) return err;
  std::string message = nl_geterror(err);
  if (!lastExtAck_.empty()) message += " (" + lastExtAck_ + ")";
  lastExtAck_.clear();
  throw KernelError(op, object + " in " + displayName(ns_), message);
}

void RouteSocket::observe(Namespace& into, bool withLoopback, const std::set<std::string>& adopt,
                          std::set<std::string>* allLinks) {
  nl_cache* raw = nullptr;
  check(rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw), "dump links", "all");
  CachePtr links(raw);
  for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    LinkKind kind = kindOf(l);
    const char* alias = rtnl_link_get_ifalias(l);
    if (allLinks) allLinks->insert(rtnl_link_get_name(l));
    if (!startsWith(alias, kAliasPrefix) && !(withLoopback && kind == LinkKind::Loopback) &&
        !adopt.count(rtnl_link_get_name(l))) {
      continue;
    }
    Link link{.name = rtnl_link_get_name(l),
              .kind = kind,
              .alias = alias ? alias : "",
              .master = nameOf(links.get(), rtnl_link_get_master(l)),
              .mtu = rtnl_link_get_mtu(l),
              .mac = macText(rtnl_link_get_addr(l)),
              .up = (rtnl_link_get_flags(l) & IFF_UP) != 0};
    into.links[link.name] = link;
  }
  check(rtnl_addr_alloc_cache(sock_, &raw), "dump addresses", "all");
  CachePtr addrs(raw);
  for (nl_object* o = nl_cache_get_first(addrs.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    std::string dev = nameOf(links.get(), rtnl_addr_get_ifindex(a));
    if (rtnl_addr_get_family(a) != AF_INET || dev == "lo" || !into.links.count(dev)) continue;
    into.addresses.insert({dev, Cidr{toIpv4(rtnl_addr_get_local(a)), rtnl_addr_get_prefixlen(a)}});
  }
  check(rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw), "dump routes", "all");
  CachePtr routes(raw);
  for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_protocol(r) != kRouteProtocol) continue;
    nl_addr* dst = rtnl_route_get_dst(r);
    Route route{.dst = Cidr{toIpv4(dst), dst ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0},
                .table = rtnl_route_get_table(r)};
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      route.gateway = toIpv4(rtnl_route_nh_get_gateway(nh));
      route.dev = nameOf(links.get(), rtnl_route_nh_get_ifindex(nh));
    }
    into.routes.insert(route);
  }
  check(rtnl_rule_alloc_cache(sock_, AF_INET, &raw), "dump rules", "all");
  CachePtr rules(raw);
  for (nl_object* o = nl_cache_get_first(rules.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_rule*>(o);
    uint8_t protocol = 0;
    if (rtnl_rule_get_protocol(r, &protocol) < 0 || protocol != kRouteProtocol) continue;
    nl_addr* src = rtnl_rule_get_src(r);
    into.rules.insert(
        {.priority = rtnl_rule_get_prio(r),
         .src = Cidr{toIpv4(src), src ? static_cast<int>(nl_addr_get_prefixlen(src)) : 0},
         .table = rtnl_rule_get_table(r)});
  }
  // vpcd puts qdiscs only inside its own namespaces: the host's (often
  // many, other tools') are not dumped on every observation of the host.
  if (withLoopback) observeQdiscs(into, links.get());
}

std::string RouteSocket::loopbackAlias() {
  rtnl_link* raw = nullptr;
  if (rtnl_link_get_kernel(sock_, 0, "lo", &raw) < 0) return "";
  LinkPtr lo(raw);
  const char* alias = rtnl_link_get_ifalias(lo.get());
  return alias ? alias : "";
}

std::string RouteSocket::defaultRouteDevice() {
  nl_cache* raw = nullptr;
  check(rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw), "dump links", "all");
  CachePtr links(raw);
  check(rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw), "dump routes", "all");
  CachePtr routes(raw);
  for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    nl_addr* dst = rtnl_route_get_dst(r);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || (dst && nl_addr_get_prefixlen(dst) != 0))
      continue;
    if (rtnl_route_get_nnexthops(r) > 0) {
      return nameOf(links.get(), rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)));
    }
  }
  return "";
}

int RouteSocket::ifindex(const std::string& name, bool required) {
  if (auto it = indexes_.find(name); it != indexes_.end()) return it->second;
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
  if (rc < 0) {
    lastExtAck_.clear();
    if (!required) return 0;
    check(rc, "find link", name);
  }
  LinkPtr l(raw);
  int index = rtnl_link_get_ifindex(l.get());
  indexes_[name] = index;
  return index;
}

void RouteSocket::createLink(const Link& link, const Link* peer, int peerNsFd) {
  indexes_.erase(link.name);
  LinkPtr l(link.kind == LinkKind::Bridge ? rtnl_link_bridge_alloc() : rtnl_link_veth_alloc());
  rtnl_link_set_name(l.get(), link.name.c_str());
  if (link.mtu) rtnl_link_set_mtu(l.get(), link.mtu);
  if (!link.master.empty()) rtnl_link_set_master(l.get(), ifindex(link.master, true));
  if (link.up) rtnl_link_set_flags(l.get(), IFF_UP);
  if (peer) {
    // The far end is created directly in its namespace: no second message
    // to move it, and it never appears in this one.
    LinkPtr p(rtnl_link_veth_get_peer(l.get()));
    rtnl_link_set_name(p.get(), peer->name.c_str());
    if (peer->mtu) rtnl_link_set_mtu(p.get(), peer->mtu);
    // No IFF_UP here: libnl 3.7 fails to build a peer with flags (-NLE_FAILURE,
    // before anything reaches the kernel). setLink() on the peer brings it up.
    rtnl_link_set_ns_fd(p.get(), peerNsFd);
  }
  check(rtnl_link_add(sock_, l.get(), NLM_F_CREATE | NLM_F_EXCL), "create link", link.name);
}

bool RouteSocket::deleteLink(const std::string& name) {
  indexes_.clear();
  LinkPtr l(rtnl_link_alloc());
  rtnl_link_set_name(l.get(), name.c_str());
  int rc = rtnl_link_delete(sock_, l.get());
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND) {
    lastExtAck_.clear();
    return false;
  }
  check(rc, "delete link", name);
  return true;
}

void RouteSocket::setLink(const Link& link) {
  LinkPtr orig(rtnl_link_alloc());
  rtnl_link_set_ifindex(orig.get(), ifindex(link.name, true));
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_ifalias(change.get(), link.alias.c_str());
  if (link.mtu) rtnl_link_set_mtu(change.get(), link.mtu);
  if (!link.mac.empty()) {
    nl_addr* raw = nullptr;
    check(nl_addr_parse(link.mac.c_str(), AF_LLC, &raw), "parse mac", link.mac);
    NlAddrPtr mac(raw);
    rtnl_link_set_addr(change.get(), mac.get());
  }
  if (link.kind != LinkKind::Loopback) {
    rtnl_link_set_master(change.get(), link.master.empty() ? 0 : ifindex(link.master, true));
  }
  if (link.up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  check(rtnl_link_change(sock_, orig.get(), change.get(), 0), "set link", link.name);
}

bool RouteSocket::address(const Address& a, bool add) {
  AddrPtr addr(rtnl_addr_alloc());
  int index = ifindex(a.link, add);
  if (!index) return false;  // deleting from a link that is gone
  rtnl_addr_set_ifindex(addr.get(), index);
  NlAddrPtr local = nlAddr(a.cidr.addr, a.cidr.prefix);
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_prefixlen(addr.get(), a.cidr.prefix);
  int rc = add ? rtnl_addr_add(sock_, addr.get(), NLM_F_CREATE | NLM_F_EXCL)
               : rtnl_addr_delete(sock_, addr.get(), 0);
  if ((add && rc == -NLE_EXIST) || (!add && (rc == -NLE_NOADDR || rc == -NLE_NODEV))) {
    lastExtAck_.clear();
    return false;
  }
  check(rc, add ? "add address" : "delete address", a.cidr.str() + " on " + a.link);
  return true;
}

bool RouteSocket::route(const Route& r, bool add) {
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_protocol(route.get(), kRouteProtocol);
  rtnl_route_set_scope(route.get(), r.gateway.value ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  NlAddrPtr dst = nlAddr(r.dst.addr, r.dst.prefix);
  rtnl_route_set_dst(route.get(), dst.get());
  int index = ifindex(r.dev, add);
  if (!index) return false;
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, index);
  NlAddrPtr gw = nlAddr(r.gateway, 32);
  if (r.gateway.value) rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
  std::string what = (r.dst.prefix == 0 ? std::string("default") : r.dst.str()) +
                     (r.gateway.value ? " via " + r.gateway.str() : " dev " + r.dev) +
                     (r.table == RT_TABLE_MAIN ? "" : " table " + std::to_string(r.table));
  // Replace: a same-destination route someone put in our namespace by hand
  // gives way to ours.
  int rc = add ? rtnl_route_add(sock_, route.get(), NLM_F_REPLACE)
               : rtnl_route_delete(sock_, route.get(), 0);
  if (!add && (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)) {
    lastExtAck_.clear();
    return false;
  }
  check(rc, add ? "add route" : "delete route", what);
  return true;
}

bool RouteSocket::rule(const Rule& r, bool add) {
  RulePtr rule(rtnl_rule_alloc());
  rtnl_rule_set_family(rule.get(), AF_INET);
  rtnl_rule_set_prio(rule.get(), r.priority);
  rtnl_rule_set_table(rule.get(), r.table);
  rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
  rtnl_rule_set_protocol(rule.get(), kRouteProtocol);
  NlAddrPtr src = nlAddr(r.src.addr, r.src.prefix);
  rtnl_rule_set_src(rule.get(), src.get());
  std::string what = "from " + r.src.str() + " lookup " + std::to_string(r.table);
  int rc = add ? rtnl_rule_add(sock_, rule.get(), NLM_F_CREATE | NLM_F_EXCL)
               : rtnl_rule_delete(sock_, rule.get(), 0);
  if ((add && rc == -NLE_EXIST) || (!add && rc == -NLE_OBJ_NOTFOUND)) {
    lastExtAck_.clear();
    return false;
  }
  check(rc, add ? "add rule" : "delete rule", what);
  return true;
}

}  // namespace vpcd
