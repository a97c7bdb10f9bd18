// Every JSON body the API takes, straight to its parser (faster and deeper
// than through HTTP), and the two GCE inputs that are not JSON: filter=
// expressions and multipart batches. The first byte picks the parser; the
// rest is the body.
//
// The oracle beyond the sanitizers: a parser may refuse only with the
// domain's error (the API's 4xx naming the field) or, for GCE, GceError.
// Anything else escaping (a json type_error, std::out_of_range) would be a
// 500 for a client's mistake.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon/gce/errors.h"
#include "daemon/gce/gce_api.h"
#include "daemon/gce/listing.h"
#include "lib/model/error.h"
#include "lib/model/instance.h"
#include "lib/model/lab_document.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"

namespace {

using nlohmann::json;

void parseJsonBody(uint8_t kind, const std::string& text) {
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return;  // the API answers 400 before any parser
  switch (kind % 7) {
    case 0:
      vpcd::parseVpcRequest(body);
      break;
    case 1:
      vpcd::parseSubnetRequest(body);
      break;
    case 2:
      vpcd::parsePeeringRequest(body, 1700000000);
      break;
    case 3:
      vpcd::parsePolicy("p", body, 1700000000);
      break;
    case 4:
      vpcd::parseInstanceRequest(body);
      break;
    case 5:
      vpcd::parseNicRequest(body, "nics[0]");
      break;
    case 6:
      vpcd::parseLabDocument(body, "", 1700000000);
      break;
  }
}

// A filter, then matched against a network-shaped resource.
void gceFilter(const std::string& text) {
  static const json resource = json::parse(R"({"name": "net-1", "mtu": 1460,
    "autoCreateSubnetworks": false, "routingConfig": {"routingMode": "REGIONAL"},
    "subnetworks": ["a", "b"], "labels": {"env": "lab"}})");
  auto filter = vpcd::gce::Filter::parse(text);
  filter.matches(resource);
}

// The content type on the first line, the batch body after it.
void gceBatch(const std::string& text) {
  static const vpcd::gce::GceApi api;
  size_t eol = text.find('\n');
  vpcd::HttpRequest r;
  r.method = "POST";
  r.target = "/batch/compute/v1";
  r.contentType = text.substr(0, eol);
  r.body = eol == std::string::npos ? "" : text.substr(eol + 1);
  auto response = api.handle(r);
  if (response.status >= 500) {
    std::fprintf(stderr, "batch -> %d %s\n", response.status, response.body.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] < 0xf0) {
      parseJsonBody(data[0], text);
    } else if (data[0] < 0xf8) {
      gceFilter(text);
    } else {
      gceBatch(text);
    }
  } catch (const vpcd::DomainError&) {
  } catch (const vpcd::gce::GceError&) {
  }
  return 0;
}
