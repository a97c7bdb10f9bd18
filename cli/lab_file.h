#pragma once
// Lab files: YAML or JSON read into the JSON the API takes, and a lab
// document written back as YAML (what `lab export` prints).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace vpcctl {

struct LabFile {
  std::string path;
  std::string text;
  nlohmann::json document;
};

// Throws std::runtime_error naming the file and, for YAML, line and column.
LabFile readLabFile(const std::string& path);
// "FILE:LINE:COL" of the value at a field path of the API's errors
// ("vpcs[1].subnets[0].cidr"), when the file is YAML and the path is in it.
std::optional<std::string> locate(const LabFile& file, const std::string& fieldPath);
// YAML whose strings that would read back as another type are quoted.
std::string toYaml(const nlohmann::json& document);

}  // namespace vpcctl
