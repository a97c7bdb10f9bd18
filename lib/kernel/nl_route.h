#pragma once
// rtnetlink through libnl-route-3, over one socket bound to one namespace.
#include <map>
#include <set>
#include <string>

#include "lib/plan/kernel_model.h"

struct nl_cache;
struct nl_sock;
struct nlmsghdr;

namespace vpcd {

// The kernel's extended-ack text in an NLMSG_ERROR message, or "".
std::string extAckMessage(const nlmsghdr* error);

class RouteSocket {
 public:
  // Creates the socket in the namespace of `nsFd` (-1: the current one).
  RouteSocket(int nsFd, std::string nsName);
  ~RouteSocket();
  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;

  // Links carrying vpcd's alias (and the loopback when `withLoopback`, and
  // the links named in `adopt` whatever their alias), their IPv4 addresses,
  // and IPv4 routes (any table) and rules with vpcd's protocol. `allLinks`,
  // if given, receives the name of every link, those skipped too.
  void observe(Namespace& into, bool withLoopback, const std::set<std::string>& adopt,
               std::set<std::string>* allLinks = nullptr);
  std::string loopbackAlias();
  // Asks the kernel (a link may be on its way out).
  bool hasLink(const std::string& name) {
    indexes_.erase(name);
    return ifindex(name, false) != 0;
  }
  std::string defaultRouteDevice();

  // Creates a bridge, or a veth pair whose peer is born in `peerNsFd`.
  void createLink(const Link& link, const Link* peer, int peerNsFd);
  bool deleteLink(const std::string& name);
  // Interface indexes are looked up by name once and kept (a request per
  // address or port otherwise); forgotten when a link is created or deleted
  // here, and by forgetIndexes() (a link that died elsewhere: a veth end
  // whose peer's namespace was deleted).
  void forgetIndexes() { indexes_.clear(); }
  void setLink(const Link& link);
  bool address(const Address& a, bool add);
  bool route(const Route& r, bool add);
  bool rule(const Rule& r, bool add);
  // vpcd's impairment on a link: a netem at its root (replacing whatever
  // root qdisc it had), and a tbf under it for a rate (nl_qdisc.cpp).
  void setQdisc(const std::string& link, const Netem& netem);
  // The link's root back to the kernel's default; false when it had none of ours.
  bool deleteQdisc(const std::string& link);
  // Whether the kernel makes a root qdisc of `kind` on this namespace's
  // loopback (it is left there: call it in a namespace made to be thrown away).
  bool canMakeQdisc(const std::string& kind);

 private:
  // The root qdiscs with vpcd's handle on the links of `into` (nl_qdisc.cpp).
  void observeQdiscs(Namespace& into, nl_cache* links);
  int ifindex(const std::string& name, bool required);
  // Runs a libnl call; on failure throws KernelError with the kernel's words.
  int check(int err, const std::string& op, const std::string& object);

  nl_sock* sock_ = nullptr;
  std::map<std::string, int> indexes_;
  std::string ns_;
  std::string lastExtAck_;
};

}  // namespace vpcd
