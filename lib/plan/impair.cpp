#include "lib/plan/impair.h"

#include <cmath>
#include <cstdint>

#include "lib/model/names.h"

namespace vpcd {
namespace {

uint32_t probability(double percent) {
  return static_cast<uint32_t>(std::llround(percent / 100.0 * double(UINT32_MAX)));
}

uint32_t micros(double ms) {
  return static_cast<uint32_t>(std::llround(ms * 1000.0));
}

// The qdisc on `link` of `ns`, when the link is there to hold it (a
// peering's link exists only while the peering is active).
void shape(Namespace& ns, const std::string& link, const Impairment& i) {
  if (i.shapes() && ns.links.count(link)) ns.qdiscs[link] = netemOf(i);
}

// A link down on purpose. The kernel flushes every route through a link set
// down and refuses new ones, so its routes leave the picture with it; its
// veth peer keeps its own (it loses only its carrier) and drops what it sends.
void takeDown(Namespace& ns, const std::string& link) {
  auto it = ns.links.find(link);
  if (it == ns.links.end()) return;
  it->second.up = false;
  std::erase_if(ns.routes, [&](const Route& r) { return r.dev == link; });
}

Namespace* find(std::map<std::string, Namespace>& namespaces, const std::string& name) {
  auto it = namespaces.find(name);
  return it == namespaces.end() ? nullptr : &it->second;
}

}  // namespace

Netem netemOf(const Impairment& i) {
  return Netem{.delayUs = micros(i.delayMs),
               .jitterUs = micros(i.jitterMs),
               .loss = probability(i.lossPercent),
               .duplicate = probability(i.duplicatePercent),
               .corrupt = probability(i.corruptPercent),
               .reorder = probability(i.reorderPercent),
               .rateBytes = static_cast<uint32_t>(i.rateKbit * 125)};
}

void impairVpc(std::map<std::string, Namespace>& namespaces, const std::string& vpc,
               const std::vector<std::shared_ptr<const Impairment>>& list) {
  Namespace* router = find(namespaces, routerNamespace(vpc));
  if (!router) return;
  for (const auto& ptr : list) {
    const Impairment& i = *ptr;
    switch (i.kind) {
      case Impairment::Kind::Subnet: {
        // "in" leaves the router's port toward the host; "out" the host's eth0.
        std::string port = subnetPortName(i.subnet);
        if (i.inbound()) shape(*router, port, i);
        Namespace* host = find(namespaces, subnetNamespace(vpc, i.subnet));
        if (host && i.outbound()) shape(*host, kSubnetNic, i);
        if (i.down) takeDown(*router, port);
        break;
      }
      case Impairment::Kind::Nic: {
        // The NIC's own end is in the instance's namespace (impairInstance).
        std::string port = instancePortName(i.instance, i.nic);
        if (i.inbound()) shape(*router, port, i);
        if (i.down) takeDown(*router, port);
        break;
      }
      case Impairment::Kind::Peering: {
        // A peering's "out" runs from its vpc to its peer_vpc: it leaves
        // the requester's router; "in" leaves the peer's. Down is the peer's
        // end (the requester's end loses its carrier).
        bool mine = i.vpc == vpc;
        std::string link = peerLinkName(mine ? i.peerVpc : i.vpc);
        if (mine ? i.outbound() : i.inbound()) shape(*router, link, i);
        if (i.down && !mine) takeDown(*router, link);
        break;
      }
    }
  }
}

void impairInstance(Namespace& ns, const std::vector<std::shared_ptr<const Impairment>>& list) {
  for (const auto& i : list) {
    if (i->kind == Impairment::Kind::Nic && i->outbound()) shape(ns, i->nic, *i);
  }
}

}  // namespace vpcd
