// The /v1 routes: which service answers a method on a path (the rest of a
// request's handling, authorization, metrics and the audit, is api.cpp's).
#include "daemon/api.h"
#include "daemon/http_error.h"

namespace vpcd {

using nlohmann::json;

namespace {

const std::set<std::string> kEventTypes{"vpc",      "subnet", "peering",      "policy",
                                        "instance", "lab",    "port_forward", "impairment",
                                        "flow_log", "drift",  "reconcile",    "uplink"};

// GET /v1/events: NDJSON, chunked. ?type=a,b filters; ?since=UNIX-SECONDS
// replays what is kept from then on; ?follow=0 ends after the replay.
Follow eventStream(EventLog& log, const Query& q) {
  std::set<std::string> types;
  if (auto t = q.find("type"); t != q.end()) {
    std::string list = t->second;
    for (size_t start = 0; start <= list.size();) {
      size_t comma = std::min(list.find(',', start), list.size());
      std::string type = list.substr(start, comma - start);
      if (!kEventTypes.count(type))
        throw DomainError::invalid("type", "\"" + type +
                                               "\" is not an event type (vpc, subnet, peering, "
                                               "policy, instance, lab, port_forward, impairment, "
                                               "flow_log, drift, reconcile, uplink)");
      types.insert(type);
      start = comma + 1;
    }
  }
  uint64_t cursor = log.next();
  if (auto since = q.find("since"); since != q.end()) {
    const std::string& v = since->second;
    if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos)
      throw DomainError::invalid("since", "\"" + v + "\" is not a time in unix seconds");
    cursor =
        log.firstSince(std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(v))));
  }
  auto f = q.find("follow");
  bool follow = f == q.end() || (f->second != "0" && f->second != "false");
  struct Reader {
    uint64_t cursor;
    bool dropped = false;
  };
  auto state = std::make_shared<Reader>(Reader{cursor});
  Follow out;
  out.contentType = "application/x-ndjson";
  out.active = [follow] { return follow; };
  out.read = [&log, state, types]() -> std::optional<std::string> {
    if (state->dropped) return std::nullopt;
    std::optional<std::string> lines = log.read(state->cursor, types);
    if (lines) return lines;
    // Too slow: what it missed is no longer kept. Said once, then closed.
    state->dropped = true;
    return json{{"type", "stream"},
                {"action", "dropped"},
                {"details", {{"reason", "the reader fell behind the kept history"}}}}
               .dump() +
           "\n";
  };
  return out;
}

}  // namespace

Reply Api::routePeerings(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.peerings.list();
    if (m == "POST") return s_.peerings.create(parseBody(r.body));
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.peerings.get(seg[1]);
    if (m == "DELETE") return s_.peerings.remove(seg[1]);
  } else if (seg.size() == 3 && (seg[2] == "accept" || seg[2] == "reject")) {
    if (m != "POST") throw methodNotAllowed(m, r.target);
    return seg[2] == "accept" ? s_.peerings.accept(seg[1]) : s_.peerings.reject(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routePolicies(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.policies.list();
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.policies.get(seg[1]);
    if (m == "PUT") return s_.policies.put(seg[1], parseBody(r.body));
    if (m == "DELETE") return s_.policies.remove(seg[1]);
  } else if (seg.size() == 3 && seg[2] == "stats") {
    if (m == "GET") return s_.policies.stats(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routeInstances(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.instances.list(queryOf(r.target));
    if (m == "POST") return s_.instances.create(parseBody(r.body));
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.instances.get(seg[1]);
    if (m == "DELETE") return s_.instances.remove(seg[1]);
  } else if (seg.size() == 3 && (seg[2] == "stop" || seg[2] == "start" || seg[2] == "reset")) {
    if (m != "POST") throw methodNotAllowed(m, r.target);
    if (seg[2] == "stop") return s_.instances.stop(seg[1]);
    return seg[2] == "start" ? s_.instances.start(seg[1]) : s_.instances.reset(seg[1]);
  } else if (seg.size() == 3 && seg[2] == "serial-output") {
    if (m == "GET") return s_.instances.serialOutput(seg[1], queryOf(r.target));
  } else if (seg.size() == 3 && seg[2] == "console") {
    if (m == "POST") return s_.instances.console(seg[1], r.upgrade, queryOf(r.target));
  } else if (seg.size() == 3 && seg[2] == "nics") {
    if (m == "POST") return s_.instances.addNic(seg[1], parseBody(r.body));
  } else if (seg.size() == 4 && seg[2] == "nics") {
    if (m == "DELETE") return s_.instances.removeNic(seg[1], seg[3]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routeForwards(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.forwards.list();
    if (m == "POST") return s_.forwards.create(parseBody(r.body));
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.forwards.get(seg[1]);
    if (m == "DELETE") return s_.forwards.remove(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routeImpairments(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.impairments.list();
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.impairments.get(seg[1]);
    if (m == "PUT") return s_.impairments.put(seg[1], parseBody(r.body));
    if (m == "DELETE") return s_.impairments.remove(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routeFlowLogs(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.flowLogs.list();
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.flowLogs.get(seg[1]);
    if (m == "PUT") return s_.flowLogs.put(seg[1], parseBody(r.body));
    if (m == "DELETE") return s_.flowLogs.remove(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::routeLabs(const HttpRequest& r, const std::vector<std::string>& seg) {
  const std::string& m = r.method;
  if (seg.size() == 1) {
    if (m == "GET") return s_.labs.list();
  } else if (seg.size() == 2) {
    if (m == "GET") return s_.labs.get(seg[1]);
    if (m == "PUT") return s_.labs.put(seg[1], parseBody(r.body), queryOf(r.target));
    if (m == "DELETE") return s_.labs.remove(seg[1]);
  } else if (seg.size() == 3 && seg[2] == "graph") {
    if (m == "GET") return s_.labs.graph(seg[1], queryOf(r.target));
  } else if (seg.size() == 3 && seg[2] == "export") {
    if (m == "GET") return s_.labs.exportDocument(seg[1], queryOf(r.target));
  } else if (seg.size() == 3 && seg[2] == "verify") {
    if (m == "POST") return s_.reach.verify(seg[1]);
  } else {
    throw DomainError::notFound("no such resource: " + r.target);
  }
  throw methodNotAllowed(m, r.target);
}

Reply Api::route(const HttpRequest& r) {
  auto seg = segments(r.target);
  const std::string& m = r.method;
  if (seg.empty() || seg[0] != "v1") throw DomainError::notFound("no such resource: " + r.target);
  seg.erase(seg.begin());
  auto only = [&](const char* allowed) {
    if (m != allowed) throw methodNotAllowed(m, r.target);
  };
  if (seg.size() == 1 && seg[0] == "health") {
    only("GET");
    return {200, json{{"status", "ok"}}};
  }
  if (seg.size() == 1 && seg[0] == "status") {
    only("GET");
    return {200, s_.engine.status()};
  }
  if (seg.size() == 1 && seg[0] == "plan") {
    only("GET");
    return {200, s_.engine.plan()};
  }
  if (seg.size() == 1 && seg[0] == "events") {
    only("GET");
    return {200, nullptr, eventStream(s_.engine.events(), queryOf(r.target))};
  }
  if (seg.size() == 1 && seg[0] == "metrics") {
    only("GET");
    Reply reply{200, nullptr, std::nullopt, std::nullopt, metrics_->scrape()};
    reply.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return reply;
  }
  if (!seg.empty() && seg[0] == "peerings") return routePeerings(r, seg);
  if (!seg.empty() && seg[0] == "policies") return routePolicies(r, seg);
  if (!seg.empty() && seg[0] == "instances") return routeInstances(r, seg);
  if (!seg.empty() && seg[0] == "labs") return routeLabs(r, seg);
  if (!seg.empty() && seg[0] == "port-forwards") return routeForwards(r, seg);
  if (!seg.empty() && seg[0] == "impairments") return routeImpairments(r, seg);
  if (!seg.empty() && seg[0] == "flow-logs") return routeFlowLogs(r, seg);
  if (seg.size() == 1 && seg[0] == "reachability") {
    only("POST");
    return s_.reach.check(parseBody(r.body));
  }
  if (seg.size() == 1 && seg[0] == "export") {
    only("GET");
    return s_.labs.exportDocument("", queryOf(r.target));
  }
  if (seg.empty() || seg[0] != "vpcs") throw DomainError::notFound("no such resource: " + r.target);
  switch (seg.size()) {
    case 1:
      if (m == "GET") return s_.vpcs.list();
      if (m == "POST") return s_.vpcs.create(parseBody(r.body));
      throw methodNotAllowed(m, r.target);
    case 2:
      if (m == "GET") return s_.vpcs.get(seg[1]);
      if (m == "DELETE") return s_.vpcs.remove(seg[1]);
      throw methodNotAllowed(m, r.target);
    case 3:
      if (seg[2] == "flow-logs") {
        if (m == "GET") return s_.flowLogs.records(seg[1], queryOf(r.target));
        throw methodNotAllowed(m, r.target);
      }
      if (seg[2] != "subnets") break;
      if (m == "GET") return s_.vpcs.listSubnets(seg[1]);
      if (m == "POST") return s_.vpcs.createSubnet(seg[1], parseBody(r.body));
      throw methodNotAllowed(m, r.target);
    case 5:
      if (seg[2] != "subnets" || seg[4] != "available-ips") break;
      if (m == "GET") return s_.vpcs.availableIps({seg[1], seg[3]}, queryOf(r.target));
      throw methodNotAllowed(m, r.target);
    case 4:
      if (seg[2] != "subnets") break;
      if (m == "GET") return s_.vpcs.getSubnet({seg[1], seg[3]});
      if (m == "DELETE") return s_.vpcs.removeSubnet({seg[1], seg[3]});
      throw methodNotAllowed(m, r.target);
  }
  throw DomainError::notFound("no such resource: " + r.target);
}

}  // namespace vpcd
