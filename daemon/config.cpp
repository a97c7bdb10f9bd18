#include "daemon/config.h"

#include <stdexcept>

namespace vpcd {

Cidr parseTransitPool(const std::string& text) {
  auto pool = Cidr::parse(text);
  if (!pool || !pool->isNetwork()) {
    throw std::invalid_argument("--transit-pool: \"" + text +
                                "\" is not an IPv4 network (a.b.c.d/n)");
  }
  if (pool->prefix > 30) {
    throw std::invalid_argument("--transit-pool: " + text +
                                " is smaller than one /30 transit link");
  }
  return *pool;
}

}  // namespace vpcd
