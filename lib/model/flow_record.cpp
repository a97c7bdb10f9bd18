#include "lib/model/flow_record.h"

#include <algorithm>

#include "lib/model/desired_state.h"

namespace vpcd {

std::string dotted(uint32_t addr) {
  return Ipv4{addr}.str();
}

std::optional<DroppedPacket> droppedPacket(const uint8_t* p, size_t len) {
  if (!p || len < 20 || (p[0] >> 4) != 4) return std::nullopt;
  auto u32 = [&](size_t at) {
    return uint32_t{p[at]} << 24 | uint32_t{p[at + 1]} << 16 | uint32_t{p[at + 2]} << 8 | p[at + 3];
  };
  DroppedPacket d;
  d.bytes = uint64_t{p[2]} << 8 | p[3];
  d.key.proto = p[9];
  d.key.src = u32(12);
  d.key.dst = u32(16);
  size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  bool ports = d.key.proto == 6 || d.key.proto == 17 || d.key.proto == 132 || d.key.proto == 136;
  // A fragment past the first carries no ports.
  bool first = (uint32_t{p[6]} << 8 | p[7]) % 0x2000 == 0;
  if (ports && first && ihl >= 20 && len >= ihl + 4) {
    d.key.sport = static_cast<uint16_t>(p[ihl] << 8 | p[ihl + 1]);
    d.key.dport = static_cast<uint16_t>(p[ihl + 2] << 8 | p[ihl + 3]);
  }
  return d;
}

std::optional<FlowPlaces> FlowPlaces::of(const DesiredState& state, const std::string& vpc) {
  const Vpc* v = state.findVpc(vpc);
  if (!v) return std::nullopt;
  FlowPlaces p{.vpc = vpc};
  bool any = false;
  int aggregation = kMaxAggregationS;
  for (const auto& [name, f] : state.flowLogs()) {
    if (!f->enabled || f->vpc != vpc) continue;
    any = true;
    aggregation = std::min(aggregation, f->aggregationS);
    if (f->subnet.empty()) {
      p.wholeVpc = true;
    } else {
      p.covered.insert(f->subnet);
    }
  }
  if (!any) return std::nullopt;
  p.aggregationS = aggregation;
  for (const auto& s : v->subnets) {
    p.subnets.emplace_back(s.cidr, s.name);
    p.gateways.insert(s.gateway().value);
  }
  for (const auto& [name, i] : state.instances()) {
    for (const auto& n : i->nics) {
      if (n.vpc == vpc) p.nics[n.ip.value] = i->name + "/" + n.name;
    }
  }
  return p;
}

std::string FlowPlaces::subnetOf(uint32_t addr) const {
  for (const auto& [cidr, name] : subnets) {
    if (cidr.contains(Ipv4{addr})) return name;
  }
  return "";
}

std::string FlowPlaces::interfaceOf(uint32_t addr) const {
  if (auto it = nics.find(addr); it != nics.end()) return it->second;
  return vpc + "/" + subnetOf(addr);
}

void FlowWindow::observe(const ConnectionCount& c) {
  auto it = seen_.find(c.id);
  // An id the kernel reused for another connection starts from nothing.
  bool same = it != seen_.end() && it->second.last.proto == c.proto &&
              it->second.last.origSrc == c.origSrc && it->second.last.origDst == c.origDst &&
              it->second.last.origSport == c.origSport && it->second.last.origDport == c.origDport;
  ConnectionCount before = same ? it->second.last : ConnectionCount{};
  auto delta = [](uint64_t now, uint64_t then) { return now >= then ? now - then : now; };
  Count orig{delta(c.origPackets, before.origPackets), delta(c.origBytes, before.origBytes)};
  Count reply{delta(c.replyPackets, before.replyPackets), delta(c.replyBytes, before.replyBytes)};
  // The inside view, as an interface sees it: the sender before source NAT
  // and the receiver after destination NAT (a port forward's instance).
  FlowKey out{c.proto, c.origSrc, c.replySrc, c.origSport, c.replySport};
  FlowKey back{c.proto, c.replySrc, c.origSrc, c.replySport, c.origSport};
  for (auto [key, n] : {std::pair{out, orig}, std::pair{back, reply}}) {
    if (n.packets == 0) continue;
    Count& w = window_[{key, true}];
    w.packets += n.packets;
    w.bytes += n.bytes;
  }
  if (c.destroyed) {
    if (it != seen_.end()) seen_.erase(it);
  } else {
    seen_[c.id] = Seen{c, 0};
  }
}

void FlowWindow::dumped(const std::set<uint32_t>& ids) {
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (ids.count(it->first)) {
      it->second.missing = 0;
      ++it;
    } else if (++it->second.missing >= 2) {
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
}

void FlowWindow::rejected(const FlowKey& k, uint64_t bytes) {
  Count& w = window_[{k, false}];
  w.packets += 1;
  w.bytes += bytes;
}

std::vector<std::string> FlowWindow::close(int64_t start, int64_t end, const FlowPlaces& places) {
  std::vector<std::string> out;
  std::string tail = " " + std::to_string(start) + " " + std::to_string(end) + " ";
  for (const auto& [k, n] : window_) {
    const auto& [key, accepted] = k;
    if (places.gateways.count(key.src) || places.gateways.count(key.dst)) continue;
    std::string from = places.subnetOf(key.src), to = places.subnetOf(key.dst);
    if (!places.inScope(from) && !places.inScope(to)) continue;
    std::string iface = places.interfaceOf(places.inScope(from) ? key.src : key.dst);
    out.push_back("2 " + places.vpc + " " + iface + " " + dotted(key.src) + " " + dotted(key.dst) +
                  " " + std::to_string(key.sport) + " " + std::to_string(key.dport) + " " +
                  std::to_string(key.proto) + " " + std::to_string(n.packets) + " " +
                  std::to_string(n.bytes) + tail + (accepted ? "ACCEPT" : "REJECT") + " OK");
  }
  if (lost_) out.push_back("2 " + places.vpc + " - - - - - - - -" + tail + "- SKIPDATA");
  window_.clear();
  lost_ = false;
  return out;
}

}  // namespace vpcd
