#include "lib/model/impairment.h"

#include <cmath>

#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {

using nlohmann::json;

namespace {

// Limits: a delay of up to a minute (netem's 32-bit ticks hold more, a lab
// needs less), and no rate under 8 kbit/s (1 kB/s, less than one full-size
// packet a second).
constexpr double kMaxDelayMs = 60000;
constexpr uint64_t kMinRateKbit = 8;
constexpr uint64_t kMaxRateKbit = 10'000'000;  // 10 Gbit/s: tbf's rate fits 32 bits of bytes
constexpr int64_t kMaxDurationS = 30 * 86400;

double number(const json& body, const std::string& field, double max) {
  if (!body.contains(field)) return 0;
  const json& v = body.at(field);
  if (!v.is_number()) throw DomainError::invalid(field, "must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > max) {
    throw DomainError::invalid(field, "must be a number from 0 to " + json(max).dump());
  }
  return d;
}

bool flag(const json& body, const std::string& field, bool fallback) {
  if (!body.contains(field)) return fallback;
  if (!body.at(field).is_boolean()) throw DomainError::invalid(field, "must be true or false");
  return body.at(field).get<bool>();
}

}  // namespace

bool Impairment::shapes() const {
  return delayMs > 0 || jitterMs > 0 || lossPercent > 0 || duplicatePercent > 0 ||
         corruptPercent > 0 || reorderPercent > 0 || rateKbit > 0;
}

bool Impairment::sameEffect(const Impairment& o) const {
  return target == o.target && direction == o.direction && delayMs == o.delayMs &&
         jitterMs == o.jitterMs && lossPercent == o.lossPercent &&
         duplicatePercent == o.duplicatePercent && corruptPercent == o.corruptPercent &&
         reorderPercent == o.reorderPercent && rateKbit == o.rateKbit && down == o.down &&
         enabled == o.enabled && durationS == o.durationS;
}

Impairment parseImpairment(const json& body, const std::string& name, int64_t now) {
  requireObject(body, {"name", "target", "direction", "delay_ms", "jitter_ms", "loss_percent",
                       "duplicate_percent", "corrupt_percent", "reorder_percent", "rate_kbit",
                       "down", "enabled", "duration_s"});
  Impairment i;
  i.name = body.contains("name") ? requireString(body, "name") : name;
  requireLabel("name", i.name);
  if (!name.empty() && i.name != name)
    throw DomainError::invalid("name", "\"" + i.name + "\" differs from the name in the path");
  if (!body.contains("target")) throw DomainError::invalid("target", "is required");
  i.target = requireString(body, "target");
  if (i.target.empty()) throw DomainError::invalid("target", "must not be empty");
  if (body.contains("direction")) {
    i.direction = requireString(body, "direction");
    if (i.direction != "both" && i.direction != "in" && i.direction != "out")
      throw DomainError::invalid("direction", "must be both, in or out");
  }
  i.delayMs = number(body, "delay_ms", kMaxDelayMs);
  i.jitterMs = number(body, "jitter_ms", kMaxDelayMs);
  i.lossPercent = number(body, "loss_percent", 100);
  i.duplicatePercent = number(body, "duplicate_percent", 100);
  i.corruptPercent = number(body, "corrupt_percent", 100);
  i.reorderPercent = number(body, "reorder_percent", 100);
  // netem varies a delay and sends some packets ahead of the delayed ones:
  // both need a delay to act on (tc refuses them without one too).
  if (i.jitterMs > 0 && i.delayMs == 0)
    throw DomainError::invalid("jitter_ms", "needs a delay_ms to vary");
  if (i.reorderPercent > 0 && i.delayMs == 0)
    throw DomainError::invalid("reorder_percent",
                               "needs a delay_ms: reordered packets are "
                               "those sent ahead of the delayed ones");
  i.rateKbit = integerOr<uint64_t>(body, "rate_kbit", 0);
  if (i.rateKbit != 0 && (i.rateKbit < kMinRateKbit || i.rateKbit > kMaxRateKbit)) {
    throw DomainError::invalid("rate_kbit", "must be 0 (no limit) or from " +
                                                std::to_string(kMinRateKbit) + " to " +
                                                std::to_string(kMaxRateKbit));
  }
  i.down = flag(body, "down", false);
  i.enabled = flag(body, "enabled", true);
  i.durationS = integerOr<int64_t>(body, "duration_s", 0);
  if (i.durationS < 0 || i.durationS > kMaxDurationS)
    throw DomainError::invalid(
        "duration_s", "must be from 0 (no end) to " + std::to_string(kMaxDurationS) + " seconds");
  if (!i.down && !i.shapes()) {
    throw DomainError::invalid("delay_ms",
                               "the impairment does nothing: give delay_ms, "
                               "loss_percent, duplicate_percent, corrupt_percent, "
                               "reorder_percent, rate_kbit or down");
  }
  i.createdAt = now;
  i.enabledAt = i.enabled ? now : 0;
  return i;
}

json toRequest(const Impairment& i) {
  json out{{"name", i.name}, {"target", i.target}, {"direction", i.direction}};
  auto put = [&](const char* field, double v) {
    if (v > 0) out[field] = v;
  };
  put("delay_ms", i.delayMs);
  put("jitter_ms", i.jitterMs);
  put("loss_percent", i.lossPercent);
  put("duplicate_percent", i.duplicatePercent);
  put("corrupt_percent", i.corruptPercent);
  put("reorder_percent", i.reorderPercent);
  if (i.rateKbit) out["rate_kbit"] = i.rateKbit;
  if (i.down) out["down"] = true;
  if (!i.enabled) out["enabled"] = false;
  if (i.durationS) out["duration_s"] = i.durationS;
  return out;
}

namespace {

std::string kindText(Impairment::Kind k) {
  switch (k) {
    case Impairment::Kind::Nic:
      return "nic";
    case Impairment::Kind::Peering:
      return "peering";
    case Impairment::Kind::Subnet:
      break;
  }
  return "subnet";
}

}  // namespace

json toJson(const Impairment& i) {
  json out = toRequest(i);
  for (const char* f : {"delay_ms", "jitter_ms", "loss_percent", "duplicate_percent",
                        "corrupt_percent", "reorder_percent", "rate_kbit", "duration_s"}) {
    if (!out.contains(f)) out[f] = 0;
  }
  out["down"] = i.down;
  out["enabled"] = i.enabled;
  out["target_kind"] = kindText(i.kind);
  if (i.kind == Impairment::Kind::Peering) {
    out["peering"] = i.peering;
    out["vpcs"] = {i.vpc, i.peerVpc};
  } else {
    out["vpc"] = i.vpc;
    out["subnet"] = i.vpc + "/" + i.subnet;
  }
  if (i.kind == Impairment::Kind::Nic) out["instance"] = i.instance + "/" + i.nic;
  out["enabled_at"] = i.enabled ? json(isoTime(i.enabledAt)) : json(nullptr);
  out["ends_at"] = i.endsAt() ? json(isoTime(i.endsAt())) : json(nullptr);
  out["created_at"] = isoTime(i.createdAt);
  out["lab"] = labJson(i.lab);
  return out;
}

json toState(const Impairment& i) {
  json out = toRequest(i);
  out["enabled"] = i.enabled;
  out["resolved"] = {{"kind", kindText(i.kind)}, {"vpc", i.vpc}, {"subnet", i.subnet},
                     {"instance", i.instance},   {"nic", i.nic}, {"peering", i.peering},
                     {"peer_vpc", i.peerVpc}};
  out["enabled_at"] = i.enabledAt;
  out["created_at"] = i.createdAt;
  if (!i.lab.empty()) out["lab"] = i.lab;
  return out;
}

Impairment fromImpairmentState(const json& state) {
  json request = state;
  for (const char* k : {"resolved", "enabled_at", "created_at", "lab"}) request.erase(k);
  Impairment i = parseImpairment(request, "", integerOr<int64_t>(state, "created_at", 0));
  i.enabledAt = integerOr<int64_t>(state, "enabled_at", 0);
  if (!state.contains("resolved")) throw DomainError::invalid("resolved", "is required");
  const json& r = state.at("resolved");
  requireObject(r, {"kind", "vpc", "subnet", "instance", "nic", "peering", "peer_vpc"});
  std::string kind = requireString(r, "kind");
  if (kind == "subnet") {
    i.kind = Impairment::Kind::Subnet;
  } else if (kind == "nic") {
    i.kind = Impairment::Kind::Nic;
  } else if (kind == "peering") {
    i.kind = Impairment::Kind::Peering;
  } else {
    throw DomainError::invalid("resolved.kind", "must be subnet, nic or peering");
  }
  auto text = [&](const char* f) { return r.contains(f) ? requireString(r, f) : std::string(); };
  i.vpc = text("vpc");
  i.subnet = text("subnet");
  i.instance = text("instance");
  i.nic = text("nic");
  i.peering = text("peering");
  i.peerVpc = text("peer_vpc");
  i.lab = labFrom(state);
  return i;
}

}  // namespace vpcd
