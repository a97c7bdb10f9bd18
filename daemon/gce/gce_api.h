#pragma once
// The Compute Engine API (compute/v1) over vpcd's objects, for the real
// gcloud CLI and other GCE clients: /compute/v1/projects/{project}/…, the
// batch endpoint /batch/compute/v1 (multipart/mixed, as gcloud sends
// several requests at once) and /compute/health. Answers in GCE's shapes:
// resources with selfLinks on the base the client used (its Host header),
// lists with filter= and pages, Google's error body. What it serves so far
// is docs/gce.md's; the rest answers 404 saying so.
#include <string>

#include "daemon/api.h"

namespace vpcd::gce {

class GceApi {
 public:
  // Whether a request target is this API's.
  static bool serves(const std::string& target);
  HttpResponse handle(const HttpRequest& request) const;

 private:
  HttpResponse one(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& base) const;
  HttpResponse batch(const HttpRequest& request) const;
};

}  // namespace vpcd::gce
