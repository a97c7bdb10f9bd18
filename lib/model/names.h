#pragma once
// Naming rules: user-facing names, and the kernel names derived from them.
// Every derived name is a pure function of the user's names, so the daemon can
// find its own objects again after a restart (design.md §1 Names).
#include <string>
#include <string_view>

namespace vpcd {

inline constexpr size_t kMaxLabel = 63;
inline constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

// RFC 1035 label: [a-z]([-a-z0-9]{0,61}[a-z0-9])?
bool isLabel(std::string_view name);

// Throws ApiError(400) naming `field` when `name` is not a label.
void requireLabel(std::string_view field, std::string_view name);

std::string routerNamespace(std::string_view vpc);
std::string subnetNamespace(std::string_view vpc, std::string_view subnet);

// `prefix` + `name` when it fits IFNAMSIZ; otherwise the name is cut and a
// stable hash of the whole name follows an underscore. Labels never contain
// '_', so a shortened name can never equal another object's unshortened one.
std::string interfaceName(std::string_view prefix, std::string_view name);

// 24-bit FNV-1a of `text`, as six lowercase hex digits.
std::string shortHash(std::string_view text);

}  // namespace vpcd
