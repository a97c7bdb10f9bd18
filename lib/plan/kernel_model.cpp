#include "lib/plan/kernel_model.h"

#include <cstdio>

namespace vpcd {

std::string displayName(const std::string& ns) {
  return ns.empty() ? "host" : ns;
}

namespace {

std::string routeText(const Route& r) {
  std::string text = r.dst.prefix == 0 ? std::string("default") : r.dst.str();
  text += r.gateway.value ? " via " + r.gateway.str() : " dev " + r.dev;
  return r.table == kMainTable ? text : text + " table " + std::to_string(r.table);
}

std::string ruleText(const Rule& r) {
  return "from " + r.src.str() + " lookup " + std::to_string(r.table) + " pref " +
         std::to_string(r.priority);
}

// A kernel probability as a percentage, as tc prints it ("20%", "0.5%").
std::string percent(uint32_t p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", double(p) * 100.0 / double(UINT32_MAX));
  return buf;
}

std::string ms(uint32_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gms", double(us) / 1000.0);
  return buf;
}

}  // namespace

bool Netem::sameAs(const Netem& o) const {
  auto near = [](uint32_t a, uint32_t b) { return (a > b ? a - b : b - a) <= 1; };
  return near(delayUs, o.delayUs) && near(jitterUs, o.jitterUs) && loss == o.loss &&
         duplicate == o.duplicate && corrupt == o.corrupt && reorder == o.reorder &&
         rateBytes == o.rateBytes;
}

std::string Netem::describe() const {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : " ") + part; };
  if (delayUs) add("delay " + ms(delayUs) + (jitterUs ? " " + ms(jitterUs) : ""));
  if (loss) add("loss " + percent(loss));
  if (duplicate) add("duplicate " + percent(duplicate));
  if (corrupt) add("corrupt " + percent(corrupt));
  if (reorder) add("reorder " + percent(reorder));
  if (rateBytes) add("rate " + std::to_string(uint64_t{rateBytes} * 8 / 1000) + "kbit");
  return out.empty() ? "(no effect)" : out;
}

std::string Action::describe() const {
  std::string where = " in " + displayName(ns);
  switch (op) {
    case Op::CreateNamespace:
      return "+ netns " + ns;
    case Op::DeleteNamespace:
      return "- netns " + ns;
    case Op::CreateLink:
      return "+ link " + link.name + where +
             (link.peerName.empty()
                  ? ""
                  : " (peer " + link.peerName + " in " + displayName(link.peerNamespace) + ")");
    case Op::DeleteLink:
      return "- link " + link.name + where;
    case Op::SetLink:
      return "~ link " + link.name + where;
    case Op::AddAddress:
      return "+ address " + address.cidr.str() + " on " + address.link + where;
    case Op::DeleteAddress:
      return "- address " + address.cidr.str() + " on " + address.link + where;
    case Op::AddRoute:
      return "+ route " + routeText(route) + where;
    case Op::DeleteRoute:
      return "- route " + routeText(route) + where;
    case Op::AddRule:
      return "+ rule " + ruleText(rule) + where;
    case Op::DeleteRule:
      return "- rule " + ruleText(rule) + where;
    case Op::SetSysctl:
      return "~ sysctl " + key + "=" + value + where;
    case Op::ReplaceTable:
      return "~ nft table " + table.key() + where;
    case Op::UpdateSets: {
      size_t added = 0, removed = 0;
      for (const auto& d : setDeltas) {
        added += d.add.size();
        removed += d.remove.size();
      }
      return "~ nft table " + table.key() + " elements +" + std::to_string(added) + " -" +
             std::to_string(removed) + where;
    }
    case Op::DeleteTable:
      return "- nft table " + table.key() + where;
    case Op::SetQdisc:
      return "~ qdisc netem " + netem.describe() + " on " + link.name + where;
    case Op::DeleteQdisc:
      return "- qdisc netem on " + link.name + where;
  }
  return "?";
}

}  // namespace vpcd
