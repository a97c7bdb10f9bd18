#pragma once
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace vpcctl {

struct Column {
  std::string header;
  std::string key;  // field of each item
};

// Prints items as an aligned table with a header row.
void printTable(std::ostream& out, const nlohmann::json& items, const std::vector<Column>& columns);

// Prints one "label: value" line per column (labels lowercased, values
// aligned), for showing a single object.
void printFields(std::ostream& out, const nlohmann::json& item, const std::vector<Column>& columns);

// "enforced: yes (since …)" or "enforced: NO since … — <kernel error>":
// whether the kernel holds what the object asks for.
void printEnforcement(std::ostream& out, const nlohmann::json& item);
// The "impairments" of a subnet or an instance, as a table, when it has any.
void printImpairments(std::ostream& out, const nlohmann::json& item);

// A field as text: strings bare, numbers and the rest as JSON, null as "-".
std::string cell(const nlohmann::json& item, const std::string& key);

}  // namespace vpcctl
