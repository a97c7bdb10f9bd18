#include "lib/model/instance.h"

#include <cstdio>
#include <set>

#include "lib/model/error.h"
#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {
namespace {

using nlohmann::json;

std::string indexed(const std::string& field, size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

std::map<std::string, std::string> stringMap(const json& body, const std::string& field) {
  std::map<std::string, std::string> out;
  auto it = body.find(field);
  if (it == body.end()) return out;
  if (!it->is_object()) throw DomainError::invalid(field, "must be an object of strings");
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string()) throw DomainError::invalid(field + "." + key, "must be a string");
    if (key.empty() || key.find('=') != std::string::npos || key.find(',') != std::string::npos)
      throw DomainError::invalid(field + "." + key, "keys must be non-empty, without '=' or ','");
    out[key] = value.get<std::string>();
  }
  return out;
}

std::vector<std::string> stringList(const json& body, const std::string& field) {
  std::vector<std::string> out;
  auto it = body.find(field);
  if (it == body.end()) return out;
  if (!it->is_array()) throw DomainError::invalid(field, "must be a list of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string() || (*it)[i].get_ref<const std::string&>().empty())
      throw DomainError::invalid(indexed(field, i), "must be a non-empty string");
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

std::string nicField(const std::string& path, const char* field) {
  return path.empty() ? field : path + "." + field;
}

}  // namespace

std::string toString(InstanceStatus s) {
  switch (s) {
    case InstanceStatus::Running:
      return "RUNNING";
    case InstanceStatus::Stopped:
      return "STOPPED";
    default:
      return "PROVISIONING";
  }
}

NicRequest parseNicRequest(const json& body, const std::string& path) {
  if (!body.is_object()) throw DomainError::invalid(path, "must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "subnet" && key != "ip")
      throw DomainError::invalid(nicField(path, key.c_str()), "unknown field");
  }
  NicRequest r{.field = path};
  auto subnet = body.find("subnet");
  std::string field = nicField(path, "subnet");
  if (subnet == body.end()) throw DomainError::invalid(field, "is required");
  if (!subnet->is_string()) throw DomainError::invalid(field, "must be a string");
  const std::string& target = subnet->get_ref<const std::string&>();
  size_t slash = target.find('/');
  if (slash == std::string::npos || !isLabel(target.substr(0, slash)) ||
      !isLabel(target.substr(slash + 1)))
    throw DomainError::invalid(field, "\"" + target + "\" is not of the form vpc/subnet");
  r.vpc = target.substr(0, slash);
  r.subnet = target.substr(slash + 1);
  if (auto ip = body.find("ip"); ip != body.end()) {
    std::string f = nicField(path, "ip");
    if (!ip->is_string()) throw DomainError::invalid(f, "must be a string");
    auto addr = Ipv4::parse(ip->get<std::string>());
    if (!addr)
      throw DomainError::invalid(f, "\"" + ip->get<std::string>() + "\" is not an IPv4 address");
    r.ip = addr;
  }
  return r;
}

InstanceRequest parseInstanceRequest(const json& body) {
  requireObject(body, {"name", "nics", "subnet", "ip", "labels", "metadata", "tags", "command"});
  InstanceRequest req;
  Instance& i = req.instance;
  i.name = requireString(body, "name");
  requireLabel("name", i.name);
  bool single = body.contains("subnet") || body.contains("ip");
  if (single && body.contains("nics"))
    throw DomainError::invalid("nics", "give either nics or subnet/ip, not both");
  if (single) {
    json nic = json::object();
    for (const char* f : {"subnet", "ip"}) {
      if (body.contains(f)) nic[f] = body.at(f);
    }
    req.nics.push_back(parseNicRequest(nic, ""));
  } else {
    auto nics = body.find("nics");
    if (nics == body.end()) throw DomainError::invalid("nics", "is required (at least one NIC)");
    if (!nics->is_array() || nics->empty())
      throw DomainError::invalid("nics",
                                 "must be a non-empty list of {\"subnet\": \"vpc/subnet\"}");
    for (size_t n = 0; n < nics->size(); ++n)
      req.nics.push_back(parseNicRequest((*nics)[n], indexed("nics", n)));
  }
  for (size_t a = 0; a < req.nics.size(); ++a) {
    for (size_t b = 0; b < a; ++b) {
      if (req.nics[a].vpc == req.nics[b].vpc && req.nics[a].subnet == req.nics[b].subnet)
        throw DomainError::invalid(nicField(req.nics[a].field, "subnet"),
                                   "a second NIC in subnet " + req.nics[a].vpc + "/" +
                                       req.nics[a].subnet + "; one NIC per subnet");
    }
  }
  i.labels = stringMap(body, "labels");
  i.metadata = stringMap(body, "metadata");
  i.tags = stringList(body, "tags");
  i.command = stringList(body, "command");
  return req;
}

std::string macFor(const std::string& key) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:%02x:%02x:%02x:%02x:%02x", unsigned(h >> 32 & 0xff),
                unsigned(h >> 24 & 0xff), unsigned(h >> 16 & 0xff), unsigned(h >> 8 & 0xff),
                unsigned(h & 0xff));
  return buf;
}

namespace {

json nicsJson(const Instance& i) {
  json nics = json::array();
  for (size_t n = 0; n < i.nics.size(); ++n) nics.push_back(toJson(i.nics[n], n == 0));
  return nics;
}

std::string timeOrNull(int64_t t) {
  return t ? isoTime(t) : "";
}

}  // namespace

json toJson(const Nic& nic, bool primary) {
  return {{"name", nic.name},   {"subnet", nic.target()},
          {"ip", nic.ip.str()}, {"prefix", nic.subnetCidr.prefix},
          {"mac", nic.mac},     {"gateway", nic.gateway().str()},
          {"primary", primary}};
}

json toJson(const Instance& i, bool commandRunning) {
  json out{{"name", i.name},
           {"status", toString(i.status)},
           {"namespace", instanceNamespace(i.name)},
           {"nics", nicsJson(i)},
           {"labels", i.labels},
           {"metadata", i.metadata},
           {"tags", i.tags},
           {"command", i.command},
           {"created_at", isoTime(i.createdAt)},
           {"lab", labJson(i.lab)}};
  out["last_start_at"] = i.lastStartAt ? json(timeOrNull(i.lastStartAt)) : json();
  out["last_stop_at"] = i.lastStopAt ? json(timeOrNull(i.lastStopAt)) : json();
  if (!i.command.empty()) {
    out["command_state"] = commandRunning ? "running" : "exited";
    out["command_pid"] = commandRunning ? json(i.pid) : json();
  }
  return out;
}

json toState(const Instance& i) {
  json nics = json::array();
  for (const auto& n : i.nics) {
    nics.push_back({{"name", n.name},
                    {"vpc", n.vpc},
                    {"subnet", n.subnet},
                    {"subnet_cidr", n.subnetCidr.str()},
                    {"ip", n.ip.str()},
                    {"mac", n.mac}});
  }
  json out{{"name", i.name},
           {"status", toString(i.status)},
           {"nics", nics},
           {"labels", i.labels},
           {"metadata", i.metadata},
           {"tags", i.tags},
           {"command", i.command},
           {"created_at", i.createdAt},
           {"last_start_at", i.lastStartAt},
           {"last_stop_at", i.lastStopAt},
           {"pid", i.pid},
           {"pid_start_time", i.pidStartTime}};
  if (!i.lab.empty()) out["lab"] = i.lab;
  return out;
}

Instance instanceFromState(const json& s) {
  // Re-validated with the request rules (as VPC files are): a hand-edited
  // file must not be able to hold what the API would refuse.
  json request = json::object();
  for (const char* f : {"name", "labels", "metadata", "tags", "command"}) {
    if (s.contains(f)) request[f] = s.at(f);
  }
  request["nics"] = json::array();
  for (const auto& n : s.at("nics")) {
    request["nics"].push_back(
        {{"subnet", n.at("vpc").get<std::string>() + "/" + n.at("subnet").get<std::string>()},
         {"ip", n.at("ip")}});
  }
  InstanceRequest req = parseInstanceRequest(request);
  Instance i = req.instance;
  std::string status = s.at("status").get<std::string>();
  bool known = false;
  for (auto st : {InstanceStatus::Provisioning, InstanceStatus::Running, InstanceStatus::Stopped}) {
    if (toString(st) == status) {
      i.status = st;
      known = true;
    }
  }
  if (!known) throw DomainError::invalid("status", "unknown instance status \"" + status + "\"");
  std::set<int> indexes;
  for (size_t k = 0; k < req.nics.size(); ++k) {
    const json& n = s.at("nics")[k];
    std::string field = indexed("nics", k);
    std::string name = n.at("name").get<std::string>();
    int index = nicIndex(name);
    if (index < 0 || !indexes.insert(index).second)
      throw DomainError::invalid(field + ".name", "\"" + name + "\" is not a NIC name of its own");
    auto cidr = Cidr::parse(n.at("subnet_cidr").get<std::string>());
    if (!cidr || !cidr->contains(*req.nics[k].ip))
      throw DomainError::invalid(field + ".subnet_cidr", "must be the subnet holding the NIC's ip");
    std::string mac = n.at("mac").get<std::string>();
    if (mac != macFor(i.name + "/" + name))
      throw DomainError::invalid(field + ".mac",
                                 "is not the MAC vpcd gives " + i.name + "/" + name);
    i.nics.push_back({.name = name,
                      .vpc = req.nics[k].vpc,
                      .subnet = req.nics[k].subnet,
                      .subnetCidr = *cidr,
                      .ip = *req.nics[k].ip,
                      .mac = mac});
  }
  i.createdAt = integerOr<int64_t>(s, "created_at", 0);
  i.lastStartAt = integerOr<int64_t>(s, "last_start_at", 0);
  i.lastStopAt = integerOr<int64_t>(s, "last_stop_at", 0);
  i.lab = labFrom(s);
  i.pid = integerOr<int>(s, "pid", 0);
  i.pidStartTime = integerOr<uint64_t>(s, "pid_start_time", 0);
  if (i.pid < 0) throw DomainError::invalid("pid", "must not be negative");
  return i;
}

}  // namespace vpcd
