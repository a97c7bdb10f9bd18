#include "lib/plan/kernel_model.h"

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

}  // namespace

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
  }
  return "?";
}

}  // namespace vpcd
