#pragma once
// The bearer token of the TCP listener (--listen): what a client must send
// as `Authorization: Bearer <token>`. Whoever holds it may do what the API
// group's members may (everything), as the socket's group membership does.
#include <string>
#include <string_view>

namespace vpcd {

// The token in `path`, created first if missing: 32 random bytes as 64 hex
// digits and a newline, mode 0640, owned by root and `group` (when it
// exists), so that the group's members can hand it to gcloud or a browser.
// Throws std::invalid_argument when the file is empty or readable by
// others than its owner and group (a token everyone can read is none).
std::string loadOrCreateToken(const std::string& path, const std::string& group);

// Whether `offered` is the token, in time that depends on the token's
// length only, not on where a guess first differs.
bool tokenMatches(std::string_view offered, std::string_view token);

// "ADDR:PORT" or "[ADDR6]:PORT" -> address and port; throws
// std::invalid_argument naming --listen.
struct ListenAddress {
  std::string address;
  unsigned short port = 0;
};
ListenAddress parseListen(const std::string& text);

}  // namespace vpcd
