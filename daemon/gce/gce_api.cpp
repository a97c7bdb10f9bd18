#include "daemon/gce/gce_api.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/gce/catalog.h"
#include "daemon/gce/errors.h"
#include "daemon/gce/listing.h"
#include "daemon/http_error.h"
#include "lib/model/names.h"

namespace vpcd::gce {
namespace {

using nlohmann::json;

// GCE gives its catalog (regions, zones, machine types) this time.
constexpr const char* kCatalogTime = "1969-12-31T16:00:00.000-08:00";

struct Where {
  std::string base;     // "http://127.0.0.1:8787/compute/v1/"
  std::string project;  // "lab"
  std::string path(const std::string& rest) const { return "projects/" + project + "/" + rest; }
  std::string link(const std::string& rest) const { return base + path(rest); }
};

json region(const Where& w, const std::string& r) {
  json zones = json::array();
  for (const auto& z : zonesOf(r)) zones.push_back(w.link("zones/" + z));
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return {{"kind", "compute#region"},
          {"id", idOf(w.path("regions/" + r))},
          {"creationTimestamp", kCatalogTime},
          {"name", r},
          {"description", r},
          {"status", "UP"},
          {"zones", zones},
          // What instances here share is this host's CPUs.
          {"quotas", {{{"metric", "CPUS"}, {"limit", cpus}, {"usage", 0}}}},
          {"selfLink", w.link("regions/" + r)}};
}

json zone(const Where& w, const std::string& z) {
  return {{"kind", "compute#zone"},
          {"id", idOf(w.path("zones/" + z))},
          {"creationTimestamp", kCatalogTime},
          {"name", z},
          {"description", z},
          {"status", "UP"},
          {"region", w.link("regions/" + regionOfZone(z))},
          {"selfLink", w.link("zones/" + z)}};
}

json machineType(const Where& w, const std::string& z, const MachineType& m) {
  std::string gb = m.memoryMb % 1024 == 0 ? std::to_string(m.memoryMb / 1024)
                                          : std::to_string(m.memoryMb / 1024.0).substr(0, 4);
  std::string rest = "zones/" + z + "/machineTypes/" + m.name;
  return {{"kind", "compute#machineType"},
          {"id", idOf(w.path(rest))},
          {"creationTimestamp", kCatalogTime},
          {"name", m.name},
          {"description", std::to_string(m.guestCpus) + " vCPUs, " + gb + " GB RAM"},
          {"guestCpus", m.guestCpus},
          {"memoryMb", m.memoryMb},
          {"imageSpaceGb", 0},
          {"maximumPersistentDisks", m.sharedCpu ? 16 : 128},
          {"maximumPersistentDisksSizeGb", m.sharedCpu ? "3072" : "263168"},
          {"isSharedCpu", m.sharedCpu},
          {"zone", z},
          {"selfLink", w.link(rest)}};
}

std::vector<json> machineTypesIn(const Where& w, const std::string& z) {
  std::vector<json> out;
  for (const auto& m : machineTypes()) out.push_back(machineType(w, z, m));
  return out;
}

GceError notServed(const Where& w, const std::string& rest) {
  return {404, "notFound",
          "The resource '" + w.path(rest) +
              "' was not found: vpcd serves projects, regions, zones, machine types and "
              "operations of the Compute Engine API so far (docs/gce.md)"};
}

const std::string& requireZone(const Where& w, const std::string& z) {
  if (regionOfZone(z).empty()) throw GceError::notFound(w.path("zones/" + z));
  return z;
}

const std::string& requireRegion(const Where& w, const std::string& r) {
  if (!isRegion(r)) throw GceError::notFound(w.path("regions/" + r));
  return r;
}

// Operations: every one vpcd has made so far (none: nothing here mutates
// yet) — a name asked for is not found, in any scope.
json operations(const Where& w, const std::vector<std::string>& seg, size_t at,
                const std::string& scope, const std::string& method, const Query& q) {
  if (seg.size() == at) {
    if (method != "GET") throw GceError::badRequest("Operations are listed with GET.");
    return listPage({}, q, "compute#operationList", w.link(scope + "/operations"));
  }
  throw GceError::notFound(w.path(scope + "/operations/" + seg[at]));
}

json aggregated(const Where& w, const std::string& what, const Query& q) {
  std::vector<std::pair<std::string, std::vector<json>>> scopes;
  if (what == "machineTypes") {
    for (const auto& z : zonesOf()) scopes.push_back({"zones/" + z, machineTypesIn(w, z)});
    return aggregatedPage(scopes, "machineTypes", q, "compute#machineTypeAggregatedList",
                          w.link("aggregated/machineTypes"));
  }
  if (what == "operations") {
    scopes.push_back({"global", {}});
    for (const auto& r : regions()) scopes.push_back({"regions/" + r, {}});
    for (const auto& z : zonesOf()) scopes.push_back({"zones/" + z, {}});
    return aggregatedPage(scopes, "operations", q, "compute#operationAggregatedList",
                          w.link("aggregated/operations"));
  }
  throw notServed(w, "aggregated/" + what);
}

json route(const Where& w, const std::vector<std::string>& seg, const std::string& method,
           const Query& q) {
  // seg: what follows projects/{project}/
  auto get = [&] {
    if (method != "GET")
      throw GceError::badRequest("The method " + method + " is not allowed on " +
                                 w.path(seg.empty() ? "" : seg[0]) + ".");
  };
  if (seg.empty()) {
    get();
    return {{"kind", "compute#project"},
            {"id", idOf(w.path(""))},
            {"name", w.project},
            {"selfLink", w.base + "projects/" + w.project}};
  }
  const std::string& top = seg[0];
  if (top == "regions" && seg.size() == 1) {
    get();
    std::vector<json> items;
    for (const auto& r : regions()) items.push_back(region(w, r));
    return listPage(items, q, "compute#regionList", w.link("regions"));
  }
  if (top == "regions" && seg.size() == 2) {
    get();
    return region(w, requireRegion(w, seg[1]));
  }
  if (top == "regions" && seg.size() >= 3 && seg[2] == "operations")
    return operations(w, seg, 3, "regions/" + requireRegion(w, seg[1]), method, q);
  if (top == "zones" && seg.size() == 1) {
    get();
    std::vector<json> items;
    for (const auto& z : zonesOf()) items.push_back(zone(w, z));
    return listPage(items, q, "compute#zoneList", w.link("zones"));
  }
  if (top == "zones" && seg.size() == 2) {
    get();
    return zone(w, requireZone(w, seg[1]));
  }
  if (top == "zones" && seg.size() >= 3 && seg[2] == "machineTypes") {
    get();
    const std::string& z = requireZone(w, seg[1]);
    if (seg.size() == 3)
      return listPage(machineTypesIn(w, z), q, "compute#machineTypeList",
                      w.link("zones/" + z + "/machineTypes"));
    const MachineType* m = seg.size() == 4 ? findMachineType(seg[3]) : nullptr;
    if (!m) throw GceError::notFound(w.path("zones/" + z + "/machineTypes/" + seg[3]));
    return machineType(w, z, *m);
  }
  if (top == "zones" && seg.size() >= 3 && seg[2] == "operations")
    return operations(w, seg, 3, "zones/" + requireZone(w, seg[1]), method, q);
  if (top == "global" && seg.size() >= 2 && seg[1] == "operations")
    return operations(w, seg, 2, "global", method, q);
  if (top == "aggregated" && seg.size() == 2) {
    get();
    return aggregated(w, seg[1], q);
  }
  std::string rest;
  for (const auto& s : seg) rest += (rest.empty() ? "" : "/") + s;
  throw notServed(w, rest);
}

// One part of a multipart body: its headers, then what follows the blank line.
struct Part {
  std::string contentId;
  std::string payload;
};

std::string boundaryOf(const std::string& contentType) {
  size_t at = contentType.find("boundary=");
  if (at == std::string::npos) return "";
  std::string b = contentType.substr(at + 9);
  if (size_t semi = b.find(';'); semi != std::string::npos) b = b.substr(0, semi);
  if (b.size() >= 2 && b.front() == '"' && b.back() == '"') b = b.substr(1, b.size() - 2);
  return b;
}

// Where the header block that starts at `from` ends, and where what follows starts.
std::pair<size_t, size_t> headerEnd(const std::string& text, size_t from) {
  size_t crlf = text.find("\r\n\r\n", from), lf = text.find("\n\n", from);
  if (crlf != std::string::npos && (lf == std::string::npos || crlf < lf)) return {crlf, crlf + 4};
  if (lf != std::string::npos) return {lf, lf + 2};
  return {std::string::npos, std::string::npos};
}

std::string headerValue(const std::string& headers, const std::string& name) {
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t eol = headers.find('\n', pos);
    std::string line =
        headers.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon != std::string::npos && colon == name.size() &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      size_t v = line.find_first_not_of(' ', colon + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
    if (eol == std::string::npos) break;
    pos = eol + 1;
  }
  return "";
}

std::vector<Part> partsOf(const std::string& body, const std::string& boundary) {
  std::vector<Part> out;
  std::string delimiter = "--" + boundary;
  size_t pos = body.find(delimiter);
  while (pos != std::string::npos) {
    size_t start = pos + delimiter.size();
    if (body.compare(start, 2, "--") == 0) break;  // the closing delimiter
    size_t next = body.find(delimiter, start);
    if (next == std::string::npos) break;
    std::string part = body.substr(start, next - start);
    auto [end, payload] = headerEnd(part, 0);
    if (end != std::string::npos) {
      std::string payloadText = part.substr(payload);
      while (!payloadText.empty() && (payloadText.back() == '\n' || payloadText.back() == '\r'))
        payloadText.pop_back();
      out.push_back({headerValue(part.substr(0, end), "Content-ID"), payloadText});
    }
    pos = next;
  }
  return out;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    default:
      return "Error";
  }
}

}  // namespace

bool GceApi::serves(const std::string& target) {
  return target.rfind("/compute/", 0) == 0 || target.rfind("/batch/compute/v1", 0) == 0;
}

HttpResponse GceApi::handle(const HttpRequest& request) const {
  std::string base = "http://" + (request.host.empty() ? "vpcd" : request.host) + "/compute/v1/";
  if (request.target.rfind("/batch/compute/v1", 0) == 0) return batch(request);
  return one(request.method, request.target, request.body, base);
}

HttpResponse GceApi::one(const std::string& method, const std::string& target, const std::string&,
                         const std::string& base) const {
  try {
    auto seg = segments(target);
    Query q = queryOf(target);
    if (seg.size() == 2 && seg[1] == "health") {
      json health{{"service", "compute-engine"},
                  {"status", "healthy"},
                  {"api", "compute/v1"},
                  {"served", {"regions", "zones", "machineTypes", "operations"}}};
      return {200, bodyText(health) + "\n"};
    }
    if (seg.size() < 4 || seg[1] != "v1" || seg[2] != "projects")
      throw GceError::notFound(target.substr(0, target.find('?')));
    if (!isLabel(seg[3]))
      throw GceError::invalid("project", seg[3],
                              "A project is a lowercase RFC 1035 label: letters, digits and '-'.");
    Where w{base, seg[3]};
    json out = route(w, {seg.begin() + 4, seg.end()}, method, q);
    return {200, bodyText(out) + "\n"};
  } catch (const GceError& e) {
    return {e.code(), bodyText(e.body()) + "\n"};
  }
}

HttpResponse GceApi::batch(const HttpRequest& request) const {
  std::string base = "http://" + (request.host.empty() ? "vpcd" : request.host) + "/compute/v1/";
  std::string boundary = boundaryOf(request.contentType);
  if (request.method != "POST" || boundary.empty()) {
    GceError e = GceError::badRequest(
        "A batch is a POST of multipart/mixed parts, each an HTTP request (application/http).");
    return {400, bodyText(e.body()) + "\n"};
  }
  std::string out;
  std::string answerBoundary = "batch_vpcd_" + idOf(request.body);
  for (const auto& part : partsOf(request.body, boundary)) {
    // "POST /compute/v1/… HTTP/1.1", its headers, its body.
    size_t eol = part.payload.find('\n');
    std::string line = part.payload.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    HttpResponse r;
    if (sp1 == std::string::npos || sp2 <= sp1) {
      GceError e = GceError::badRequest("A batch part is not an HTTP request: " + line);
      r = {400, bodyText(e.body()) + "\n"};
    } else {
      auto [end, bodyAt] = headerEnd(part.payload, 0);
      std::string body = end == std::string::npos ? "" : part.payload.substr(bodyAt);
      r = one(line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1), body, base);
    }
    // apitools pairs answers with requests by what follows the last '+'.
    std::string id = part.contentId;
    if (id.size() >= 2 && id.front() == '<') id = "<response-" + id.substr(1);
    out += "--" + answerBoundary + "\r\nContent-Type: application/http\r\nContent-ID: " + id +
           "\r\n\r\nHTTP/1.1 " + std::to_string(r.status) + " " + reasonPhrase(r.status) +
           "\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: " +
           std::to_string(r.body.size()) + "\r\n\r\n" + r.body + "\r\n";
  }
  out += "--" + answerBoundary + "--\r\n";
  return {200, out, std::nullopt, std::nullopt, "multipart/mixed; boundary=" + answerBoundary};
}

}  // namespace vpcd::gce
