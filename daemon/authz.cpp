#include "daemon/authz.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "daemon/config.h"
#include "lib/model/names.h"

namespace vpcd {
namespace {

// Every permission the API asks for, by resource.
const std::map<std::string, std::vector<std::string>> kVerbs{
    {"vpc", {"create", "delete"}},
    {"subnet", {"create", "delete"}},
    {"peering", {"create", "accept", "reject", "delete"}},
    {"policy", {"write", "delete"}},
    {"instance", {"create", "delete", "stop", "start", "reset", "attach", "detach", "console"}},
    {"lab", {"write", "delete"}},
    {"forward", {"create", "delete"}},
    {"impairment", {"write", "delete"}},
    {"flow-log", {"write", "delete"}},
    {"reach", {"probe"}}};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// A permission as written in the roles file: resource:verb, either part `*`.
void checkPermission(const std::string& perm, const std::string& where) {
  if (perm == "*") return;
  size_t colon = perm.find(':');
  std::string resource = perm.substr(0, colon);
  std::string verb = colon == std::string::npos ? "" : perm.substr(colon + 1);
  auto it = kVerbs.find(resource);
  if (resource != "*" && it == kVerbs.end())
    throw std::invalid_argument(
        where + ": \"" + perm +
        "\" is not a permission (resources: vpc, subnet, peering, "
        "policy, instance, lab, forward, impairment, flow-log, reach, or *)");
  if (verb == "*") return;
  std::vector<std::string> verbs;
  if (it != kVerbs.end()) {
    verbs = it->second;
  } else {
    for (const auto& [r, vs] : kVerbs) verbs.insert(verbs.end(), vs.begin(), vs.end());
  }
  if (std::find(verbs.begin(), verbs.end(), verb) == verbs.end())
    throw std::invalid_argument(where + ": \"" + perm + "\" is not a permission (" + resource +
                                ": " + join(verbs) + ", or *)");
}

}  // namespace

Authorizer::Authorizer(const std::string& group, const std::string& rolesFile, bool required)
    : group_(group) {
  if (struct group* g = ::getgrnam(group.c_str())) groupId_ = g->gr_gid;
  if (rolesFile.empty()) return;
  auto doc = readJsonObject(rolesFile, "roles file", required);
  if (!doc) return;
  for (const auto& [kind, entries] : doc->items()) {
    if (kind != "users" && kind != "groups")
      throw std::invalid_argument("roles file " + rolesFile + ": \"" + kind +
                                  "\" is not users or groups");
    auto& into = kind == "users" ? users_ : groups_;
    for (const auto& [name, perms] : entries.items()) {
      std::string where = "roles file " + rolesFile + ": " + kind + "." + name;
      if (!perms.is_array()) throw std::invalid_argument(where + ": must be a list");
      for (const auto& p : perms) {
        if (!p.is_string()) throw std::invalid_argument(where + ": permissions are strings");
        std::string text = p.get<std::string>();
        size_t at = text.find('@');
        Grant g{text.substr(0, at), at == std::string::npos ? "" : text.substr(at + 1)};
        checkPermission(g.permission, where);
        if (at != std::string::npos && !isLabel(g.vpc))
          throw std::invalid_argument(where + ": \"" + text +
                                      "\": after @ comes the name of a VPC (resource:verb@vpc)");
        into[name].push_back(std::move(g));
      }
    }
  }
}

std::string Authorizer::permissionFor(const std::string& method,
                                      const std::vector<std::string>& seg) {
  if (method == "GET" || method == "HEAD") return "";
  if (seg.size() < 2) return "api:" + method;
  const std::string& kind = seg[1];
  std::string verb = method == "DELETE" ? "delete" : method == "PUT" ? "write" : "create";
  if (kind == "vpcs") return (seg.size() >= 4 ? "subnet:" : "vpc:") + verb;
  if (kind == "peerings") return "peering:" + (seg.size() == 4 ? seg[3] : verb);
  if (kind == "policies") return "policy:" + verb;
  if (kind == "port-forwards") return "forward:" + verb;
  if (kind == "impairments") return "impairment:" + verb;
  if (kind == "flow-logs") return "flow-log:" + verb;
  if (kind == "labs") {
    if (seg.size() == 4 && seg[3] == "verify") return "reach:probe";
    return "lab:" + verb;  // apply (and plan) write, destroy deletes
  }
  if (kind == "reachability") return "reach:probe";  // sends packets in the VPCs
  if (kind == "instances") {
    if (seg.size() == 4 && seg[3] != "nics") return "instance:" + seg[3];  // stop, start, reset
    if (seg.size() >= 4) return std::string("instance:") + (verb == "delete" ? "detach" : "attach");
    return "instance:" + verb;
  }
  return kind + ":" + verb;
}

void Authorizer::collect(const std::vector<Grant>& grants, const std::string& permission,
                         Allowance& a) const {
  size_t colon = permission.find(':');
  for (const auto& g : grants) {
    const std::string& p = g.permission;
    bool match = p == "*" || p == permission;
    if (!match) {
      size_t c = p.find(':');
      bool resource = p.compare(0, c, "*") == 0 || p.compare(0, c, permission, 0, colon) == 0;
      bool verb = p.compare(c + 1, std::string::npos, "*") == 0 ||
                  p.compare(c + 1, std::string::npos, permission, colon + 1) == 0;
      match = resource && verb;
    }
    if (!match) continue;
    if (g.vpc.empty()) {
      a.everywhere = true;
    } else {
      a.vpcs.insert(g.vpc);
    }
  }
}

Authorizer::Allowance Authorizer::allowance(const Caller& c, const std::string& permission) const {
  Allowance a;
  a.everywhere = permission.empty() || c.uid == 0 || c.token;
  if (a.everywhere) return a;
  std::vector<gid_t> groups = c.groups;
  groups.push_back(c.gid);
  if (groupId_ != static_cast<gid_t>(-1) &&
      std::find(groups.begin(), groups.end(), groupId_) != groups.end()) {
    a.everywhere = true;
    return a;
  }
  passwd* pw = ::getpwuid(c.uid);
  std::string user = pw ? pw->pw_name : std::to_string(c.uid);
  a.who = "uid " + std::to_string(c.uid) + " (" + user + ")";
  if (auto it = users_.find(user); it != users_.end()) collect(it->second, permission, a);
  for (gid_t g : groups) {
    struct group* gr = ::getgrgid(g);
    auto it = gr ? groups_.find(gr->gr_name) : groups_.end();
    if (it != groups_.end()) collect(it->second, permission, a);
  }
  if (!a.everywhere && a.vpcs.empty())
    a.why = a.who + " may not " + permission + ": it needs root, group " + group_ +
            ", or a grant in the roles file";
  return a;
}

std::string vpcdNamespaceOf(pid_t pid, const std::string& netnsDir) {
  struct stat peer {
  }, own{};
  if (pid <= 0 || ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &peer) != 0 ||
      ::stat("/proc/self/ns/net", &own) != 0)
    return "";
  if (peer.st_ino == own.st_ino && peer.st_dev == own.st_dev) return "";  // the usual case
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(netnsDir, ec)) {
    std::string name = e.path().filename().string();
    if (ownerOfNamespace(name).kind == NamespaceOwner::Kind::None) continue;
    struct stat file {};
    if (::stat(e.path().c_str(), &file) == 0 && file.st_ino == peer.st_ino &&
        file.st_dev == peer.st_dev)
      return name;
  }
  return "";
}

}  // namespace vpcd
