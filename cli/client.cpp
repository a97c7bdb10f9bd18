#include "cli/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace vpcctl {

namespace http = boost::beast::http;

Response call(const std::string& socketPath, const std::string& method, const std::string& target,
              const nlohmann::json* body) {
  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket sock(io);
  boost::system::error_code ec;
  sock.connect(boost::asio::local::stream_protocol::endpoint(socketPath), ec);
  if (ec) throw std::runtime_error("cannot reach vpcd at " + socketPath + ": " + ec.message());

  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "vpcd");
  req.set(http::field::user_agent, "vpcctl");
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  http::write(sock, req);

  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(sock, buffer, res);
  Response out{static_cast<int>(res.result_int()), nullptr};
  try {
    out.body = nlohmann::json::parse(res.body());
  } catch (const nlohmann::json::parse_error&) {
    out.body = res.body();
  }
  return out;
}

}  // namespace vpcctl
