#pragma once
// Prometheus metrics, served at GET /v1/metrics (docs/operations.md). Two
// kinds: what the daemon counts as it goes (API requests, reconcile passes,
// drift repairs, uplink moves), kept in a registry for the daemon's life;
// and what is read when scraped (objects by kind, kernel mutations, policy
// rule counters, commands), built fresh for each scrape from the desired
// state and the kernel, so that nothing can drift from what it reports.
#include <memory>
#include <set>
#include <string>

namespace prometheus {
class Registry;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace vpcd {

class Services;

// The route of a request target, its names replaced, so that a label has a
// bounded set of values: "/v1/vpcs/prod/subnets/web?x=1" ->
// "/v1/vpcs/{}/subnets/{}"; a target outside the API is "other".
std::string routeOf(const std::string& target);

class Metrics {
 public:
  explicit Metrics(Services& services);
  ~Metrics();

  void request(const std::string& method, const std::string& target, int status, double seconds);
  // A reconcile pass: trigger is "start", "request" or "drift".
  void pass(const std::string& trigger, bool ok, double seconds);
  // A drift pass changed the kernel under these namespaces.
  void repaired(const std::set<std::string>& namespaces);

  // Every metric in the text exposition format (version 0.0.4).
  std::string scrape();

 private:
  Services& s_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& requestSeconds_;
  prometheus::Family<prometheus::Counter>& passes_;
  prometheus::Family<prometheus::Histogram>& passSeconds_;
  prometheus::Family<prometheus::Counter>& repairs_;
};

}  // namespace vpcd
