#include "state/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"

namespace vpcd {
namespace {

// A failed system call on `what`: the message with errno's words, and errno.
[[noreturn]] void fail(const std::string& what) {
  int err = errno;
  throw StateError(what + ": " + std::strerror(err), err);
}

void makeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    fail("cannot create state directory " + path);
  }
}

std::string parentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

constexpr const char* kJournal = "journal.json";

// `content` in `path`.tmp, durable when `sync`; returns that name. On any
// failure (a full disk: ENOSPC) the temporary file is gone again and `path`
// untouched.
std::string writeTemp(const std::string& path, const std::string& content, bool sync) {
  std::string tmp = path + ".tmp";
  Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!f) fail("cannot write " + tmp);
  try {
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(f.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("cannot write " + tmp);
      done += static_cast<size_t>(n);
    }
    if (sync && ::fsync(f.get()) != 0) fail("cannot fsync " + tmp);
  } catch (const StateError&) {
    ::unlink(tmp.c_str());
    throw;
  }
  return tmp;
}

void install(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path);
}

void writeWhole(const std::string& path, const std::string& content, bool sync) {
  install(writeTemp(path, content, sync), path);
}

void syncDir(const std::string& path) {
  Fd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
}

void removeFile(const std::string& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    fail("cannot remove " + file);
  }
}

}  // namespace

void writeFileAtomic(const std::string& path, const std::string& content) {
  writeWhole(path, content, true);
  // The rename is durable only once the directory entry is.
  syncDir(parentOf(path));
}

StateStore::StateStore(std::string dir) : dir_(std::move(dir)) {
  makeDir(dir_);
  makeDir(dir_ + "/vpcs");
  makeDir(dir_ + "/peerings");
  makeDir(dir_ + "/policies");
  makeDir(dir_ + "/instances");
  makeDir(dir_ + "/labs");
  makeDir(dir_ + "/port-forwards");
  makeDir(dir_ + "/impairments");
  makeDir(dir_ + "/flow-logs");
  makeDir(dir_ + "/serial");
  makeDir(dir_ + "/flow-records");
  makeDir(dir_ + "/subnets");
}

void StateStore::lock() {
  std::string path = dir_ + "/vpcd.lock";
  lock_ = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_) fail("cannot open lock file " + path);
  // The lock belongs to the open file, which a child forked by the last
  // daemon shares until it execs or closes it. So while the pid in the file
  // is gone, the holder is such a child in its first moments: wait for it
  // (up to 2 s). A live holder is another daemon: refused at once.
  for (int tries = 0; ::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0; ++tries) {
    char buf[32] = {};
    ssize_t n = ::pread(lock_.get(), buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    int pid = std::atoi(holder.c_str());
    bool gone = pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (!gone || tries >= 200)
      throw StateError("state directory " + dir_ + " is in use by another vpcd (pid " + holder +
                       ")");
    ::usleep(10000);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.get(), 0) != 0 || ::pwrite(lock_.get(), pid.data(), pid.size(), 0) < 0) {
    fail("cannot write lock file " + path);
  }
}

namespace {

// The object a file is named for: "vpcs/prod.json" -> prod.
std::string stemOf(const std::string& file) {
  size_t slash = file.rfind('/');
  return file.substr(slash + 1, file.size() - slash - 6);
}

// What a file's place in the state directory says it holds: "vpcs/prod.json"
// is vpc prod, "subnets/prod/web.json" a part of vpc prod.
StateDamage damageOf(const std::string& kind, const std::string& file, const std::string& error) {
  static const std::map<std::string, std::string> kinds = {{"vpcs", "vpc"},
                                                           {"peerings", "peering"},
                                                           {"policies", "policy"},
                                                           {"instances", "instance"},
                                                           {"labs", "lab"},
                                                           {"port-forwards", "port_forward"},
                                                           {"impairments", "impairment"},
                                                           {"flow-logs", "flow_log"}};
  StateDamage d{.file = file, .error = error};
  if (kind.starts_with("subnets/")) {
    d.kind = "vpc";
    d.name = kind.substr(8);
  } else {
    d.kind = kinds.count(kind) ? kinds.at(kind) : kind;
    d.name = stemOf(file);
  }
  return d;
}

}  // namespace

std::vector<std::pair<std::string, nlohmann::json>> StateStore::load(
    const std::string& kind, std::vector<StateDamage>* damage) const {
  std::string dirPath = dir_ + "/" + kind;
  DIR* dir = ::opendir(dirPath.c_str());
  if (!dir && errno == ENOENT && kind.starts_with("subnets/")) return {};
  if (!dir) fail("cannot read " + dirPath);
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
    std::optional<nlohmann::json> parsed;
    try {
      if (!in) fail("cannot read " + file);
      auto doc = nlohmann::json::parse(text.str());
      parsed = doc;
      int version = requireInteger<int>(doc, "schema_version");
      if (version > kSchemaVersion) {
        throw StateError(file + ": schema_version " + std::to_string(version) +
                         " is newer than this vpcd understands (" + std::to_string(kSchemaVersion) +
                         "); refusing to guess");
      }
      out.emplace_back(file, doc);
    } catch (const std::exception& e) {
      std::string error = dynamic_cast<const StateError*>(&e) ? e.what() : file + ": " + e.what();
      if (!damage) throw StateError(error);
      damage->push_back(damageOf(kind, file, error));
      damage->back().doc = std::move(parsed);
    }
  }
  return out;
}

void StateStore::Batch::put(const std::string& path, const std::string& kind, nlohmann::json body) {
  // Built by assignment: an initializer list would copy the body.
  nlohmann::json doc = nlohmann::json::object();
  doc["schema_version"] = kSchemaVersion;
  doc["kind"] = kind;
  doc[kind] = std::move(body);
  writes[path] = doc.dump(2) + "\n";
  removes.erase(path);
}

namespace {

// Performs a journal's writes and removes (each idempotent), then makes them
// durable with one syncfs of the state directory's filesystem.
// Thrown by perform() when nothing was changed yet (every new file is
// written to a temporary first, and a full disk fails there).
struct NothingChanged {
  StateError error;
};

// Whether `path` (relative to the state directory) is a place vpcd writes
// state: "<kind>/<name>.json" or "subnets/<vpc>/<subnet>.json", names being
// labels. A journal naming anything else (an edit by hand, "../x") is not
// replayed: a root daemon must not write where a file tells it to.
bool isStatePath(const std::string& path) {
  static const std::set<std::string> kinds = {"vpcs", "peerings",      "policies",    "instances",
                                              "labs", "port-forwards", "impairments", "flow-logs"};
  if (!path.ends_with(".json")) return false;
  std::vector<std::string> parts;
  for (size_t at = 0, slash; at <= path.size(); at = slash + 1) {
    slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(at, slash - at));
  }
  parts.back().resize(parts.back().size() - 5);  // ".json"
  if (parts.size() == 2) return kinds.count(parts[0]) && isLabel(parts[1]);
  return parts.size() == 3 && parts[0] == "subnets" && isLabel(parts[1]) && isLabel(parts[2]);
}

void perform(const std::string& dir, const nlohmann::json& journal) {
  std::vector<std::pair<std::string, std::string>> staged;  // tmp, path
  try {
    for (const auto& [path, content] : journal.at("writes").items()) {
      makeDir(parentOf(dir + "/" + path));
      std::string file = dir + "/" + path;
      staged.emplace_back(writeTemp(file, content.get<std::string>(), false), file);
    }
  } catch (const StateError& e) {
    for (const auto& [tmp, path] : staged) ::unlink(tmp.c_str());
    throw NothingChanged{e};
  }
  for (const auto& [tmp, path] : staged) install(tmp, path);
  for (const auto& path : journal.at("removes")) {
    std::string file = dir + "/" + path.get<std::string>();
    removeFile(file);
    // A VPC's subnet directory goes with its last subnet file.
    if (file.find("/subnets/") != std::string::npos) ::rmdir(parentOf(file).c_str());
  }
  Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root || ::syncfs(root.get()) != 0) fail("cannot sync " + dir);
}

}  // namespace

void StateStore::write(const Batch& batch) const {
  if (batch.writes.empty() && batch.removes.empty()) return;
  if (batch.writes.size() + batch.removes.size() == 1) {
    // One file: its own atomic replacement is all or nothing already.
    if (!batch.writes.empty()) {
      const auto& [path, content] = *batch.writes.begin();
      makeDir(parentOf(path));
      writeFileAtomic(path, content);
    } else {
      const std::string& file = *batch.removes.begin();
      removeFile(file);
      if (file.find("/subnets/") != std::string::npos) ::rmdir(parentOf(file).c_str());
      syncDir(parentOf(file));
    }
    return;
  }
  // Several files: the journal holds them all and is durable before any of
  // them is touched; it goes only once they all are.
  nlohmann::json journal{{"schema_version", kSchemaVersion},
                         {"writes", nlohmann::json::object()},
                         {"removes", nlohmann::json::array()}};
  size_t cut = dir_.size() + 1;
  for (const auto& [path, content] : batch.writes) journal["writes"][path.substr(cut)] = content;
  for (const auto& path : batch.removes) journal["removes"].push_back(path.substr(cut));
  writeFileAtomic(dir_ + "/" + kJournal, journal.dump() + "\n");
  try {
    perform(dir_, journal);
  } catch (const NothingChanged& nothing) {
    // Not a half-done change for a restart to finish: the request failed.
    removeFile(dir_ + "/" + kJournal);
    syncDir(dir_);
    throw nothing.error;
  }
  removeFile(dir_ + "/" + kJournal);
  syncDir(dir_);
}

void StateStore::replayJournal() const {
  std::string path = dir_ + "/" + kJournal;
  std::ifstream in(path);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  try {
    auto journal = nlohmann::json::parse(text.str());
    std::vector<std::string> paths;
    for (const auto& [file, content] : journal.at("writes").items()) paths.push_back(file);
    for (const auto& file : journal.at("removes")) paths.push_back(file.get<std::string>());
    for (const auto& file : paths) {
      if (!isStatePath(file))
        throw StateError(path + ": names " + file + ", which is no state file; not replayed");
    }
    perform(dir_, journal);
  } catch (const NothingChanged& nothing) {
    throw nothing.error;
  } catch (const StateError&) {
    throw;
  } catch (const std::exception& e) {
    throw StateError(path + ": " + e.what());
  }
  removeFile(path);
  syncDir(dir_);
}

namespace {

nlohmann::json vpcBody(const Vpc& vpc) {
  nlohmann::json body = toState(vpc);
  body.erase("subnets");
  return body;
}

}  // namespace

void StateStore::addVpc(Batch& b, const Vpc* old, const Vpc& vpc) const {
  if (!old || vpcBody(*old) != vpcBody(vpc)) b.put(vpcPath(vpc.name), "vpc", vpcBody(vpc));
  for (const auto& s : vpc.subnets) {
    const Subnet* had = old ? old->findSubnet(s.name) : nullptr;
    if (had && *had == s) continue;
    nlohmann::json body = toJson(s, vpc);
    body["seq"] = s.seq;
    b.put(subnetPath(vpc.name, s.name), "subnet", std::move(body));
  }
  if (!old) return;
  for (const auto& s : old->subnets) {
    if (!vpc.findSubnet(s.name)) b.removes.insert(subnetPath(vpc.name, s.name));
  }
}

void StateStore::dropVpc(Batch& b, const Vpc& vpc) const {
  b.removes.insert(vpcPath(vpc.name));
  for (const auto& s : vpc.subnets) b.removes.insert(subnetPath(vpc.name, s.name));
}

void StateStore::commit(const DesiredState& old, const DesiredState& next) const {
  Batch b;
  eachChange(old.vpcs(), next.vpcs(), [&](const Vpc* before, const Vpc* after) {
    if (after) {
      addVpc(b, before, *after);
    } else {
      dropVpc(b, *before);
    }
  });
  for (const auto& [name, p] : next.peerings()) {
    const Peering* had = old.findPeering(name);
    if (!had || !(*had == p)) b.put(path("peerings", name), "peering", toState(p));
  }
  for (const auto& [name, p] : old.peerings()) {
    if (!next.findPeering(name)) b.removes.insert(path("peerings", name));
  }
  eachChange(old.policies(), next.policies(), [&](const Policy* before, const Policy* after) {
    if (after) {
      b.put(path("policies", after->name), "policy", toState(*after));
    } else {
      b.removes.insert(path("policies", before->name));
    }
  });
  eachChange(old.instances(), next.instances(), [&](const Instance* before, const Instance* after) {
    if (after) {
      b.put(path("instances", after->name), "instance", toState(*after));
    } else {
      b.removes.insert(path("instances", before->name));
    }
  });
  eachChange(old.labs(), next.labs(), [&](const Lab* before, const Lab* after) {
    if (after) {
      b.put(path("labs", after->name), "lab", toState(*after));
    } else {
      b.removes.insert(path("labs", before->name));
    }
  });
  eachChange(old.portForwards(), next.portForwards(),
             [&](const PortForward* before, const PortForward* after) {
               if (after) {
                 b.put(path("port-forwards", after->name), "port_forward", toState(*after));
               } else {
                 b.removes.insert(path("port-forwards", before->name));
               }
             });
  eachChange(old.impairments(), next.impairments(),
             [&](const Impairment* before, const Impairment* after) {
               if (after) {
                 b.put(path("impairments", after->name), "impairment", toState(*after));
               } else {
                 b.removes.insert(path("impairments", before->name));
               }
             });
  eachChange(old.flowLogs(), next.flowLogs(), [&](const FlowLog* before, const FlowLog* after) {
    if (after) {
      b.put(path("flow-logs", after->name), "flow_log", toState(*after));
    } else {
      b.removes.insert(path("flow-logs", before->name));
    }
  });
  write(b);
}

std::vector<Vpc> StateStore::loadVpcs(std::vector<StateDamage>* damage) const {
  replayJournal();
  std::vector<Vpc> out;
  Batch migration;
  for (const auto& [file, doc] : load("vpcs", damage)) {
    std::string name = stemOf(file);
    // A subnet's file names the file that failed; the VPC's own, its own.
    std::string failed = file;
    try {
      const nlohmann::json& body = doc.at("vpc");
      if (body.at("name") != name) {
        throw DomainError::invalid(
            "vpc.name", "is " + body.at("name").dump() + ", but the file is named for vpc " + name);
      }
      nlohmann::json whole = body;
      bool inline1 = body.contains("subnets");  // schema 1: subnets inside
      if (!inline1) whole["subnets"] = nlohmann::json::array();
      size_t damaged = damage ? damage->size() : 0;
      for (const auto& [subFile, sub] : load("subnets/" + name, damage)) {
        failed = subFile;
        whole["subnets"].push_back(sub.at("subnet"));
      }
      // A subnet file that failed holds its VPC (quarantine): skip the rest.
      if (damage && damage->size() > damaged) continue;
      failed = file;
      Vpc vpc = fromState(whole);
      if (inline1) addVpc(migration, nullptr, vpc);
      out.push_back(std::move(vpc));
    } catch (const std::exception& e) {
      std::string error = failed + ": " + e.what();
      if (!damage) throw StateError(error);
      damage->push_back(
          StateDamage{.file = failed, .error = error, .kind = "vpc", .name = name, .doc = doc});
    }
  }
  write(migration);
  return out;
}

namespace {

// Each document's `key` object made a value by `fn`; a failure names the file.
// With `damage`, a document that fails is recorded there and skipped.
template <typename Fn>
auto parseEach(const std::vector<std::pair<std::string, nlohmann::json>>& docs,
               const std::string& key, std::vector<StateDamage>* damage, Fn&& fn) {
  std::vector<decltype(fn(nlohmann::json()))> out;
  for (const auto& [file, doc] : docs) {
    try {
      auto object = fn(doc.at(key));
      if (object.name != stemOf(file)) {
        throw DomainError::invalid(
            key + ".name", "is \"" + object.name + "\", but the file is named for " + stemOf(file));
      }
      out.push_back(std::move(object));
    } catch (const std::exception& e) {
      if (!damage) throw StateError(file + ": " + e.what());
      damage->push_back(StateDamage{.file = file,
                                    .error = file + ": " + e.what(),
                                    .kind = key,
                                    .name = stemOf(file),
                                    .doc = doc});
    }
  }
  return out;
}

}  // namespace

std::vector<Peering> StateStore::loadPeerings(std::vector<StateDamage>* damage) const {
  return parseEach(load("peerings", damage), "peering", damage, fromPeeringState);
}

std::vector<Policy> StateStore::loadPolicies(std::vector<StateDamage>* damage) const {
  return parseEach(load("policies", damage), "policy", damage, fromPolicyState);
}

std::vector<Instance> StateStore::loadInstances(std::vector<StateDamage>* damage) const {
  return parseEach(load("instances", damage), "instance", damage, instanceFromState);
}

std::vector<Lab> StateStore::loadLabs(std::vector<StateDamage>* damage) const {
  return parseEach(load("labs", damage), "lab", damage, labFromState);
}

std::vector<PortForward> StateStore::loadPortForwards(std::vector<StateDamage>* damage) const {
  return parseEach(load("port-forwards", damage), "port_forward", damage, fromPortForwardState);
}

std::vector<Impairment> StateStore::loadImpairments(std::vector<StateDamage>* damage) const {
  return parseEach(load("impairments", damage), "impairment", damage, fromImpairmentState);
}

std::vector<FlowLog> StateStore::loadFlowLogs(std::vector<StateDamage>* damage) const {
  return parseEach(load("flow-logs", damage), "flow_log", damage, fromFlowLogState);
}

void StateStore::saveVpc(const Vpc& vpc) const {
  Batch b;
  addVpc(b, nullptr, vpc);
  write(b);
}

void StateStore::removeVpc(const std::string& name) const {
  for (const auto& v : loadVpcs()) {
    if (v.name != name) continue;
    Batch b;
    dropVpc(b, v);
    write(b);
  }
}

}  // namespace vpcd
