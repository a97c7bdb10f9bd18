#include "daemon/flow_collector.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "daemon/commands.h"
#include "daemon/log.h"
#include "lib/kernel/conntrack.h"
#include "lib/kernel/kernel.h"
#include "lib/kernel/netlink_socket.h"
#include "lib/model/error.h"
#include "lib/model/names.h"
#include "lib/plan/policy_compile.h"

namespace vpcd {

using nlohmann::json;

namespace {

int64_t now() {
  return static_cast<int64_t>(::time(nullptr));
}

// A number from a query parameter, within [1, max].
size_t countParam(const Query& q, const std::string& name, size_t fallback, size_t max) {
  auto it = q.find(name);
  if (it == q.end()) return fallback;
  const std::string& v = it->second;
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(v) < 1 || std::stoul(v) > max)
    throw DomainError::invalid(name, "must be a number from 1 to " + std::to_string(max));
  return std::stoul(v);
}

}  // namespace

// --- the file and the feed ---------------------------------------------------

bool RecordFile::append(const std::vector<std::string>& lines) {
  if (lines.empty()) return true;
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  struct stat st {};
  bool exists = ::stat(path_.c_str(), &st) == 0;
  if (exists && static_cast<uint64_t>(st.st_size) + text.size() > max_) {
    ::rename(path_.c_str(), (path_ + ".1").c_str());
    exists = false;
  }
  if (!exists) text = std::string(kHeader) + "\n" + text;
  Fd f(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!f || !writeAll(f.get(), text.data(), text.size())) {
    logLine(3, "flow records " + path_ + ": " + std::strerror(errno) + "; " +
                   std::to_string(lines.size()) + " records not written");
    return false;
  }
  return true;
}

void RecordFeed::add(const std::vector<std::string>& lines) {
  for (const auto& l : lines) lines_.push_back(l + "\n");
  while (lines_.size() > kKeep) {
    lines_.pop_front();
    ++first_;
  }
}

std::string RecordFeed::read(uint64_t& cursor) const {
  if (cursor < first_) cursor = first_;  // too slow: the oldest are no longer kept
  std::string out;
  for (; cursor < next(); ++cursor) out += lines_[cursor - first_];
  return out;
}

// --- one VPC -----------------------------------------------------------------

// A socket read in batches: watched by the loop only while nothing is
// pending (an asio descriptor stays in epoll, and every message would wake
// the loop, even while no read waits), then read after a pause.
struct FlowCollector::Source {
  explicit Source(boost::asio::io_context& io) : watch(io), pause(io) {}
  Fd fd;
  boost::asio::posix::stream_descriptor watch;
  boost::asio::steady_timer pause;
  void close() {
    boost::system::error_code ignored;
    pause.cancel();
    if (watch.is_open()) {
      watch.cancel(ignored);
      watch.release();
    }
    fd = Fd();
  }
};

struct FlowCollector::Vpc {
  Vpc(boost::asio::io_context& io, FlowPlaces p, std::string path, uint64_t max,
      std::shared_ptr<RecordFeed> f)
      : places(std::move(p)),
        events(io),
        drops(io),
        timer(io),
        file(std::move(path), max),
        feed(std::move(f)) {}
  FlowPlaces places;
  FlowWindow window;
  int64_t start = 0;
  bool opened = false;
  bool closed = false;   // no longer collected: pending handlers do nothing
  bool baseline = true;  // at open, the counts so far are not logged
  Fd dump;
  Source events, drops;  // conntrack's end events; the firewall's drops
  boost::asio::steady_timer timer;
  RecordFile file;
  std::shared_ptr<RecordFeed> feed;
};

FlowCollector::FlowCollector(boost::asio::io_context& io, std::string netnsDir,
                             std::function<std::string(const std::string&)> pathOf,
                             uint64_t maxBytes)
    : io_(io),
      netnsDir_(std::move(netnsDir)),
      pathOf_(std::move(pathOf)),
      maxBytes_(maxBytes),
      retry_(io) {}

FlowCollector::~FlowCollector() {
  for (auto& [name, v] : vpcs_) close(v);
}

void FlowCollector::follow(const DesiredState& state) {
  for (auto it = vpcs_.begin(); it != vpcs_.end();) {
    std::optional<FlowPlaces> places = FlowPlaces::of(state, it->first);
    if (places) {
      bool sooner = places->aggregationS != it->second->places.aggregationS;
      it->second->places = std::move(*places);
      if (sooner && it->second->opened) armWindow(it->second);
      ++it;
      continue;
    }
    if (it->second->opened) closeWindow(*it->second);
    close(it->second);
    it = vpcs_.erase(it);
  }
  // The VPCs with an enabled flow log: a commit costs what they hold, not
  // what the host does.
  std::set<std::string> logged;
  for (const auto& [name, f] : state.flowLogs()) {
    if (f->enabled) logged.insert(f->vpc);
  }
  for (const auto& name : logged) {
    if (vpcs_.count(name)) continue;
    std::optional<FlowPlaces> places = FlowPlaces::of(state, name);
    if (!places) continue;
    auto& feed = feeds_[name];
    if (!feed) feed = std::make_shared<RecordFeed>();
    auto v = std::make_shared<Vpc>(io_, std::move(*places), pathOf_(name), maxBytes_, feed);
    // A router that exists now holds connections counted before the log
    // (switched on again, or vpcd started again); one that does not yet
    // will hold only new ones, however late the sockets are opened.
    v->baseline = NetnsDir(netnsDir_).exists(routerNamespace(name));
    vpcs_[name] = v;
    open(v);
  }
}

void FlowCollector::open(const std::shared_ptr<Vpc>& v) {
  try {
    NetnsDir dir(netnsDir_);
    std::string ns = routerNamespace(v->places.vpc);
    if (!dir.exists(ns)) return retryLater();  // made by the pass after this commit
    Fd nsFd = dir.open(ns);
    Fd events, dump, drops;
    {
      NetnsGuard in(nsFd.get());
      events = conntrackEvents();
      dump = conntrackDumpSocket();
      drops = nflogSocket(kFlowLogGroup, 64);  // the IPv4 header and the ports
    }
    // What the connections already open carried before the log started (or
    // vpcd did) is not this window's; a router made since holds only what
    // is new, and all of it is logged.
    if (v->baseline) {
      FlowWindow fresh;
      for (const auto& c : dumpConntrack(dump.get())) fresh.observe(c);
      fresh.close(0, 0, v->places);
      v->window = std::move(fresh);
    }
    v->events.fd = std::move(events);
    v->drops.fd = std::move(drops);
    v->dump = std::move(dump);
    v->opened = true;
    v->start = now();
    armRead(v, v->events, true);
    armRead(v, v->drops, false);
    armWindow(v);
  } catch (const KernelError& e) {
    logLine(4, "flow log of vpc " + v->places.vpc + ": " + e.what() + "; trying again");
    retryLater();
  }
}

void FlowCollector::close(const std::shared_ptr<Vpc>& v) {
  v->closed = true;
  v->opened = false;
  v->timer.cancel();
  v->events.close();
  v->drops.close();
  v->dump = Fd();
}

void FlowCollector::release(const std::string& ns) {
  for (auto& [name, v] : vpcs_) {
    if (routerNamespace(name) != ns || !v->opened) continue;
    logLine(5,
            "flow log of vpc " + name + ": " + ns + " went away; collecting again once it is back");
    closeWindow(*v);
    close(v);
    // A new value for the same VPC: handlers of the old one see it closed.
    auto again = std::make_shared<Vpc>(io_, v->places, v->file.path(), maxBytes_, v->feed);
    again->baseline = false;
    v = again;
    retryLater();
  }
}

void FlowCollector::retryLater() {
  if (retrying_) return;
  retrying_ = true;
  retry_.expires_after(std::chrono::seconds(1));
  retry_.async_wait([this](const boost::system::error_code& ec) {
    retrying_ = false;
    if (ec) return;
    for (auto& [name, v] : vpcs_) {
      if (!v->opened) open(v);
    }
  });
}

void FlowCollector::flush() {
  for (auto& [name, v] : vpcs_) {
    if (v->opened) closeWindow(*v);
  }
}

// --- reading -----------------------------------------------------------------

void FlowCollector::armRead(const std::shared_ptr<Vpc>& v, Source& src, bool events) {
  src.watch.assign(src.fd.get());
  src.watch.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [this, v, &src, events](const boost::system::error_code& ec) {
        if (ec || v->closed) return;
        // Records are written when the window closes, so nothing is late
        // for being read in batches: after the first message, a pause lets
        // the next ones gather.
        src.watch.release();
        src.pause.expires_after(kBatchPause);
        src.pause.async_wait([this, v, &src, events](const boost::system::error_code& e) {
          if (e || v->closed) return;
          events ? drainEvents(*v) : drainDrops(*v);
          armRead(v, src, events);
        });
      });
}

namespace {

// Reads every datagram pending on `fd`, handing each to `take`, many per
// system call (recvmmsg: a busy router sends an event per connection); a
// queue that overflowed (ENOBUFS) calls `lost`.
template <typename Take, typename Lost>
void drain(int fd, Take take, Lost lost) {
  constexpr size_t kSlots = 32, kSlot = 16 * 1024;  // an NFLOG batch fits a slot
  alignas(nlmsghdr) static char buf[kSlots][kSlot];
  static mmsghdr msgs[kSlots];
  static iovec iov[kSlots];
  for (;;) {
    for (size_t i = 0; i < kSlots; ++i) {
      iov[i] = {buf[i], kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd, msgs, kSlots, MSG_DONTWAIT, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      lost();
      continue;
    }
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) take(buf[i], msgs[i].msg_len);
    if (static_cast<size_t>(n) < kSlots) return;
  }
}

}  // namespace

void FlowCollector::drainEvents(Vpc& v) {
  drain(
      v.events.fd.get(),
      [&](const char* buf, size_t n) {
        for (const auto& c : conntrackEntries(buf, n)) v.window.observe(c);
      },
      [&] { v.window.lost(); });
}

void FlowCollector::drainDrops(Vpc& v) {
  drain(
      v.drops.fd.get(),
      [&](const char* buf, size_t n) {
        eachNflogPacket(buf, n, [&](std::string_view, const uint8_t* data, size_t len) {
          if (auto d = droppedPacket(data, len)) v.window.rejected(d->key, d->bytes);
        });
      },
      [&] { v.window.lost(); });
}

void FlowCollector::armWindow(const std::shared_ptr<Vpc>& v) {
  v->timer.expires_after(std::chrono::seconds(v->places.aggregationS));
  v->timer.async_wait([this, v](const boost::system::error_code& ec) {
    if (ec || v->closed) return;
    closeWindow(*v);
    armWindow(v);
  });
}

void FlowCollector::closeWindow(Vpc& v) {
  drainEvents(v);
  drainDrops(v);
  try {
    std::set<uint32_t> ids;
    auto unchanged = [&v](uint32_t id, uint64_t origPackets, uint64_t replyPackets) {
      return v.window.unchanged(id, origPackets, replyPackets);
    };
    for (const auto& c : dumpConntrack(v.dump.get(), unchanged, &ids)) v.window.observe(c);
    v.window.dumped(ids);
  } catch (const KernelError& e) {
    logLine(4, "flow log of vpc " + v.places.vpc + ": " + e.what());
    v.window.lost();
  }
  int64_t end = now();
  std::vector<std::string> lines = v.window.close(v.start, end, v.places);
  v.start = end;
  FlowRecordCounts& w = written_[v.places.vpc];
  for (const auto& l : lines) {
    if (l.ends_with(" ACCEPT OK")) ++w.accepted;
    if (l.ends_with(" REJECT OK")) ++w.rejected;
    if (l.ends_with(" SKIPDATA")) ++w.incomplete;
  }
  v.file.append(lines);
  v.feed->add(lines);
}

// --- the API -----------------------------------------------------------------

Reply FlowCollector::records(const DesiredState& state, const std::string& vpc, const Query& q,
                             std::function<bool()> active) {
  state.vpc(vpc);
  size_t tail = countParam(q, "tail", 100, 10000);
  auto f = q.find("follow");
  if (f != q.end() && f->second != "0" && f->second != "false") {
    auto& feed = feeds_[vpc];
    if (!feed) feed = std::make_shared<RecordFeed>();
    auto cursor = std::make_shared<uint64_t>(feed->next() > tail ? feed->next() - tail : 0);
    Follow out;
    out.active = std::move(active);
    out.read = [feed, cursor]() -> std::optional<std::string> { return feed->read(*cursor); };
    return {200, {}, out};
  }
  return recordsFromFile(state, vpc, pathOf_(vpc), q);
}

Reply recordsFromFile(const DesiredState& state, const std::string& vpc, const std::string& path,
                      const Query& q) {
  state.vpc(vpc);
  size_t tail = countParam(q, "tail", 100, 10000);
  // A record is about 100 bytes, and under 320 with the longest names:
  // enough of the end of the file for `tail` of them.
  auto [text, start] = readTail(path, tail * 320 + 320);
  std::vector<std::string> lines;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    std::string line = text.substr(at, nl - at);
    bool partial = at == 0 && start > 0;  // the cut first line
    if (!partial && line != RecordFile::kHeader) lines.push_back(line);
    at = nl + 1;
  }
  if (lines.size() > tail) lines.erase(lines.begin(), lines.end() - static_cast<long>(tail));
  std::optional<FlowPlaces> places = FlowPlaces::of(state, vpc);
  json fields = json::array();
  for (std::string_view h = RecordFile::kHeader; !h.empty();) {
    size_t sp = std::min(h.find(' '), h.size());
    fields.push_back(std::string(h.substr(0, sp)));
    h.remove_prefix(std::min(sp + 1, h.size()));
  }
  return {200, json{{"vpc", vpc},
                    {"enabled", places.has_value()},
                    {"aggregation_s", places ? json(places->aggregationS) : json(nullptr)},
                    {"file", path},
                    {"fields", fields},
                    {"records", lines}}};
}

}  // namespace vpcd
