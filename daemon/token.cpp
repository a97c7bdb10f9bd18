#include "daemon/token.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lib/kernel/netns.h"

namespace vpcd {
namespace {

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  for (size_t got = 0; got < bytes;) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

void create(const std::string& path, const std::string& group) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) ::mkdir(dir.c_str(), 0755);
  // Born 0640 and root's, written once: no moment in which others read it.
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) {
    if (errno == EEXIST) return;  // another start made it meanwhile
    throw std::invalid_argument("token file " + path +
                                ": cannot be created: " + std::strerror(errno));
  }
  if (struct group* g = ::getgrnam(group.c_str())) {
    if (::fchown(fd.get(), 0, g->gr_gid) != 0)
      throw std::invalid_argument("token file " + path + ": cannot give it to group " + group +
                                  ": " + std::strerror(errno));
  }
  ::fchmod(fd.get(), 0640);  // whatever the umask took away from the group
  std::string line = randomHex(32) + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd.get()) != 0)
    throw std::invalid_argument("token file " + path +
                                ": cannot be written: " + std::strerror(errno));
}

}  // namespace

std::string loadOrCreateToken(const std::string& path, const std::string& group) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) create(path, group);
  if (::stat(path.c_str(), &st) != 0)
    throw std::invalid_argument("token file " + path + ": " + std::strerror(errno));
  if (st.st_mode & S_IROTH)
    throw std::invalid_argument("token file " + path + ": readable by everyone (mode 0" +
                                std::to_string((st.st_mode >> 6) & 7) +
                                std::to_string((st.st_mode >> 3) & 7) +
                                std::to_string(st.st_mode & 7) + "); make it 0640 or 0600");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) throw std::invalid_argument("token file " + path + ": is empty");
  if (token.find_first_of(" \t\r\n") != std::string::npos)
    throw std::invalid_argument("token file " + path + ": holds more than one word");
  return token;
}

bool tokenMatches(std::string_view offered, std::string_view token) {
  // Every byte of the token is compared, whatever the guess: the time says
  // nothing about how much of it was right.
  unsigned char diff = offered.size() == token.size() ? 0 : 1;
  for (size_t k = 0; k < token.size(); ++k) {
    unsigned char o = k < offered.size() ? static_cast<unsigned char>(offered[k]) : 0;
    diff |= o ^ static_cast<unsigned char>(token[k]);
  }
  return diff == 0;
}

ListenAddress parseListen(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("--listen: \"" + text + "\" " + why +
                                 " (ADDR:PORT, e.g. 127.0.0.1:8787 or [::1]:8787)");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("has no port");
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (ec) throw bad("is not an IP address and port");
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
    throw bad("has no port from 1 to 65535");
  return {address.to_string(), static_cast<unsigned short>(std::stoi(port))};
}

}  // namespace vpcd
