#include "daemon/drift_watcher.h"

#include <sys/stat.h>

#include "daemon/log.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

DriftWatcher::DriftWatcher(boost::asio::io_context& io, std::string netnsDir, OnDrift onDrift)
    : io_(io),
      events_(netnsDir),
      onDrift_(std::move(onDrift)),
      netnsDir_(std::move(netnsDir)),
      debounce_(io) {
  syncEntries();
}

DriftWatcher::~DriftWatcher() {
  for (auto& [fd, e] : entries_) close(e);
}

void DriftWatcher::close(const std::shared_ptr<Entry>& e) {
  if (e->closed) return;
  e->closed = true;
  boost::system::error_code ec;
  e->d.cancel(ec);
  e->d.release();  // the EventSource owns and closes the descriptor
}

void DriftWatcher::syncEntries() {
  std::map<int, EventSource::Watched> current;
  for (const auto& w : events_.descriptors()) current[w.fd] = w;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto cur = current.find(it->first);
    if (cur == current.end() || cur->second.ns != it->second->w.ns) {
      close(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [fd, w] : current) {
    if (entries_.count(fd)) continue;
    auto e = std::make_shared<Entry>(Entry{w, boost::asio::posix::stream_descriptor(io_, fd)});
    entries_[fd] = e;
    arm(e);
  }
}

void DriftWatcher::watch(const std::set<std::string>& namespaces) {
  // Entries go first: their descriptors must not outlive the sockets.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const std::string& ns = it->second->w.ns;
    if (ns != EventSource::kNetnsDirKey && ns != EventSource::kAllKey && !ns.empty() &&
        !namespaces.count(ns)) {
      close(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  events_.watch(namespaces);
  syncEntries();
}

void DriftWatcher::watchSome(const std::set<std::string>& add, const std::set<std::string>& drop) {
  for (const auto& ns : drop) forget(ns);
  for (const auto& ns : add) {
    events_.watchOne(ns);
    for (const auto& w : events_.descriptorsOf(ns)) {
      if (entries_.count(w.fd)) continue;
      auto e = std::make_shared<Entry>(Entry{w, boost::asio::posix::stream_descriptor(io_, w.fd)});
      entries_[w.fd] = e;
      arm(e);
    }
  }
}

void DriftWatcher::forget(const std::string& ns) {
  // By the namespace's own descriptors: a lookup, not a walk of every entry.
  for (const auto& w : events_.descriptorsOf(ns)) {
    auto it = entries_.find(w.fd);
    if (it == entries_.end()) continue;
    close(it->second);
    entries_.erase(it);
  }
  events_.forget(ns);
}

void DriftWatcher::arm(const std::shared_ptr<Entry>& e) {
  e->d.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [this, e](const boost::system::error_code& ec) {
                    if (ec || e->closed) return;
                    onReadable(e);
                  });
}

std::set<std::string> DriftWatcher::drain(const EventSource::Watched& w) {
  if (w.log) {
    // Packets matched by policy rules with "log": true, one line each.
    for (const auto& line : events_.readLog(w))
      logLine(6, "firewall " + displayName(w.ns) + ": " + line);
    return {};
  }
  std::set<std::string> changed = events_.drain(w);
  if (w.ns == EventSource::kNetnsDirKey) {
    struct stat st {};
    for (const auto& ns : changed) {
      // Deleted by hand: let go at once so the kernel can destroy it.
      if (::stat((netnsDir_ + "/" + ns).c_str(), &st) != 0) {
        forget(ns);
        if (onGone_) onGone_(ns);
      }
    }
  }
  return changed;
}

void DriftWatcher::onReadable(const std::shared_ptr<Entry>& e) {
  std::set<std::string> changed = drain(e->w);
  if (!e->closed) arm(e);
  if (!changed.empty()) markDirty(changed);
}

void DriftWatcher::markDirty(const std::set<std::string>& changed) {
  auto now = std::chrono::steady_clock::now();
  if (dirty_.empty()) firstDirty_ = now;
  dirty_.insert(changed.begin(), changed.end());
  debounce_.expires_at(std::min(now + kDebounce, firstDirty_ + kMaxDelay));
  debounce_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) fire();
  });
}

void DriftWatcher::fire() {
  if (dirty_.empty()) return;
  std::set<std::string> batch;
  batch.swap(dirty_);
  if (onDrift_(batch)) {
    retryDelay_ = kDebounce;
    return;
  }
  // Failed (the kernel refused something): try again, backing off to 5 s.
  retryDelay_ = std::min(retryDelay_ * 2, std::chrono::milliseconds(5000));
  dirty_.insert(batch.begin(), batch.end());
  firstDirty_ = std::chrono::steady_clock::now();
  debounce_.expires_after(retryDelay_);
  debounce_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) fire();
  });
}

std::set<std::string> DriftWatcher::drainReady() {
  std::set<std::string> changed;
  for (const auto& w : events_.ready()) {
    // Draining one may have forgotten a namespace whose descriptors follow.
    auto e = entries_.find(w.fd);
    if (e == entries_.end() || e->second->closed) continue;
    auto names = drain(w);
    changed.insert(names.begin(), names.end());
  }
  return changed;
}

void DriftWatcher::discardPending(const std::set<std::string>& passed) {
  std::set<std::string> others;
  for (const auto& ns : drainReady()) {
    if (!passed.count(ns)) others.insert(ns);
  }
  if (!others.empty()) markDirty(others);
}

std::set<std::string> DriftWatcher::takePending() {
  std::set<std::string> changed = drainReady();
  if (!changed.empty()) markDirty(changed);
  return changed;
}

}  // namespace vpcd
