#pragma once
// Who may change what through the API. The caller is known from SO_PEERCRED.
// Reads (GET) are open to whoever can connect (the socket's mode decides who
// can); a change needs root, membership in the API group (`vpcd`), or a
// grant in the roles file: permissions named resource:verb (vpc:create,
// subnet:delete, peering:accept, policy:write, instance:stop, …), with `*`
// for any resource or verb ("peering:*", "*:*").
#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace vpcd {

// Who is calling, as the kernel recorded it when the client connected
// (SO_PEERCRED, SO_PEERGROUPS): a pid looked up later may be gone or reused.
struct Caller {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  bool token = false;         // holds the TCP listener's token: as the API group
};

class Authorizer {
 public:
  // `group`: the API group's name (no such group: only root and grants).
  // `rolesFile`: JSON {"users": {name: [perm…]}, "groups": {name: [perm…]}};
  // empty or missing (unless `required`) for none. Throws
  // std::invalid_argument naming a bad entry.
  Authorizer(const std::string& group, const std::string& rolesFile, bool required);

  // The permission a request needs ("" for a read), from its method and path
  // segments: POST {v1, vpcs} -> vpc:create.
  static std::string permissionFor(const std::string& method,
                                   const std::vector<std::string>& segments);
  // Where `c` may use `permission`: everywhere, in some VPCs only (grants
  // written `resource:verb@vpc`), or nowhere (`why`, for a 403).
  struct Allowance {
    std::string why;  // empty: allowed somewhere
    bool everywhere = false;
    std::set<std::string> vpcs;
    std::string who;  // "uid 1001 (alice)", for messages
  };
  Allowance allowance(const Caller& c, const std::string& permission) const;
  // Empty when allowed (somewhere); otherwise why not, for a 403.
  std::string check(const Caller& c, const std::string& permission) const {
    return allowance(c, permission).why;
  }

 private:
  struct Grant {
    std::string permission;
    std::string vpc;  // empty: every VPC
  };
  // Whether the grants hold `permission`; the VPCs they limit it to go into
  // `a` (everywhere set when one does not limit it).
  void collect(const std::vector<Grant>& grants, const std::string& permission, Allowance& a) const;
  gid_t groupId_ = static_cast<gid_t>(-1);
  std::string group_;
  std::map<std::string, std::vector<Grant>> users_, groups_;
};

// The namespace of vpcd's (a router, a subnet host, an instance) that the
// process `pid` runs in, or "" when it runs in none of them (the host's own,
// or another tool's). The API is not served inside them: root in an
// instance is uid 0 to SO_PEERCRED, and would otherwise drive the whole host
// (docs/security.md). Looked up when the client connects, while its pid is
// the caller's.
std::string vpcdNamespaceOf(pid_t pid, const std::string& netnsDir);

}  // namespace vpcd
