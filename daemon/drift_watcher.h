#pragma once
// Turns kernel change notifications (EventSource) into debounced calls of
// `onDrift(changed namespaces)` on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "lib/kernel/event_source.h"

namespace vpcd {

class DriftWatcher {
 public:
  // Returns false to have the same namespaces tried again after a back-off.
  using OnDrift = std::function<bool(const std::set<std::string>&)>;

  DriftWatcher(boost::asio::io_context& io, std::string netnsDir, OnDrift onDrift);
  ~DriftWatcher();

  // Watches these namespaces (and the host); call after every reconcile.
  void watch(const std::set<std::string>& namespaces);
  // Stops watching `ns` now: its sockets would keep it from being destroyed.
  void forget(const std::string& ns);
  // Told of a namespace whose file disappeared (deleted by hand), so that
  // other holders of its sockets let go too.
  void setOnGone(std::function<void(const std::string&)> onGone) { onGone_ = std::move(onGone); }
  // After a pass over some namespaces: starts watching those of them that
  // should exist, stops watching those that should not.
  void watchSome(const std::set<std::string>& add, const std::set<std::string>& drop);
  // Drops notifications caused by vpcd's own changes (called right after a
  // pass over `passed`), still releasing namespaces whose files disappeared.
  // Notifications of namespaces outside the pass are someone else's change
  // made meanwhile: their repair is scheduled as usual.
  void discardPending(const std::set<std::string>& passed);
  // Reads the notifications that arrived but were not handled yet (called
  // right before a pass): returns the namespaces they name, whose repair is
  // then scheduled as usual. The pass must not trust what it kept of them.
  std::set<std::string> takePending();

  // Quiet time after the last notification before reconciling, and the most
  // a stream of notifications may delay it (a flapping link must not starve
  // the repair of everything else).
  static constexpr std::chrono::milliseconds kDebounce{50};
  static constexpr std::chrono::milliseconds kMaxDelay{300};

 private:
  struct Entry {
    EventSource::Watched w;
    boost::asio::posix::stream_descriptor d;
    bool closed = false;
  };
  void arm(const std::shared_ptr<Entry>& e);
  void markDirty(const std::set<std::string>& changed);
  void fire();
  void onReadable(const std::shared_ptr<Entry>& e);
  void close(const std::shared_ptr<Entry>& e);
  void syncEntries();
  std::set<std::string> drain(const EventSource::Watched& w);
  std::set<std::string> drainReady();

  boost::asio::io_context& io_;
  EventSource events_;
  OnDrift onDrift_;
  std::function<void(const std::string&)> onGone_;
  std::string netnsDir_;
  std::map<int, std::shared_ptr<Entry>> entries_;
  std::set<std::string> dirty_;
  std::chrono::steady_clock::time_point firstDirty_;
  boost::asio::steady_timer debounce_;
  std::chrono::milliseconds retryDelay_{kDebounce};
};

}  // namespace vpcd
