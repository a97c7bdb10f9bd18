#include "lib/plan/held.h"

#include <algorithm>

#include "lib/model/names.h"
#include "lib/plan/desired.h"

namespace vpcd {
namespace {

bool namespaceHeld(const std::string& ns, const Quarantine& held) {
  NamespaceOwner owner = ownerOfNamespace(ns);
  switch (owner.kind) {
    case NamespaceOwner::Kind::Router:
    case NamespaceOwner::Kind::Subnet:
      return held.reason("vpc", owner.vpc) != nullptr;
    case NamespaceOwner::Kind::Instance:
      return held.reason("instance", owner.instance) != nullptr;
    case NamespaceOwner::Kind::None:
      return false;
  }
  return false;
}

// The host device an action in the host acts on.
std::string hostDevice(const Action& a) {
  switch (a.op) {
    case Action::Op::CreateLink:
    case Action::Op::DeleteLink:
    case Action::Op::SetLink:
      return a.link.name;
    case Action::Op::AddAddress:
    case Action::Op::DeleteAddress:
      return a.address.link;
    case Action::Op::AddRoute:
    case Action::Op::DeleteRoute:
      return a.route.dev;
    default:
      return "";
  }
}

bool hostLinkHeld(const std::string& device, const Quarantine& held) {
  if (device.empty()) return false;
  for (const auto& vpc : held.names("vpc")) {
    if (device == transitLinkName(vpc)) return true;
  }
  return false;
}

}  // namespace

bool touchesHeld(const Action& a, const Quarantine& held) {
  if (!held.all.empty()) return true;
  if (held.held.empty()) return false;
  if (a.ns != kHostNamespace) {
    // A veth made from a free namespace into a held one is held too.
    return namespaceHeld(a.ns, held) ||
           (a.op == Action::Op::CreateLink && namespaceHeld(a.link.peerNamespace, held));
  }
  // The host's table masquerades the whole transit pool: with only held VPCs
  // left it must stay, or their traffic stops.
  if (a.op == Action::Op::DeleteTable) return true;
  if (hostLinkHeld(hostDevice(a), held)) return true;
  for (const auto& vpc : held.names("vpc")) {
    if (a.op == Action::Op::SetSysctl && a.key == forwardingSysctl(transitLinkName(vpc)))
      return true;
  }
  return false;
}

void dropHeld(Plan& plan, const Quarantine& held) {
  std::erase_if(plan.actions, [&](const Action& a) { return touchesHeld(a, held); });
  std::erase_if(plan.vanishing, [&](const auto& v) {
    if (!held.all.empty()) return true;
    return v.first == kHostNamespace ? hostLinkHeld(v.second, held) : namespaceHeld(v.first, held);
  });
  std::erase_if(plan.conflicts, [&](const std::string& ns) {
    return !held.all.empty() || namespaceHeld(ns, held);
  });
}

}  // namespace vpcd
