#include "daemon/api.h"

#include <cerrno>
#include <chrono>
#include <set>
#include <vector>

#include "daemon/gce/errors.h"
#include "daemon/gce/gce_api.h"
#include "daemon/http_error.h"
#include "daemon/log.h"
#include "daemon/reaper.h"

namespace vpcd {
namespace {

using nlohmann::json;

// Where in the document parsing stopped, as a field path ("ingress[3].mtu"):
// the parser's own errors give only a byte offset. Parses `body` again with a
// callback that follows the nesting.
std::string fieldAtFailure(const std::string& body) {
  struct Level {
    bool array;
    size_t index = 0;
    std::string key;
  };
  std::vector<Level> stack;
  auto next = [&] {
    if (!stack.empty() && stack.back().array) ++stack.back().index;
  };
  auto follow = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        stack.push_back({false});
        break;
      case json::parse_event_t::array_start:
        stack.push_back({true});
        break;
      case json::parse_event_t::key:
        stack.back().key = parsed.get<std::string>();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack.pop_back();
        next();
        break;
      case json::parse_event_t::value:
        next();
        break;
    }
    return true;
  };
  try {
    json ignored = json::parse(body, follow);
  } catch (const json::exception&) {
  }
  std::string path;
  for (const auto& l : stack) {
    if (l.array) {
      path += "[" + std::to_string(l.index) + "]";
    } else if (!l.key.empty()) {
      path += (path.empty() ? "" : ".") + l.key;
    }
  }
  return path;
}

// A body that is not JSON, or holds a number no double can (1e309), is a
// 400 naming the field where it went wrong.
}  // namespace

json parseBody(const std::string& body) {
  try {
    return json::parse(body.empty() ? "{}" : body);
  } catch (const json::exception& e) {
    std::string field = fieldAtFailure(body);
    std::string what = e.id == 406 ? "a number out of range" : "not valid JSON";
    throw DomainError::invalid(
        field, (field.empty() ? "request body: " : "") + what + " (" + e.what() + ")");
  }
}

HttpError methodNotAllowed(const std::string& method, const std::string& target) {
  return HttpError(kMethodNotAllowed, method + " is not allowed on " + target);
}

std::vector<std::string> segments(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// "?label=env%3Dlab&vpc=prod" -> {label: env=lab, vpc: prod}.
Query queryOf(const std::string& target) {
  Query out;
  size_t q = target.find('?');
  if (q == std::string::npos) return out;
  auto decode = [](const std::string& s) {
    std::string text;
    for (size_t i = 0; i < s.size(); ++i) {
      auto hex = [&](size_t k) { return std::isxdigit(static_cast<unsigned char>(s[k])) != 0; };
      if (s[i] == '%' && i + 2 < s.size() && hex(i + 1) && hex(i + 2)) {
        text.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        text.push_back(s[i] == '+' ? ' ' : s[i]);
      }
    }
    return text;
  };
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = std::min(rest.find('&', pos), rest.size());
    std::string pair = rest.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    if (!pair.empty())
      out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    pos = amp + 1;
  }
  return out;
}

nlohmann::ordered_json errorBody(int code, const std::string& status, const std::string& message,
                                 const std::string& field) {
  nlohmann::ordered_json error{{"code", code}, {"status", status}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  return nlohmann::ordered_json{{"error", error}};
}

namespace {

// For the request being served, when the caller's grants are scoped to
// some VPCs: every change and probe it makes must act there only.
class ScopeGuard {
 public:
  ScopeGuard(Engine& engine, const Authorizer::Allowance& allowed, const std::string& permission)
      : engine_(engine) {
    if (allowed.everywhere) return;
    engine_.setGuard([allowed, permission](const std::vector<std::set<std::string>>& actedOn) {
      for (const auto& alternatives : actedOn) {
        bool covered = std::any_of(alternatives.begin(), alternatives.end(),
                                   [&](const std::string& v) { return allowed.vpcs.count(v) > 0; });
        if (covered) continue;
        std::string where, granted;
        for (const auto& v : alternatives) where += (where.empty() ? "" : " or ") + v;
        for (const auto& v : allowed.vpcs) granted += (granted.empty() ? "" : ", ") + v;
        throw HttpError(kForbidden, allowed.who + " may not " + permission + " on VPC " + where +
                                        ": its grant covers VPC " + granted + " only");
      }
    });
  }
  ~ScopeGuard() { engine_.setGuard(nullptr); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  Engine& engine_;
};

}  // namespace

Api::Api(Services& services, const Authorizer& authz)
    : s_(services),
      authz_(authz),
      gce_(std::make_unique<gce::GceApi>()),
      metrics_(std::make_unique<Metrics>(services)) {
  s_.engine.setPassObserver([m = metrics_.get()](const std::string& trigger,
                                                 const ReconcileReport& report,
                                                 const std::set<std::string>& drifted) {
    m->pass(trigger, report.ok(), static_cast<double>(report.duration.count()) / 1e6);
    if (trigger == "drift" && !report.applied.empty()) m->repaired(drifted);
  });
}

Api::~Api() {
  s_.engine.setPassObserver(nullptr);
}

HttpResponse Api::answerGce(const HttpRequest& request, std::string& detail) {
  // Changes through the Compute Engine API are the API group's (and the
  // token's): no roles-file permission names them yet.
  auto allowed =
      authz_.allowance({request.uid, request.gid, request.pid, request.groups, request.token},
                       request.method == "GET" ? "" : "compute:write");
  HttpResponse r;
  if (!allowed.why.empty()) {
    r = {403, bodyText(gce::GceError(403, "forbidden", allowed.why).body()) + "\n"};
  } else {
    r = gce_->handle(request);
  }
  if (r.status >= 400) {
    auto doc = json::parse(r.body, nullptr, false);
    if (doc.is_object() && doc.contains("error")) detail = doc["error"].value("message", "");
  }
  return r;
}

std::string Api::namespaceOf(pid_t pid) const {
  return vpcdNamespaceOf(pid, s_.engine.config().netnsDir);
}

HttpResponse Api::handle(const HttpRequest& request) {
  auto started = std::chrono::steady_clock::now();
  std::string detail;
  HttpResponse response = answer(request, detail);
  if (response.later) {
    // Counted and logged when the answer is sent, with its own status.
    auto begin = std::move(response.later);
    response.later = [this, request, started, begin](std::function<void(HttpResponse)> send) {
      begin([this, request, started, send](HttpResponse r) {
        record(request, r.status, r.detail, started);
        send(std::move(r));
      });
    };
    return response;
  }
  record(request, response.status, detail, started);
  return response;
}

void Api::record(const HttpRequest& request, int status, const std::string& detail,
                 std::chrono::steady_clock::time_point started) {
  metrics_->request(
      request.method, request.target, status,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (request.method != "GET" && request.method != "HEAD") {
    // One line per change asked for: who asked, what, and how it ended.
    int priority = status >= 500 ? 3 : status >= 400 ? 5 : 6;
    // The token is never logged: "token" says which door the caller used.
    std::string who = request.token ? "token"
                                    : "uid=" + std::to_string(request.uid) +
                                          " pid=" + std::to_string(request.pid);
    logLine(priority, request.method + " " + request.target + " " + who + " -> " +
                          std::to_string(status) + (detail.empty() ? "" : ": " + detail));
    if (audit_)
      audit_->record({request.token, request.uid, request.pid, request.method, request.target,
                      status, detail});
  }
}

HttpResponse Api::answer(const HttpRequest& request, std::string& detail) {
  if (!request.peerNamespace.empty()) {
    // Before anything else, reads too, on every API of the socket.
    detail = "the API is not served to processes inside vpcd's namespaces (" +
             request.peerNamespace + "): root there is not the host's administrator";
    return {kForbidden.code,
            bodyText(errorBody(kForbidden.code, kForbidden.word, detail, "")) + "\n"};
  }
  if (gce::GceApi::serves(request.target)) return answerGce(request, detail);
  return render(
      [&] {
        std::string permission =
            Authorizer::permissionFor(request.method, segments(request.target));
        auto allowed = authz_.allowance(
            {request.uid, request.gid, request.pid, request.groups, request.token}, permission);
        if (!allowed.why.empty()) throw HttpError(kForbidden, allowed.why);
        ScopeGuard guard(s_.engine, allowed, permission);
        return route(request);
      },
      detail);
}

Reply Api::afterVanishing(Reply reply) {
  if (!s_.engine.settleVanishing(false)) return reply;
  if (!io_) {
    s_.engine.settleVanishing(true);
    return reply;
  }
  // Polled on the loop (cleanup_net usually takes milliseconds); past 5 s,
  // what a process still keeps alive is deleted explicitly.
  auto held = std::make_shared<Reply>(std::move(reply));
  Reply out;
  out.later = [this, held](Deliver deliver) {
    pollUntil(
        *io_, [this] { return !s_.engine.settleVanishing(false); }, std::chrono::milliseconds(2),
        std::chrono::seconds(5),
        [this, held, deliver](bool timedOut) {
          if (timedOut) s_.engine.settleVanishing(true);
          if (held->later) return held->later(deliver);
          deliver([r = *held] { return r; });
        });
  };
  return out;
}

HttpResponse Api::render(const std::function<Reply()>& produce, std::string& detail) {
  int status = 200;
  std::string body;
  try {
    uint64_t vanishing = s_.engine.vanishingReported();
    Reply reply = produce();
    if (s_.engine.vanishingReported() != vanishing) reply = afterVanishing(std::move(reply));
    if (reply.later) {
      // The finishing function is rendered the same way, when it comes.
      return {reply.status,
              "",
              std::nullopt,
              std::nullopt,
              reply.contentType,
              [this, begin = std::move(reply.later)](std::function<void(HttpResponse)> send) {
                begin([this, send](Finish finish) {
                  std::string why;
                  HttpResponse r = render(finish, why);
                  if (r.later) return r.later(send);
                  r.detail = std::move(why);
                  send(std::move(r));
                });
              }};
    }
    if (reply.follow) return {reply.status, "", std::move(reply.follow)};
    if (reply.console) return {reply.status, "", std::nullopt, std::move(reply.console)};
    status = reply.status;
    if (reply.text)
      return {status, std::move(*reply.text), std::nullopt, std::nullopt, reply.contentType};
    // Serial output is whatever bytes a command wrote: not always UTF-8.
    body = bodyText(reply.body);
  } catch (const DomainError& e) {
    HttpStatus s = httpStatusOf(e.kind());
    status = s.code;
    body = bodyText(errorBody(s.code, s.word, e.what(), e.field()));
    detail = e.what();
  } catch (const HttpError& e) {
    status = e.status().code;
    auto doc = errorBody(status, e.status().word, e.what(), e.field());
    if (!e.details.is_null()) doc["error"]["details"] = e.details;
    body = bodyText(doc);
    detail = e.what();
  } catch (const KernelError& e) {
    // An observation outside a reconcile (a plan, a namespace check).
    status = 500;
    auto doc = errorBody(500, "INTERNAL", e.what(), "");
    doc["error"]["details"] = kernelDetails(e);
    body = bodyText(doc);
    detail = e.what();
  } catch (const StateError& e) {
    // The state could not be written: the kernel was not touched (the store
    // comes first) and the previous files are intact. A full disk is the
    // client's to fix, and says so.
    bool full = e.code() == ENOSPC || e.code() == EDQUOT;
    status = full ? 507 : 500;
    body = bodyText(errorBody(
        status, full ? "INSUFFICIENT_STORAGE" : "INTERNAL",
        (full ? "the state directory is full; nothing was changed: " : "") + std::string(e.what()),
        ""));
    detail = e.what();
  } catch (const std::exception& e) {
    // Anything else: the daemon answers 500 with the message and lives on.
    status = 500;
    body = bodyText(errorBody(500, "INTERNAL", e.what(), ""));
    detail = e.what();
  }
  return {status, body + "\n"};
}

}  // namespace vpcd
