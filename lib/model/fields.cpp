#include "lib/model/fields.h"

#include "lib/model/error.h"
#include "lib/model/names.h"

namespace vpcd {

using nlohmann::json;

void requireObject(const json& body, const std::set<std::string>& allowed) {
  if (!body.is_object()) throw DomainError::invalid("", "request body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (!allowed.count(key)) throw DomainError::invalid(key, "unknown field");
  }
}

std::string requireString(const json& body, const std::string& field) {
  auto it = body.find(field);
  if (it == body.end()) throw DomainError::invalid(field, "is required");
  if (!it->is_string()) throw DomainError::invalid(field, "must be a string");
  return it->get<std::string>();
}

Cidr requireNetwork(const json& body, const std::string& field, int minPrefix, int maxPrefix) {
  auto it = body.find(field);
  if (it == body.end()) throw DomainError::invalid(field, "is required");
  return parseNetwork(*it, field, minPrefix, maxPrefix);
}

Cidr parseNetwork(const json& value, const std::string& field, int minPrefix, int maxPrefix) {
  if (!value.is_string()) throw DomainError::invalid(field, "must be a string");
  std::string text = value.get<std::string>();
  auto cidr = Cidr::parse(text);
  if (!cidr) throw DomainError::invalid(field, "\"" + text + "\" is not an IPv4 CIDR (a.b.c.d/n)");
  if (!cidr->isNetwork()) {
    throw DomainError::invalid(field,
                               "\"" + text + "\" has host bits set; the network address is " +
                                   cidr->network().str() + "/" + std::to_string(cidr->prefix));
  }
  if (cidr->prefix < minPrefix || cidr->prefix > maxPrefix) {
    throw DomainError::invalid(field, "prefix /" + std::to_string(cidr->prefix) + " is outside /" +
                                          std::to_string(minPrefix) + "–/" +
                                          std::to_string(maxPrefix));
  }
  return *cidr;
}

json labJson(const std::string& lab) {
  return lab.empty() ? json() : json(lab);
}

std::string labFrom(const json& object) {
  auto it = object.find("lab");
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) throw DomainError::invalid("lab", "must be a string or null");
  std::string lab = it->get<std::string>();
  requireLabel("lab", lab);
  return lab;
}

}  // namespace vpcd
