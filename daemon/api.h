#pragma once
// HTTP routes of the REST API (/v1/...), independent of the transport.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/audit.h"
#include "daemon/authz.h"
#include "daemon/http_error.h"
#include "daemon/metrics.h"
#include "daemon/service.h"

namespace boost::asio {
class io_context;
}

namespace vpcd {

namespace gce {
class GceApi;
}

struct HttpRequest {
  std::string method;
  std::string target;
  std::string body;
  uid_t uid = static_cast<uid_t>(-1);  // the caller, from SO_PEERCRED
  pid_t pid = 0;
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary, from SO_PEERGROUPS
  std::string upgrade;        // the Upgrade header, for the console
  bool token = false;         // on the TCP listener, with the bearer token
  std::string peerNamespace;  // the vpcd namespace the caller runs in ("" for none)
  std::string host;           // the Host header: the base of the URLs answered
  std::string contentType;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::optional<Follow> follow;          // stream this file instead of `body`
  std::optional<ConsoleAttach> console;  // 101, then the connection is the console's
  std::string contentType = "application/json";
  // Answered later (Reply::later): called once with what sends the answer.
  std::function<void(std::function<void(HttpResponse)>)> later;
  // The message of a refusal or failure, for the log and the audit record
  // (not sent; set on answers that come later).
  std::string detail;
};

class Api {
 public:
  // Every request is checked: there is no API without an authorizer.
  Api(Services& services, const Authorizer& authz);
  ~Api();
  // The loop that later answers wait on (links vanishing after a delete);
  // without one (unit tests) they are waited for at once.
  void setLoop(boost::asio::io_context* io) {
    io_ = io;
    s_.reach.setLoop(io);
  }
  // Changes asked for (refused ones too) are also recorded here.
  void setAuditLog(AuditLog* audit) { audit_ = audit; }
  HttpResponse handle(const HttpRequest& request);
  // vpcdNamespaceOf(pid) in this daemon's namespace directory.
  std::string namespaceOf(pid_t pid) const;
  // Counted as requests come, passes run and drift is repaired: made before
  // the service starts, the start-up pass is counted too.
  Metrics& metrics() { return *metrics_; }

 private:
  // The answer; `detail`, the message of a refusal or failure.
  HttpResponse answer(const HttpRequest& request, std::string& detail);
  // The reply `produce` makes, rendered (errors as the API's error bodies).
  HttpResponse render(const std::function<Reply()>& produce, std::string& detail);
  // `reply`, sent once the links dying with deleted namespaces are gone.
  Reply afterVanishing(Reply reply);
  // Metrics, the log line and the audit record of an answered request.
  void record(const HttpRequest& request, int status, const std::string& detail,
              std::chrono::steady_clock::time_point started);
  HttpResponse answerGce(const HttpRequest& request, std::string& detail);
  Reply route(const HttpRequest& request);
  Reply routePolicies(const HttpRequest& r, const std::vector<std::string>& seg);
  Reply routePeerings(const HttpRequest& request, const std::vector<std::string>& segments);
  Reply routeInstances(const HttpRequest& r, const std::vector<std::string>& seg);
  Reply routeLabs(const HttpRequest& r, const std::vector<std::string>& seg);
  Reply routeForwards(const HttpRequest& r, const std::vector<std::string>& seg);
  Reply routeImpairments(const HttpRequest& r, const std::vector<std::string>& seg);
  Reply routeFlowLogs(const HttpRequest& r, const std::vector<std::string>& seg);
  Services& s_;
  const Authorizer& authz_;
  AuditLog* audit_ = nullptr;
  boost::asio::io_context* io_ = nullptr;
  std::unique_ptr<gce::GceApi> gce_;
  std::unique_ptr<Metrics> metrics_;
};

// The path of a request target, split at '/': "/v1/vpcs/prod" -> v1 vpcs prod.
std::vector<std::string> segments(const std::string& target);
// Its query, decoded: "?label=env%3Dlab&vpc=prod" -> {label: env=lab, vpc: prod}.
Query queryOf(const std::string& target);

// A request's JSON body; a body that is not JSON is a 400 naming the field
// where it went wrong.
nlohmann::json parseBody(const std::string& body);
// 405 naming the method and the target.
HttpError methodNotAllowed(const std::string& method, const std::string& target);

// {"error": {"code", "status", "message", "field"}}, in that order.
nlohmann::ordered_json errorBody(int code, const std::string& status, const std::string& message,
                                 const std::string& field);

}  // namespace vpcd
