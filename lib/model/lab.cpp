#include "lib/model/lab.h"

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"

namespace vpcd {

using nlohmann::json;

json toState(const Lab& lab) {
  return json{{"name", lab.name},
              {"document", lab.document},
              {"created_at", lab.createdAt},
              {"applied_at", lab.appliedAt}};
}

Lab labFromState(const json& state) {
  Lab lab{.name = state.at("name").get<std::string>(),
          .document = state.at("document"),
          .createdAt = integerOr<int64_t>(state, "created_at", 0),
          .appliedAt = integerOr<int64_t>(state, "applied_at", 0)};
  requireLabel("name", lab.name);
  if (!lab.document.is_object()) throw DomainError::invalid("document", "must be an object");
  return lab;
}

}  // namespace vpcd
