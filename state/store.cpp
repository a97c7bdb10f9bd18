#include "state/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lib/model/api_error.h"

namespace vpcd {
namespace {

std::string errnoText() {
  return std::strerror(errno);
}

void makeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw StateError("cannot create state directory " + path + ": " + errnoText());
  }
}

std::string parentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

void writeFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!f) throw StateError("cannot write " + tmp + ": " + errnoText());
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(f.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw StateError("cannot write " + tmp + ": " + errnoText());
    done += static_cast<size_t>(n);
  }
  if (::fsync(f.get()) != 0) throw StateError("cannot fsync " + tmp + ": " + errnoText());
  f = Fd();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw StateError("cannot rename " + tmp + " to " + path + ": " + errnoText());
  }
  // The rename is durable only once the directory entry is.
  Fd dir(::open(parentOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
}

StateStore::StateStore(std::string dir) : dir_(std::move(dir)) {
  makeDir(dir_);
  makeDir(dir_ + "/vpcs");
  makeDir(dir_ + "/peerings");
  makeDir(dir_ + "/policies");
  makeDir(dir_ + "/instances");
  makeDir(dir_ + "/serial");
}

void StateStore::lock() {
  std::string path = dir_ + "/vpcd.lock";
  lock_ = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_) throw StateError("cannot open lock file " + path + ": " + errnoText());
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(lock_.get(), buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    throw StateError("state directory " + dir_ + " is in use by another vpcd (pid " + holder + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.get(), 0) != 0 || ::pwrite(lock_.get(), pid.data(), pid.size(), 0) < 0) {
    throw StateError("cannot write lock file " + path + ": " + errnoText());
  }
}

std::vector<std::pair<std::string, nlohmann::json>> StateStore::load(
    const std::string& kind) const {
  std::string dirPath = dir_ + "/" + kind;
  DIR* dir = ::opendir(dirPath.c_str());
  if (!dir) throw StateError("cannot read " + dirPath + ": " + errnoText());
  std::vector<std::string> files;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.ends_with(".json")) files.push_back(dirPath + "/" + name);
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, nlohmann::json>> out;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    try {
      auto doc = nlohmann::json::parse(text.str());
      int version = doc.at("schema_version").get<int>();
      if (version > kSchemaVersion) {
        throw StateError(file + ": schema_version " + std::to_string(version) +
                         " is newer than this vpcd understands (" + std::to_string(kSchemaVersion) +
                         "); refusing to guess");
      }
      out.emplace_back(file, doc);
    } catch (const StateError&) {
      throw;
    } catch (const std::exception& e) {
      throw StateError(file + ": " + e.what());
    }
  }
  return out;
}

namespace {

// Each document's `key` object made a value by `fn`; a failure names the file.
template <typename Fn>
auto parseEach(const std::vector<std::pair<std::string, nlohmann::json>>& docs,
               const std::string& key, Fn&& fn) {
  std::vector<decltype(fn(nlohmann::json()))> out;
  for (const auto& [file, doc] : docs) {
    try {
      out.push_back(fn(doc.at(key)));
    } catch (const std::exception& e) {
      throw StateError(file + ": " + e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<Vpc> StateStore::loadVpcs() const {
  return parseEach(load("vpcs"), "vpc", fromState);
}

std::vector<Peering> StateStore::loadPeerings() const {
  return parseEach(load("peerings"), "peering", fromPeeringState);
}

std::vector<Policy> StateStore::loadPolicies() const {
  return parseEach(load("policies"), "policy", fromPolicyState);
}

std::vector<Instance> StateStore::loadInstances() const {
  return parseEach(load("instances"), "instance", instanceFromState);
}

void StateStore::saveInstance(const Instance& i) const {
  save("instances", i.name, toState(i));
}

void StateStore::save(const std::string& kind, const std::string& name, nlohmann::json body) const {
  std::string singular = kind == "policies" ? "policy" : kind.substr(0, kind.size() - 1);
  // Built by assignment: an initializer list would copy the body.
  nlohmann::json doc = nlohmann::json::object();
  doc["schema_version"] = kSchemaVersion;
  doc["kind"] = singular;
  doc[singular] = std::move(body);
  writeFileAtomic(path(kind, name), doc.dump(2) + "\n");
}

void StateStore::saveVpc(const Vpc& vpc) const {
  save("vpcs", vpc.name, toState(vpc));
}
void StateStore::savePeering(const Peering& p) const {
  save("peerings", p.name, toState(p));
}
void StateStore::savePolicy(const Policy& p) const {
  save("policies", p.name, toState(p));
}

void StateStore::remove(const std::string& kind, const std::string& name) const {
  std::string file = path(kind, name);
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    throw StateError("cannot remove " + file + ": " + errnoText());
  }
  Fd dir(::open((dir_ + "/" + kind).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
}

}  // namespace vpcd
