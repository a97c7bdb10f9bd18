#pragma once
// HTTP/1.1 on a Unix stream socket (Boost.Beast), one request at a time per
// connection, keep-alive. Requests are served on the io_context's thread, so
// the service is never entered concurrently.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <string>

#include "daemon/api.h"

namespace vpcd {

class HttpServer {
 public:
  // Binds `path` (mode 0660), replacing a stale socket file but refusing to
  // take over one that a live daemon answers on.
  HttpServer(boost::asio::io_context& io, Api& api, const std::string& path);
  // Serves a listening socket made by someone else (systemd socket
  // activation), which keeps its file: it is not removed at exit.
  HttpServer(boost::asio::io_context& io, Api& api, int listenFd);
  ~HttpServer();

 private:
  void accept();

  boost::asio::io_context& io_;
  Api& api_;
  std::string path_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace vpcd
