#pragma once
// How the HTTP server reads a request and what it hands the API, in one
// place: the fuzz target (tests/fuzz/http_api.cpp) drives exactly this.
#include <boost/beast/http.hpp>

#include "daemon/api.h"

namespace vpcd {

constexpr size_t kMaxBody = 16 * 1024 * 1024;  // a policy of ~100,000 rules
constexpr uint32_t kMaxHeader = 16 * 1024;
constexpr size_t kMaxTarget = 8 * 1024;

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

inline void limitParser(RequestParser& parser) {
  parser.body_limit(kMaxBody);
  parser.header_limit(kMaxHeader);
}

// The request as the API sees it; who sent it (uid, groups, token) is the
// server's to add.
inline HttpRequest requestOf(
    const boost::beast::http::request<boost::beast::http::string_body>& req) {
  namespace http = boost::beast::http;
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.body = req.body();
  r.upgrade = std::string(req[http::field::upgrade]);
  r.host = std::string(req[http::field::host]);
  r.contentType = std::string(req[http::field::content_type]);
  return r;
}

}  // namespace vpcd
