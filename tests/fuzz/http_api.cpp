// Bytes from a client of the socket or the TCP listener: parsed by the
// server's own parser with its limits, then routed and answered by the API
// over an in-memory kernel, as root and, every other input, as a token
// client (the GCE API's door). Every body the API takes is reached this way:
// VPCs, subnets, peerings, policies in both formats, instances, labs, GCE
// lists with filter= and multipart batches.
//
// The oracle beyond the sanitizers: an answer of 500 or more. Over an
// in-memory kernel nothing can fail but the code, so a 5xx is a defect (a
// malformed request must get a 4xx naming what is wrong).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "daemon/http_parse.h"
#include "tests/unit/harness.h"

namespace {

using vpcd::test::Daemon;

// One daemon for many inputs (a fresh one per input would cost a state
// directory each); renewed now and then so the state stays small.
Daemon<>& daemon() {
  static std::unique_ptr<Daemon<>> d;
  static unsigned uses = 0;
  if (!d) {
    // State writes end in fsync: in memory, where there is a tmpfs.
    if (::access("/dev/shm", W_OK) == 0) vpcd::test::tempBase() = "/dev/shm";
  }
  if (!d || ++uses % 2048 == 0) {
    d.reset();
    d = std::make_unique<Daemon<>>(true);
  }
  return *d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool token = data[0] & 1;
  vpcd::RequestParser parser;
  vpcd::limitParser(parser);
  parser.eager(true);
  boost::beast::error_code ec;
  const uint8_t* at = data + 1;
  size_t left = size - 1;
  while (!parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(at, left), ec);
    at += used;
    left -= used;
    if (ec == boost::beast::http::error::need_more || (!ec && used == 0)) {
      ec = {};
      parser.put_eof(ec);  // the client closed: the request ends here, or is cut short
      break;
    }
    if (ec) return 0;  // the server answers 400, 413 or 431
  }
  if (ec || !parser.is_done()) return 0;
  if (parser.get().target().size() > vpcd::kMaxTarget) return 0;  // the server answers 414
  vpcd::HttpRequest request = vpcd::requestOf(parser.get());
  request.token = token;
  auto& d = daemon();
  vpcd::HttpResponse response = d.api.handle(request);
  if (response.status >= 500) {
    std::fprintf(stderr, "%s %s -> %d %s\n", request.method.c_str(), request.target.c_str(),
                 response.status, response.body.c_str());
    std::abort();
  }
  return 0;
}
