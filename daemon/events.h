#pragma once
// The event stream (GET /v1/events, `vpcctl events`; Docker's /events is
// the model): one JSON object per create, change and delete of an object,
// per instance status change and command exit, per drift repair, reconcile
// error and uplink move. Events are numbered and kept in a bounded history:
// a stream is a cursor into it, so a reader costs the daemon nothing but
// its position, and a reader so slow that the history moved past it is
// told so and dropped instead of holding anything back.
#include <chrono>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace vpcd {

class DesiredState;

struct Event {
  uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  std::string type;    // vpc, subnet, peering, policy, instance, lab, drift, reconcile, uplink
  std::string action;  // create, update, delete, status, command_exited, repaired, error, moved
  std::string name;    // the object: "prod", "prod/web"; for drift, the namespaces
  nlohmann::json details = nlohmann::json::object();
};

nlohmann::json toJson(const Event& e);

class EventLog {
 public:
  explicit EventLog(size_t capacity = 4096) : capacity_(capacity) {}

  void add(std::string type, std::string action, std::string name,
           nlohmann::json details = nlohmann::json::object());
  // The events that take `before` to `after`: objects created, changed and
  // deleted, and instances whose status changed. Unchanged objects are
  // shared between the two states and cost a pointer comparison.
  void addChanges(const DesiredState& before, const DesiredState& after);

  // The number the next event will have: a stream from now starts here.
  uint64_t next() const { return next_; }
  // The first event kept at or after `t`, for ?since=.
  uint64_t firstSince(std::chrono::system_clock::time_point t) const;

  // NDJSON lines of the events from `cursor` on whose type is in `types`
  // (all when empty), up to about `maxBytes`; advances `cursor` past what
  // it read. nullopt when events after `cursor` are no longer kept: the
  // reader fell behind the history.
  std::optional<std::string> read(uint64_t& cursor, const std::set<std::string>& types,
                                  size_t maxBytes = 64 << 10) const;

 private:
  size_t capacity_;
  uint64_t next_ = 1;
  std::deque<Event> kept_;
};

}  // namespace vpcd
