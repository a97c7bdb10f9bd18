#include "daemon/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "lib/kernel/netns.h"

namespace vpcd {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kDatagrams = 3;

sockaddr_in endpoint(Ipv4 addr, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(addr.value);
  return sa;
}

// A socket made inside namespace `ns` ("" for our own): it stays there.
Fd socketIn(const NetnsDir& dir, const std::string& ns, int type, int protocol) {
  Fd nsFd = ns.empty() ? Fd() : dir.open(ns);
  NetnsGuard in(ns.empty() ? -1 : nsFd.get());
  return Fd(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
}

uint16_t checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len % 2) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// One probe in flight.
struct Flight {
  ProbeResult result;
  Fd client, listener;
  Clock::time_point start;
  bool done = false;
  uint16_t echoId = 0;
};

void startTcp(const NetnsDir& dir, const ProbeSpec& p, Flight& f) {
  if (!p.dstNs.empty()) {
    Fd l = socketIn(dir, p.dstNs, SOCK_STREAM, 0);
    sockaddr_in at = endpoint(p.dest, p.port);
    // Taken (a service listens): leave it to the service.
    if (l && ::bind(l.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 &&
        ::listen(l.get(), 16) == 0) {
      f.listener = std::move(l);
      f.result.ourListener = true;
    }
  }
  f.client = socketIn(dir, p.srcNs, SOCK_STREAM, 0);
  sockaddr_in from = endpoint(p.source, 0), to = endpoint(p.dest, p.port);
  if (!f.client || ::bind(f.client.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    f.result.outcome = std::string("not sent: ") + std::strerror(errno);
    f.done = true;
    return;
  }
  f.result.sent = 1;
  f.start = Clock::now();
  if (::connect(f.client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
    f.result.received = 1;
    f.result.outcome = "connected";
    f.done = true;
  } else if (errno != EINPROGRESS) {
    f.result.outcome = std::strerror(errno);
    f.done = true;
  }
}

void startUdp(const NetnsDir& dir, const ProbeSpec& p, Flight& f) {
  if (!p.dstNs.empty()) {
    Fd l = socketIn(dir, p.dstNs, SOCK_DGRAM, 0);
    sockaddr_in at = endpoint(p.dest, p.port);
    if (l && ::bind(l.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) == 0) {
      f.listener = std::move(l);
      f.result.ourListener = true;
    }
  }
  f.client = socketIn(dir, p.srcNs, SOCK_DGRAM, 0);
  sockaddr_in from = endpoint(p.source, 0), to = endpoint(p.dest, p.port);
  if (!f.client || ::bind(f.client.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(f.client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    f.result.outcome = std::string("not sent: ") + std::strerror(errno);
    f.done = true;
    return;
  }
  f.start = Clock::now();
  static const char kPayload[] = "vpcd reachability probe";
  for (int i = 0; i < kDatagrams; ++i) {
    if (::send(f.client.get(), kPayload, sizeof kPayload, 0) > 0) ++f.result.sent;
  }
}

void startIcmp(const NetnsDir& dir, const ProbeSpec& p, Flight& f, uint16_t id) {
  f.client = socketIn(dir, p.srcNs, SOCK_RAW, IPPROTO_ICMP);
  sockaddr_in from = endpoint(p.source, 0), to = endpoint(p.dest, 0);
  if (!f.client || ::bind(f.client.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    f.result.outcome = std::string("not sent: ") + std::strerror(errno);
    f.done = true;
    return;
  }
  f.echoId = id;
  f.start = Clock::now();
  for (int seq = 0; seq < kDatagrams; ++seq) {
    uint8_t packet[16] = {ICMP_ECHO, 0, 0, 0};
    uint16_t nid = htons(id), nseq = htons(static_cast<uint16_t>(seq));
    std::memcpy(packet + 4, &nid, 2);
    std::memcpy(packet + 6, &nseq, 2);
    uint16_t sum = checksum(packet, sizeof packet);
    std::memcpy(packet + 2, &sum, 2);
    if (::sendto(f.client.get(), packet, sizeof packet, 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof to) > 0)
      ++f.result.sent;
  }
}

double since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// What arrived on `fd` (POLLIN or POLLOUT) for flight `f`.
void onReady(Flight& f, const ProbeSpec& p, int fd, short revents) {
  if (p.proto == "tcp" && fd == f.client.get()) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    f.done = true;
    if (err == 0 || err == ECONNREFUSED) {
      // Refused: a host at the destination answered with a reset.
      f.result.received = 1;
      f.result.rttMs = since(f.start);
      f.result.outcome = err ? "refused" : "connected";
    } else {
      f.result.outcome = std::strerror(err);
    }
  } else if (p.proto == "udp") {
    char buf[256];
    if (fd == f.listener.get()) {
      while (::recv(fd, buf, sizeof buf, 0) > 0) {
        if (f.result.received++ == 0) f.result.rttMs = since(f.start);
      }
      if (f.result.received >= f.result.sent) f.done = true;
    } else if (revents & POLLERR || ::recv(fd, buf, sizeof buf, 0) < 0) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == ECONNREFUSED) {  // port unreachable: a host answered
        f.result.received = f.result.sent;
        f.result.rttMs = since(f.start);
        f.result.outcome = "refused";
        f.done = true;
      }
    } else if (!f.listener) {
      // A service of the user's answered.
      if (f.result.received++ == 0) f.result.rttMs = since(f.start);
    }
  } else if (p.proto == "icmp") {
    uint8_t buf[1500];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
      if (static_cast<size_t>(n) < ihl + 8 || buf[ihl] != ICMP_ECHOREPLY) continue;
      uint16_t id;
      std::memcpy(&id, buf + ihl + 4, 2);
      uint32_t src;
      std::memcpy(&src, buf + 12, 4);
      if (ntohs(id) != f.echoId || ntohl(src) != p.dest.value) continue;
      if (f.result.received++ == 0) f.result.rttMs = since(f.start);
    }
    if (f.result.received >= f.result.sent) f.done = true;
  }
}

}  // namespace

json ProbeResult::json() const {
  nlohmann::json out{{"sent", sent},
                     {"received", received},
                     {"outcome", outcome},
                     {"answered_by", ourListener ? "vpcd" : "destination"}};
  out["rtt_ms"] = rttMs >= 0 ? nlohmann::json(std::round(rttMs * 1000) / 1000) : nlohmann::json();
  return out;
}

std::vector<ProbeResult> Prober::run(const std::vector<ProbeSpec>& probes,
                                     std::chrono::milliseconds timeout) const {
  NetnsDir dir(netnsDir_);
  std::vector<Flight> flights(probes.size());
  uint16_t id = static_cast<uint16_t>(::getpid() ^ (Clock::now().time_since_epoch().count()));
  for (size_t i = 0; i < probes.size(); ++i) {
    try {
      const ProbeSpec& p = probes[i];
      if (p.proto == "tcp") startTcp(dir, p, flights[i]);
      if (p.proto == "udp") startUdp(dir, p, flights[i]);
      if (p.proto == "icmp") startIcmp(dir, p, flights[i], static_cast<uint16_t>(id + i));
    } catch (const std::exception& e) {
      flights[i].result.outcome = std::string("not sent: ") + e.what();
      flights[i].done = true;
    }
  }
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<size_t> owner;
    for (size_t i = 0; i < flights.size(); ++i) {
      Flight& f = flights[i];
      if (f.done) continue;
      short events = probes[i].proto == "tcp" ? POLLOUT : POLLIN;
      fds.push_back({f.client.get(), events, 0});
      owner.push_back(i);
      if (f.listener && probes[i].proto == "udp") {
        fds.push_back({f.listener.get(), POLLIN, 0});
        owner.push_back(i);
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (fds.empty() || left.count() <= 0) break;
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents) onReady(flights[owner[k]], probes[owner[k]], fds[k].fd, fds[k].revents);
    }
  }
  std::vector<ProbeResult> out;
  for (auto& f : flights) {
    if (f.result.outcome.empty()) {
      f.result.outcome = f.result.received ? "answered" : "timed out";
    }
    out.push_back(f.result);
  }
  return out;
}

}  // namespace vpcd
