#pragma once
// Lists as the Compute Engine API answers them: `filter=` as gcloud sends
// it, pages of `maxResults` with `nextPageToken`/`pageToken`, and
// aggregated lists keyed by scope.
#include <regex.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vpcd::gce {

using Query = std::map<std::string, std::string>;

// `FIELD eq|ne VALUE`, or several such terms each in parentheses, one after
// the other, all of which must hold: `(name eq ".*\bn1\b.*")(mtu eq 1460)`.
// A quoted value is a regular expression (RE2 syntax as in GCE, matched as
// POSIX extended: see listing.cpp) matched against the whole field;
// a bare one a literal (true, false, a number, a word). A field may be a
// path (`routingConfig.routingMode`); a list field matches when any element
// does; a missing field equals nothing.
class Filter {
 public:
  // Throws GceError (400, field 'filter') for what is not such an expression.
  static Filter parse(const std::string& text);
  bool matches(const nlohmann::json& resource) const;
  bool empty() const { return terms_.empty(); }

 private:
  struct Term {
    std::vector<std::string> path;
    bool equal = true;
    std::shared_ptr<const regex_t> pattern;  // POSIX extended, anchored
  };
  std::vector<Term> terms_;
};

// The `items` of a list after `filter=`, the page `pageToken` and
// `maxResults` (1–500, default 500) ask for, and `nextPageToken` while more
// remain. Throws GceError for a bad maxResults or pageToken.
nlohmann::json listPage(const std::vector<nlohmann::json>& items, const Query& q,
                        const std::string& kind, const std::string& selfLink);

// An aggregated list: every scope ("zones/us-central1-a") with its items
// under `collection`, or a NO_RESULTS_ON_PAGE warning; paged over scopes.
nlohmann::json aggregatedPage(
    const std::vector<std::pair<std::string, std::vector<nlohmann::json>>>& scopes,
    const std::string& collection, const Query& q, const std::string& kind,
    const std::string& selfLink);

}  // namespace vpcd::gce
