#include "daemon/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <stdexcept>

#include "daemon/console_keeper.h"
#include "daemon/http_error.h"
#include "daemon/http_parse.h"
#include "daemon/log.h"
#include "daemon/token.h"

namespace vpcd {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using Local = boost::asio::local::stream_protocol;
using Tcp = boost::asio::ip::tcp;

// The client's supplementary groups as they were when it connected. The
// first call learns the size (ERANGE), the second reads them.
std::vector<gid_t> peerGroups(int fd) {
  socklen_t len = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, nullptr, &len) != 0 && errno != ERANGE) return {};
  std::vector<gid_t> out(len / sizeof(gid_t));
  if (out.empty()) return out;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.data(), &len) != 0) return {};
  out.resize(len / sizeof(gid_t));
  return out;
}

// Google's shape for a missing or wrong token, as gcloud prints it.
std::string unauthorizedBody(bool offered) {
  nlohmann::ordered_json e{
      {"code", 401},
      {"message", offered ? "Request had invalid authentication credentials. Expected a bearer "
                            "token: the contents of vpcd's token file."
                          : "Request is missing required authentication credential. Expected "
                            "a bearer token: the contents of vpcd's token file."},
      {"errors",
       {{{"message", offered ? "Invalid Credentials" : "Login Required."},
         {"domain", "global"},
         {"reason", offered ? "authError" : "required"},
         {"location", "Authorization"},
         {"locationType", "header"}}}},
      {"status", "UNAUTHENTICATED"}};
  return bodyText(nlohmann::ordered_json{{"error", e}}) + "\n";
}

// One connection, on the Unix socket (the caller from SO_PEERCRED) or on the
// TCP listener (every request with the bearer token; `token` is then set).
template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
  using Stream = typename Protocol::socket;

 public:
  Session(Stream socket, Api& api, const HttpLimits& limits, std::shared_ptr<int> active,
          const std::string* token)
      : socket_(std::move(socket)),
        api_(api),
        limits_(limits),
        active_(std::move(active)),
        token_(token) {
    ++*active_;
  }
  ~Session() { --*active_; }

  // Past the connection bound: one answer, then the connection closes.
  void refuse() {
    fail(http::status::service_unavailable, "SERVICE_UNAVAILABLE",
         "vpcd serves " + std::to_string(limits_.maxConnections) +
             " API connections at once; try again when one closes");
  }

  void start() {
    if (token_) return read();
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      uid_ = cred.uid;
      gid_ = cred.gid;
      pid_ = cred.pid;
      peerNamespace_ = api_.namespaceOf(cred.pid);
    }
    groups_ = peerGroups(socket_.native_handle());
    read();
  }

 private:
  void read() {
    parser_.emplace();
    limitParser(*parser_);
    armDeadline();
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
  }

  // The request (or, between requests, the next one) must arrive in time; a
  // weak reference, so that a closed connection does not wait for its timer.
  void armDeadline() {
    deadline_.expires_after(limits_.timeout);
    deadline_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timedOut_ = true;
      beast::error_code ignored;
      self->socket_.cancel(ignored);
    });
  }

  // An error answer in the API's JSON shape; the connection closes after it.
  void fail(http::status status, const char* word, const std::string& message) {
    failWith(status, bodyText(errorBody(static_cast<int>(status), word, message, "")) + "\n");
  }

  void failWith(http::status status, std::string body) {
    deadline_.cancel();
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "vpcd");
    res->set(http::field::content_type, "application/json");
    if (status == http::status::unauthorized)
      res->set(http::field::www_authenticate, "Bearer realm=\"vpcd\"");
    res->keep_alive(false);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(socket_, *res,
                      [self = this->shared_from_this(), res](beast::error_code, size_t) {
                        beast::error_code ignored;
                        self->socket_.shutdown(Stream::shutdown_both, ignored);
                      });
  }

  // A failed read: say why when the client can still hear it.
  void onReadError(beast::error_code ec, bool started) {
    if (ec == http::error::body_limit) {
      return fail(http::status::payload_too_large, "PAYLOAD_TOO_LARGE",
                  "the request body is larger than " + std::to_string(kMaxBody >> 20) + " MiB");
    }
    if (ec == http::error::header_limit) {
      return fail(http::status::request_header_fields_too_large, "HEADER_TOO_LARGE",
                  "the request header is larger than " + std::to_string(kMaxHeader >> 10) + " KiB");
    }
    if (timedOut_) {
      // Nothing of a request yet: an idle connection, closed quietly.
      if (!started && buffer_.size() == 0) return;
      return fail(
          http::status::request_timeout, "REQUEST_TIMEOUT",
          "the request did not arrive within " + std::to_string(limits_.timeout.count()) + " s");
    }
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream)
      return fail(http::status::bad_request, "INVALID_ARGUMENT",
                  std::string("not an HTTP/1.1 request: ") + ec.message());
  }

  // curl sends `Expect: 100-continue` before a large body (a policy of
  // thousands of rules) and waits a second for the go-ahead unless it comes.
  void onHeader(beast::error_code ec) {
    if (ec) return onReadError(ec, false);
    if (parser_->get().target().size() > kMaxTarget) {
      return fail(http::status::uri_too_long, "URI_TOO_LONG",
                  "the request target is longer than " + std::to_string(kMaxTarget >> 10) + " KiB");
    }
    // Before the body: a client without the token sends no 16 MiB.
    if (token_ && !authorized(parser_->get()[http::field::authorization])) {
      bool offered = !parser_->get()[http::field::authorization].empty();
      logLine(5, std::string(parser_->get().method_string()) + " " +
                     std::string(parser_->get().target()) + " from " + peerAddress() +
                     " -> 401: " + (offered ? "a wrong token" : "no token"));
      return failWith(http::status::unauthorized, unauthorizedBody(offered));
    }
    auto self = this->shared_from_this();
    auto readBody = [self] {
      http::async_read(self->socket_, self->buffer_, *self->parser_,
                       [self](beast::error_code rec, size_t) { self->onRead(rec); });
    };
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return readBody();
    auto go = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                 parser_->get().version());
    http::async_write(socket_, *go, [self, go, readBody](beast::error_code wec, size_t) {
      if (!wec) readBody();
    });
  }

  std::string peerAddress() const {
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if constexpr (std::is_same_v<Protocol, Tcp>) {
      if (!ec) return ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    return "?";
  }

  bool authorized(beast::string_view value) const {
    std::string_view header(value.data(), value.size());
    constexpr std::string_view kScheme = "Bearer ";
    if (header.size() < kScheme.size() ||
        !beast::iequals(beast::string_view(header.data(), kScheme.size()), "Bearer "))
      return false;
    return tokenMatches(header.substr(kScheme.size()), *token_);
  }

  void onRead(beast::error_code ec) {
    if (ec) return onReadError(ec, true);
    deadline_.cancel();  // the request is in: its answer may take what it takes
    auto req = parser_->release();
    HttpRequest request = requestOf(req);
    request.uid = uid_;
    request.pid = pid_;
    request.peerNamespace = peerNamespace_;
    request.gid = gid_;
    request.groups = groups_;
    request.token = token_ != nullptr;
    HttpResponse result = api_.handle(request);
    if (result.later) {
      // Nothing more is read on this connection until the answer is sent;
      // the loop serves the other connections meanwhile.
      auto begin = std::move(result.later);
      begin([self = this->shared_from_this(), version = req.version(),
             keepAlive = req.keep_alive()](HttpResponse r) {
        self->respond(std::move(r), version, keepAlive);
      });
      return;
    }
    respond(std::move(result), req.version(), req.keep_alive());
  }

  void respond(HttpResponse result, unsigned version, bool keepAlive) {
    if (result.follow) return startFollow(std::move(*result.follow), version);
    if (result.console) return handOver(std::move(*result.console), version);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(result.status), version);
    res->set(http::field::server, "vpcd");
    res->set(http::field::content_type, result.contentType);
    res->keep_alive(keepAlive);
    res->body() = std::move(result.body);
    res->prepare_payload();
    http::async_write(socket_, *res,
                      [self = this->shared_from_this(), res](beast::error_code wec, size_t) {
                        if (wec || !res->keep_alive()) {
                          beast::error_code ignored;
                          self->socket_.shutdown(Stream::shutdown_both, ignored);
                          return;
                        }
                        self->read();
                      });
  }

  // A chunked text/plain answer that grows with the file.
  void startFollow(Follow f, unsigned version) {
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, version);
    res->set(http::field::server, "vpcd");
    res->set(http::field::content_type, f.contentType);
    res->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    http::async_write_header(
        socket_, *sr, [self = this->shared_from_this(), res, sr, f](beast::error_code ec, size_t) {
          if (!ec) self->pump(f);
        });
  }

  // 101, then the connection belongs to the instance's console keeper: it
  // gets the descriptor (and whatever the client sent after its request),
  // and this session ends without closing the client.
  void handOver(ConsoleAttach c, unsigned version) {
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols,
                                                                  version);
    res->set(http::field::server, "vpcd");
    res->set(http::field::connection, "Upgrade");
    res->set(http::field::upgrade, "vpcd-console");
    http::async_write(
        socket_, *res, [self = this->shared_from_this(), res, c](beast::error_code ec, size_t) {
          if (ec) return;
          auto pending = self->buffer_.cdata();
          std::string why = handConsole(
              c.path, self->socket_.native_handle(), Greeting{c.rows, c.cols},
              std::string_view(static_cast<const char*>(pending.data()), pending.size()));
          if (!why.empty()) {
            auto text = std::make_shared<std::string>("vpcd: " + why + "\r\n");
            boost::asio::async_write(self->socket_, boost::asio::buffer(*text),
                                     [self, text](beast::error_code, size_t) {
                                       beast::error_code ignored;
                                       self->socket_.shutdown(Stream::shutdown_both, ignored);
                                     });
            return;
          }
          beast::error_code ignored;
          self->socket_.close(ignored);  // the keeper holds its own copy
        });
  }

  // The last chunk of a stream, then the connection is closed.
  void end() {
    boost::asio::async_write(socket_, http::make_chunk_last(),
                             [self = this->shared_from_this()](beast::error_code, size_t) {
                               beast::error_code ignored;
                               self->socket_.shutdown(Stream::shutdown_both, ignored);
                             });
  }

  void pump(Follow f) {
    auto self = this->shared_from_this();
    std::optional<std::string> next = f.read ? f.read() : readFrom(f.path, f.offset, 64 << 10);
    if (!next) {
      end();
      return;
    }
    auto data = std::make_shared<std::string>(std::move(*next));
    if (!data->empty()) {
      boost::asio::async_write(socket_, http::make_chunk(boost::asio::buffer(*data)),
                               [self, data, f](beast::error_code ec, size_t) {
                                 if (!ec) self->pump(f);
                               });
      return;
    }
    pollfd p{.fd = socket_.native_handle(), .events = POLLRDHUP, .revents = 0};
    bool gone = ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
    if (gone) return;  // the client left
    if (!f.active()) {
      end();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(200));
    timer_.async_wait([self, f](beast::error_code ec) {
      if (!ec) self->pump(f);
    });
  }

  Stream socket_;
  boost::asio::steady_timer timer_{socket_.get_executor()};
  boost::asio::steady_timer deadline_{socket_.get_executor()};
  bool timedOut_ = false;
  Api& api_;
  HttpLimits limits_;
  std::shared_ptr<int> active_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  uid_t uid_ = static_cast<uid_t>(-1);
  pid_t pid_ = 0;
  std::string peerNamespace_;
  gid_t gid_ = static_cast<gid_t>(-1);
  std::vector<gid_t> groups_;
  const std::string* token_;
};

void removeStaleSocket(boost::asio::io_context& io, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + " exists and is not a socket");
  Local::socket probe(io);
  boost::system::error_code ec;
  probe.connect(boost::asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) throw std::runtime_error("another daemon is listening on " + path);
  ::unlink(path.c_str());
}

}  // namespace

HttpServer::HttpServer(boost::asio::io_context& io, Api& api, const std::string& path,
                       HttpLimits limits)
    : api_(api), path_(path), limits_(limits) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) ::mkdir(dir.c_str(), 0755);
  removeStaleSocket(io, path);
  Local::endpoint endpoint(path);
  auto& acceptor = local_.emplace(io);
  acceptor.open(endpoint.protocol());
  // The socket is born 0660: no window in which others could connect.
  mode_t old = ::umask(0117);
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  ::umask(old);
  if (ec) throw std::runtime_error("cannot bind " + path + ": " + ec.message());
  acceptor.listen();
  accept(acceptor);
}

HttpServer::HttpServer(boost::asio::io_context& io, Api& api, int listenFd, HttpLimits limits)
    : api_(api), limits_(limits) {
  local_.emplace(io).assign(Local(), listenFd);
  accept(*local_);
}

HttpServer::HttpServer(boost::asio::io_context& io, Api& api, const ListenAddress& at,
                       std::string token, HttpLimits limits)
    : api_(api), limits_(limits), token_(std::move(token)) {
  Tcp::endpoint endpoint(boost::asio::ip::make_address(at.address), at.port);
  auto& acceptor = tcp_.emplace(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(Tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  if (ec)
    throw std::runtime_error("--listen: cannot bind " + at.address + ":" + std::to_string(at.port) +
                             ": " + ec.message());
  acceptor.listen();
  accept(acceptor);
}

HttpServer::~HttpServer() {
  boost::system::error_code ec;
  if (local_) local_->close(ec);
  if (tcp_) tcp_->close(ec);
  if (!path_.empty()) ::unlink(path_.c_str());
}

template <class Acceptor>
void HttpServer::accept(Acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](boost::system::error_code ec, auto socket) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      using Protocol = typename std::remove_reference_t<decltype(acceptor)>::protocol_type;
      bool full = *active_ >= limits_.maxConnections;
      auto session = std::make_shared<Session<Protocol>>(std::move(socket), api_, limits_, active_,
                                                         tcp_ ? &token_ : nullptr);
      if (full) {
        session->refuse();
      } else {
        session->start();
      }
    }
    accept(acceptor);
  });
}

}  // namespace vpcd
