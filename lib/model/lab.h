#pragma once
// A lab's own record in the desired state: its name and the document as it
// was last applied (docs/labs.md). The objects it made carry its name in
// their `lab` field; lib/model/lab_document.h turns a document into changes.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vpcd {

struct Lab {
  std::string name;
  nlohmann::json document;  // as applied, with its name
  int64_t createdAt = 0;    // unix seconds
  int64_t appliedAt = 0;
  bool operator==(const Lab&) const = default;
};

nlohmann::json toState(const Lab& lab);
Lab labFromState(const nlohmann::json& state);

}  // namespace vpcd
