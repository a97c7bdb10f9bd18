#include "daemon/events.h"

#include <algorithm>

#include "lib/model/desired_state.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

using nlohmann::json;

// Created, changed (`changed` says how, or nothing to say) and deleted
// entries of two tables keyed by name.
template <typename Map, typename OnChange>
void diffTables(const Map& before, const Map& after, EventLog& log, const std::string& type,
                OnChange changed) {
  for (const auto& [name, now] : after) {
    auto was = before.find(name);
    if (was == before.end()) {
      log.add(type, "create", name);
    } else {
      changed(name, was->second, now);
    }
  }
  for (const auto& [name, was] : before) {
    if (!after.count(name)) log.add(type, "delete", name);
  }
}

void diffSubnets(const Vpc& before, const Vpc& after, EventLog& log) {
  for (const auto& s : after.subnets) {
    const Subnet* was = before.findSubnet(s.name);
    if (!was) {
      log.add("subnet", "create", after.name + "/" + s.name,
              {{"cidr", s.cidr.str()}, {"type", toString(s.type)}});
    } else if (!(*was == s)) {
      log.add("subnet", "update", after.name + "/" + s.name);
    }
  }
  for (const auto& s : before.subnets) {
    if (!after.findSubnet(s.name)) log.add("subnet", "delete", after.name + "/" + s.name);
  }
}

void diffInstance(const std::string& name, const Instance& was, const Instance& now,
                  EventLog& log) {
  if (was.status != now.status) {
    log.add("instance", "status", name,
            {{"from", toString(was.status)}, {"to", toString(now.status)}});
  }
  if (now.pid != was.pid && now.pid != 0) {
    log.add("instance", "command_started", name, {{"pid", now.pid}});
  }
  // What is left when the life cycle and the command's pid are set aside.
  Instance a = was, b = now;
  for (Instance* i : {&a, &b}) {
    i->status = InstanceStatus::Provisioning;
    i->pid = 0;
    i->pidStartTime = 0;
    i->lastStartAt = i->lastStopAt = 0;
  }
  if (!(a == b)) log.add("instance", "update", name);
}

}  // namespace

json toJson(const Event& e) {
  return json{{"seq", e.seq},       {"time", isoTime(e.time)}, {"type", e.type},
              {"action", e.action}, {"name", e.name},          {"details", e.details}};
}

void EventLog::add(std::string type, std::string action, std::string name, json details) {
  kept_.push_back(Event{next_++, std::chrono::system_clock::now(), std::move(type),
                        std::move(action), std::move(name), std::move(details)});
  while (kept_.size() > capacity_) kept_.pop_front();
}

void EventLog::addChanges(const DesiredState& before, const DesiredState& after) {
  // The tables of unchanged kinds are the same maps: nothing to walk.
  if (&before.vpcs() != &after.vpcs()) {
    diffTables(before.vpcs(), after.vpcs(), *this, "vpc",
               [&](const std::string& name, const auto& was, const auto& now) {
                 if (was == now) return;
                 Vpc a = *was, b = *now;
                 a.subnets.clear();
                 b.subnets.clear();
                 if (!(a == b)) add("vpc", "update", name);
                 diffSubnets(*was, *now, *this);
               });
    // A VPC's subnets come and go with it.
    for (const auto& [name, vpc] : after.vpcs()) {
      if (before.vpcs().count(name)) continue;
      for (const auto& s : vpc->subnets)
        add("subnet", "create", name + "/" + s.name,
            {{"cidr", s.cidr.str()}, {"type", toString(s.type)}});
    }
  }
  diffTables(before.peerings(), after.peerings(), *this, "peering",
             [&](const std::string& name, const Peering& was, const Peering& now) {
               if (was == now) return;
               json d = json::object();
               if (was.state != now.state)
                 d = {{"from", toString(was.state)}, {"to", toString(now.state)}};
               add("peering", "update", name, d);
             });
  diffTables(before.policies(), after.policies(), *this, "policy",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was != now && !(*was == *now)) add("policy", "update", name);
             });
  diffTables(before.instances(), after.instances(), *this, "instance",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was != now) diffInstance(name, *was, *now, *this);
             });
  diffTables(before.labs(), after.labs(), *this, "lab",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was != now && !(*was == *now)) add("lab", "update", name);
             });
  diffTables(before.portForwards(), after.portForwards(), *this, "port_forward",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was != now && !(*was == *now)) add("port_forward", "update", name);
             });
  diffTables(before.impairments(), after.impairments(), *this, "impairment",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was == now || *was == *now) return;
               json d = json::object();
               if (was->enabled != now->enabled) d = {{"enabled", now->enabled}};
               add("impairment", "update", name, d);
             });
  diffTables(before.flowLogs(), after.flowLogs(), *this, "flow_log",
             [&](const std::string& name, const auto& was, const auto& now) {
               if (was == now || *was == *now) return;
               json d = json::object();
               if (was->enabled != now->enabled) d = {{"enabled", now->enabled}};
               add("flow_log", "update", name, d);
             });
}

uint64_t EventLog::firstSince(std::chrono::system_clock::time_point t) const {
  auto it = std::find_if(kept_.begin(), kept_.end(), [&](const Event& e) { return e.time >= t; });
  return it == kept_.end() ? next_ : it->seq;
}

std::optional<std::string> EventLog::read(uint64_t& cursor, const std::set<std::string>& types,
                                          size_t maxBytes) const {
  if (cursor >= next_) return std::string();
  uint64_t oldest = kept_.empty() ? next_ : kept_.front().seq;
  if (cursor < oldest) return std::nullopt;
  std::string out;
  for (size_t i = cursor - oldest; i < kept_.size() && out.size() < maxBytes; ++i) {
    const Event& e = kept_[i];
    cursor = e.seq + 1;
    if (types.empty() || types.count(e.type)) out += toJson(e).dump() + "\n";
  }
  return out;
}

}  // namespace vpcd
