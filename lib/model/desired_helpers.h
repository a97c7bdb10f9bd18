#pragma once
// What the files implementing DesiredState (desired_state.cpp,
// desired_instances.cpp, …) share; not for use outside lib/model.
#include <memory>
#include <string>
#include <vector>

#include "lib/model/desired_state.h"
#include "lib/model/error.h"

namespace vpcd::desired {

// The value put into its table under its own name, as a new shared object.
template <typename T>
void put(Table<T>& table, T value) {
  std::string name = value.name;
  table[name] = std::make_shared<const T>(std::move(value));
}

inline std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// A NIC (or instance) that a port forward leads to goes only after the
// forward: the forward would otherwise lead nowhere.
inline void requireNoForwards(const std::vector<std::string>& forwards, const std::string& what) {
  if (forwards.empty()) return;
  throw DomainError::conflict(what + " is the target of port forwards (" + joined(forwards) +
                              "); delete them first");
}

}  // namespace vpcd::desired
