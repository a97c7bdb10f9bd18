#pragma once
// Field checks shared by the request parsers; each failure is an
// DomainError (Invalid) naming the field by its path.
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "lib/model/cidr.h"

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

// The lab that owns an object ("" when none): JSON null in the API, absent in
// a state file of an object made outside any lab.
nlohmann::json labJson(const std::string& lab);
std::string labFrom(const nlohmann::json& object);

}  // namespace vpcd
