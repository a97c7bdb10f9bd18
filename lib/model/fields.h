#pragma once
// Field checks shared by the request parsers; each failure is an
// DomainError (Invalid) naming the field by its path.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "lib/model/cidr.h"
#include "lib/model/error.h"

namespace vpcd {

// `body` is an object holding no field outside `allowed`.
void requireObject(const nlohmann::json& body, const std::set<std::string>& allowed);
std::string requireString(const nlohmann::json& body, const std::string& field);
// A network address (no host bits) with a prefix in [minPrefix, maxPrefix].
Cidr requireNetwork(const nlohmann::json& body, const std::string& field, int minPrefix,
                    int maxPrefix);
// The same for a value already in hand; `field` is its path, e.g. "allowed_cidrs.prod[1]".
Cidr parseNetwork(const nlohmann::json& value, const std::string& field, int minPrefix,
                  int maxPrefix);

// `body[field]` as an integer of type T: a JSON integer T can hold, or an
// Invalid error naming the field. nlohmann's own get<int>() of 2e55 is
// undefined behaviour (found by fuzz_files), and of a string it throws
// without saying where.
template <typename T>
T requireInteger(const nlohmann::json& body, const std::string& field) {
  const nlohmann::json& v = body.at(field);
  if (v.is_number_unsigned() && std::in_range<T>(v.get<uint64_t>()))
    return static_cast<T>(v.get<uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned() && std::in_range<T>(v.get<int64_t>()))
    return static_cast<T>(v.get<int64_t>());
  throw DomainError::invalid(field, "must be an integer from " +
                                        std::to_string(std::numeric_limits<T>::min()) + " to " +
                                        std::to_string(std::numeric_limits<T>::max()));
}
// The same, `fallback` when the field is absent.
template <typename T>
T integerOr(const nlohmann::json& body, const std::string& field, T fallback) {
  return body.contains(field) ? requireInteger<T>(body, field) : fallback;
}

// The lab that owns an object ("" when none): JSON null in the API, absent in
// a state file of an object made outside any lab.
nlohmann::json labJson(const std::string& lab);
std::string labFrom(const nlohmann::json& object);

}  // namespace vpcd
