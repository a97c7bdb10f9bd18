#include "cli/output.h"

#include <algorithm>

namespace vpcctl {

std::string cell(const nlohmann::json& item, const std::string& key) {
  auto it = item.find(key);
  if (it == item.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) return std::to_string(it->size());
  return it->dump();
}

void printFields(std::ostream& out, const nlohmann::json& item,
                 const std::vector<Column>& columns) {
  size_t width = 0;
  for (const auto& c : columns) width = std::max(width, c.header.size() + 1);
  for (const auto& c : columns) {
    std::string label = c.header + ":";
    std::transform(label.begin(), label.end(), label.begin(), ::tolower);
    out << label << std::string(width + 1 - label.size(), ' ') << cell(item, c.key) << "\n";
  }
}

void printEnforcement(std::ostream& out, const nlohmann::json& item) {
  if (!item.contains("enforced")) return;
  const auto& e = item.value("enforcement", nlohmann::json::object());
  std::string since = e.contains("since") ? " since " + e["since"].get<std::string>() : "";
  if (item["enforced"].get<bool>()) {
    out << "enforced: yes" << since << "\n";
  } else {
    out << "enforced: NO" << since << ": " << e.value("error", std::string("unknown")) << "\n";
  }
}

void printTable(std::ostream& out, const nlohmann::json& items,
                const std::vector<Column>& columns) {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> width;
  for (const auto& c : columns) width.push_back(c.header.size());
  for (const auto& item : items) {
    std::vector<std::string> row;
    for (size_t i = 0; i < columns.size(); ++i) {
      row.push_back(cell(item, columns[i].key));
      width[i] = std::max(width[i], row.back().size());
    }
    rows.push_back(std::move(row));
  }
  auto line = [&](const std::vector<std::string>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      out << values[i];
      if (i + 1 < values.size()) out << std::string(width[i] - values[i].size() + 2, ' ');
    }
    out << "\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : columns) headers.push_back(c.header);
  line(headers);
  for (const auto& row : rows) line(row);
}

void printImpairments(std::ostream& out, const nlohmann::json& item) {
  if (!item.contains("impairments") || item["impairments"].empty()) return;
  out << "impairments:\n";
  printTable(out, item["impairments"],
             {{"NAME", "name"},
              {"DIRECTION", "direction"},
              {"EFFECT", "effect"},
              {"DOWN", "down"},
              {"ENABLED", "enabled"}});
}

}  // namespace vpcctl
