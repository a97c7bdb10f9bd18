// Impairments: put (create, change, switch on and off), read, delete, and
// timed ones switched off when their time is up.
#include <sys/utsname.h>

#include "daemon/service.h"
#include "lib/model/error.h"
#include "lib/plan/impair.h"

namespace vpcd {

using nlohmann::json;

namespace {

std::string kernelRelease() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "?";
}

}  // namespace

void requireEnforceable(Engine& engine, const DesiredState& next,
                        const std::function<std::string(const std::string&)>& pathOf) {
  for (const auto& [name, i] : next.impairments()) {
    if (!i->enabled) continue;
    Netem n = netemOf(*i);
    std::string kind = n.needsNetem() ? "netem" : n.rateBytes ? "tbf" : "";
    if (kind.empty() || engine.kernel().hasQdisc(kind)) continue;
    // The field of the first value the kernel cannot carry out.
    std::string field = i->delayMs > 0            ? "delay_ms"
                        : i->lossPercent > 0      ? "loss_percent"
                        : i->duplicatePercent > 0 ? "duplicate_percent"
                        : i->corruptPercent > 0   ? "corrupt_percent"
                        : kind == "tbf"           ? "rate_kbit"
                                                  : "reorder_percent";
    DomainError refused = DomainError::unprocessable(
        field + ": impairment " + name + " needs the " + kind + " qdisc, which this kernel (" +
            "Linux " + kernelRelease() + ") does not have (" +
            (kind == "netem" ? "CONFIG_NET_SCH_NETEM, module sch_netem"
                             : "CONFIG_NET_SCH_TBF, module sch_tbf") +
            "): nothing was changed. " +
            (kind == "netem" ? "rate_kbit and down work without it." : ""),
        field);
    throw pathOf ? refused.under(pathOf(name)) : refused;
  }
}

json ImpairmentService::shown(const Impairment& i) const {
  const DesiredState& s = engine_.state();
  json out = engine_.withEnforcement(toJson(i), {i.vpc, i.peerVpc});
  // A peering's link exists only while the peering is active: until then an
  // enabled impairment on it waits, and says so.
  const Peering* p = i.kind == Impairment::Kind::Peering ? s.findPeering(i.peering) : nullptr;
  bool linked = !p || p->state == PeeringState::Active;
  out["in_effect"] = i.enabled && linked;
  if (i.enabled && !linked) out["waiting_for"] = "peering " + i.peering + " to be active";
  return out;
}

void ImpairmentService::expire() {
  const DesiredState& current = engine_.state();
  int64_t now = nowSeconds();
  bool due = false;
  for (const auto& [name, i] : current.impairments())
    due = due || (i->endsAt() && i->endsAt() <= now);
  if (due) engine_.commit(current.with(change::ExpireImpairments{now}));
}

Reply ImpairmentService::list() {
  expire();
  json items = json::array();
  for (const auto& [name, i] : engine_.state().impairments()) items.push_back(shown(*i));
  return {200, json{{"items", items}}};
}

Reply ImpairmentService::get(const std::string& name) {
  expire();
  return {200, shown(engine_.state().impairment(name))};
}

Reply ImpairmentService::put(const std::string& name, const json& body) {
  expire();
  Impairment i = parseImpairment(body, name, nowSeconds());
  const DesiredState& current = engine_.state();
  bool created = current.findImpairment(name) == nullptr;
  DesiredState next = current.with(change::PutImpairment{i});
  requireEnforceable(engine_, next);
  engine_.commit(next);
  return {created ? 201 : 200, shown(engine_.state().impairment(name))};
}

Reply ImpairmentService::remove(const std::string& name) {
  json gone = toJson(engine_.state().impairment(name));
  engine_.commit(engine_.state().with(change::DeleteImpairment{name, ""}));
  return {200, gone};
}

json impairmentSummaries(const DesiredState& s, const std::vector<std::string>& names) {
  json out = json::array();
  for (const auto& n : names) {
    const Impairment& i = s.impairment(n);
    out.push_back({{"name", i.name},
                   {"direction", i.direction},
                   {"enabled", i.enabled},
                   {"down", i.down},
                   {"effect", netemOf(i).describe()}});
  }
  return out;
}

}  // namespace vpcd
