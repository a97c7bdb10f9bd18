#include "cli/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace vpcctl {

namespace http = boost::beast::http;
using Socket = boost::asio::local::stream_protocol::socket;

namespace {

void connect(Socket& sock, const std::string& socketPath) {
  boost::system::error_code ec;
  sock.connect(boost::asio::local::stream_protocol::endpoint(socketPath), ec);
  if (ec) throw std::runtime_error("cannot reach vpcd at " + socketPath + ": " + ec.message());
}

http::request<http::string_body> newRequest(http::verb verb, const std::string& target) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "vpcd");
  req.set(http::field::user_agent, "vpcctl");
  return req;
}

nlohmann::json parsed(const std::string& body) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception&) {  // not JSON, or a number no type holds
    return body;
  }
}

}  // namespace

Response call(const std::string& socketPath, const std::string& method, const std::string& target,
              const nlohmann::json* body) {
  boost::asio::io_context io;
  Socket sock(io);
  connect(sock, socketPath);
  auto req = newRequest(http::string_to_verb(method), target);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  http::write(sock, req);

  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(sock, buffer, res);
  return {static_cast<int>(res.result_int()), parsed(res.body())};
}

Response stream(const std::string& socketPath, const std::string& target,
                const std::function<void(std::string_view)>& sink) {
  boost::asio::io_context io;
  Socket sock(io);
  connect(sock, socketPath);
  auto req = newRequest(http::verb::get, target);
  req.prepare_payload();
  http::write(sock, req);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(sock, buffer, parser);
  int status = static_cast<int>(parser.get().result_int());
  bool ok = status >= 200 && status < 300;
  std::string whole;
  char buf[8192];
  boost::system::error_code ec;
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    http::read_some(sock, buffer, parser, ec);  // what arrived, not the whole body
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;  // the daemon went away: what came is what there is
    std::string_view got(buf, sizeof buf - parser.get().body().size);
    if (ok) {
      sink(got);
    } else {
      whole += got;
    }
  }
  return {status, ok ? nlohmann::json() : parsed(whole)};
}

int upgrade(const std::string& socketPath, const std::string& target, const std::string& protocol,
            std::string& early, Response& r) {
  boost::asio::io_context io;
  Socket sock(io);
  connect(sock, socketPath);
  auto req = newRequest(http::verb::post, target);
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, protocol);
  req.prepare_payload();
  http::write(sock, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(sock, buffer, res);
  r = {static_cast<int>(res.result_int()), parsed(res.body())};
  if (res.result() != http::status::switching_protocols) return -1;
  auto rest = buffer.cdata();
  early.assign(static_cast<const char*>(rest.data()), rest.size());
  return sock.release();
}

}  // namespace vpcctl
