#pragma once
// HTTP/1.1 on a Unix stream socket or a TCP listener (Boost.Beast), one
// request at a time per connection, keep-alive. Requests are served on the
// io_context's thread, so the service is never entered concurrently.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "daemon/api.h"
#include "daemon/token.h"

namespace vpcd {

// What a client may take: time for each request to arrive (and an idle
// connection to live), and connections at once. Beyond them it gets a JSON
// error (408, 503) and the connection closes; so do a body over 16 MiB
// (413), a header over 16 KiB (431), a target over 8 KiB (414) and what is
// not HTTP (400).
struct HttpLimits {
  std::chrono::seconds timeout{30};
  int maxConnections = 256;
};

class HttpServer {
 public:
  // Binds `path` (mode 0660), replacing a stale socket file but refusing to
  // take over one that a live daemon answers on.
  HttpServer(boost::asio::io_context& io, Api& api, const std::string& path, HttpLimits limits);
  // Serves a listening socket made by someone else (systemd socket
  // activation), which keeps its file: it is not removed at exit.
  HttpServer(boost::asio::io_context& io, Api& api, int listenFd, HttpLimits limits);
  // Listens on TCP (--listen); every request must carry `Authorization:
  // Bearer <token>`, else 401 in Google's error shape, before its body is read.
  HttpServer(boost::asio::io_context& io, Api& api, const ListenAddress& at, std::string token,
             HttpLimits limits);
  ~HttpServer();

 private:
  template <class Acceptor>
  void accept(Acceptor& acceptor);

  Api& api_;
  std::string path_;
  HttpLimits limits_;
  std::string token_;
  std::shared_ptr<int> active_ = std::make_shared<int>(0);  // connections being served
  std::optional<boost::asio::local::stream_protocol::acceptor> local_;
  std::optional<boost::asio::ip::tcp::acceptor> tcp_;
};

}  // namespace vpcd
