#include "lib/plan/picture.h"

namespace vpcd {
namespace {

// The far ends of the veths of `ns` that differ from `before` (or are new).
void addCompanions(KernelPicture::Delta& d, const PrimaryIndex& primaries, const Namespace& ns,
                   const Namespace* before) {
  for (const auto& [name, link] : ns.links) {
    if (link.kind != LinkKind::Veth) continue;
    if (before) {
      auto it = before->links.find(name);
      if (it != before->links.end() && it->second == link) continue;
    }
    if (!link.isPeer) {
      d.companions.insert(link.peerNamespace);
    } else if (auto p = primaries.find({ns.name, name}); p != primaries.end()) {
      d.companions.insert(p->second);
    }
  }
}

// `name` gets `want` in the delta unless the picture already holds exactly it.
void noteChange(KernelPicture::Delta& d, const KernelState& have, const PrimaryIndex& primaries,
                const std::string& name, std::optional<Namespace> want) {
  auto it = have.find(name);
  if (!want) {
    if (it != have.end()) d.changed[name] = std::nullopt;
    return;
  }
  if (it == have.end()) d.added.push_back(name);
  if (it != have.end() && it->second == *want) return;
  addCompanions(d, primaries, *want, it == have.end() ? nullptr : &it->second);
  d.changed[name] = std::move(want);
}

}  // namespace

std::set<std::string> KernelPicture::Delta::scope() const {
  std::set<std::string> out;
  for (const auto& [name, ns] : changed) out.insert(name);
  out.insert(companions.begin(), companions.end());
  return out;
}

KernelPicture::Delta KernelPicture::delta(const DesiredState& next) const {
  Delta d;
  noteChange(d, state_, primaries_, kHostNamespace, hostSide(next));
  for (auto& [name, in] : vpcInputs(next)) {
    auto old = vpcs_.find(name);
    if (old != vpcs_.end() && old->second.inputs == in) {
      d.vpcs[name] = old->second;
      continue;
    }
    auto built = std::make_shared<const std::map<std::string, Namespace>>(vpcSide(in));
    for (const auto& [ns, content] : *built) noteChange(d, state_, primaries_, ns, content);
    if (old != vpcs_.end()) {
      for (const auto& [ns, content] : *old->second.namespaces) {
        if (!built->count(ns)) noteChange(d, state_, primaries_, ns, std::nullopt);
      }
    }
    d.rebuilt.insert(name);
    d.vpcs[name] = VpcPart{std::move(in), std::move(built)};
  }
  for (const auto& [name, part] : vpcs_) {
    if (d.vpcs.count(name)) continue;
    for (const auto& [ns, content] : *part.namespaces)
      noteChange(d, state_, primaries_, ns, std::nullopt);
  }
  for (auto& [name, in] : instanceInputs(next)) {
    auto old = instances_.find(name);
    if (old != instances_.end() && old->second.inputs == in) {
      d.instances[name] = old->second;
      continue;
    }
    auto built = std::make_shared<const Namespace>(instanceSide(in));
    noteChange(d, state_, primaries_, built->name, *built);
    d.rebuilt.insert(instanceNamespace(name));
    d.instances[name] = InstancePart{std::move(in), std::move(built)};
  }
  for (const auto& [name, part] : instances_) {
    if (!d.instances.count(name)) noteChange(d, state_, primaries_, part.ns->name, std::nullopt);
  }
  return d;
}

void KernelPicture::put(const std::string& name, std::optional<Namespace> ns) {
  // The index entries of a namespace are those of its primary veth ends,
  // found by the namespace (not by walking the whole index).
  auto& keys = primaryKeysOf_[name];
  for (const auto& key : keys) {
    if (auto it = primaries_.find(key); it != primaries_.end() && it->second == name)
      primaries_.erase(it);
  }
  keys.clear();
  if (!ns) {
    primaryKeysOf_.erase(name);
    state_.erase(name);
    return;
  }
  for (const auto& [ln, link] : ns->links) {
    if (link.kind == LinkKind::Veth && !link.isPeer) {
      primaries_[{link.peerNamespace, link.peerName}] = name;
      keys.emplace_back(link.peerNamespace, link.peerName);
    }
  }
  state_[name] = std::move(*ns);
}

void KernelPicture::apply(Delta d) {
  for (auto& [name, ns] : d.changed) put(name, std::move(ns));
  vpcs_ = std::move(d.vpcs);
  instances_ = std::move(d.instances);
}

std::set<std::string> KernelPicture::update(const DesiredState& next) {
  Delta d = delta(next);
  auto scope = d.scope();
  apply(std::move(d));
  return scope;
}

std::set<std::string> KernelPicture::vpcsOf(const std::string& ns) const {
  NamespaceOwner owner = ownerOfNamespace(ns);
  if (owner.kind == NamespaceOwner::Kind::Instance) {
    auto it = instances_.find(owner.instance);
    if (it == instances_.end()) return {};
    std::set<std::string> out;
    for (const auto& [vpc, mtu] : it->second.inputs.mtuOf) out.insert(vpc);
    return out;
  }
  if (owner.kind != NamespaceOwner::Kind::None && vpcs_.count(owner.vpc)) return {owner.vpc};
  return {};
}

std::set<std::string> KernelPicture::groupOf(const std::string& ns) const {
  std::set<std::string> out;
  for (const auto& vpc : vpcsOf(ns)) {
    const VpcPart& part = vpcs_.at(vpc);
    for (const auto& [name, content] : *part.namespaces) out.insert(name);
    for (const auto& i : part.inputs.instances) out.insert(instanceNamespace(i->name));
  }
  return out;
}

}  // namespace vpcd
