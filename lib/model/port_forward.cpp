#include "lib/model/port_forward.h"

#include <netinet/in.h>

#include "lib/model/fields.h"
#include "lib/model/names.h"
#include "lib/model/timestamp.h"

namespace vpcd {

using nlohmann::json;

namespace {

uint16_t requirePort(const json& body, const std::string& field) {
  if (!body.contains(field)) throw DomainError::invalid(field, "is required");
  auto port = requireInteger<int64_t>(body, field);
  if (port < 1 || port > 65535) throw DomainError::invalid(field, "must be a port from 1 to 65535");
  return static_cast<uint16_t>(port);
}

}  // namespace

uint8_t PortForward::protocolNumber() const {
  return protocol == "udp" ? IPPROTO_UDP : IPPROTO_TCP;
}

std::string PortForward::listenText() const {
  return protocol + "/" + std::to_string(listenPort) + " on " +
         (listenAddress ? listenAddress->str() : "every host address");
}

bool PortForward::clashesWith(const PortForward& o) const {
  if (protocol != o.protocol || listenPort != o.listenPort) return false;
  return !listenAddress || !o.listenAddress || *listenAddress == *o.listenAddress;
}

PortForward parsePortForward(const json& body, int64_t now) {
  requireObject(body,
                {"name", "protocol", "listen_port", "listen_address", "target", "target_port"});
  PortForward f;
  f.name = requireString(body, "name");
  requireLabel("name", f.name);
  if (body.contains("protocol")) {
    f.protocol = requireString(body, "protocol");
    if (f.protocol != "tcp" && f.protocol != "udp")
      throw DomainError::invalid("protocol", "must be tcp or udp");
  }
  f.listenPort = requirePort(body, "listen_port");
  if (body.contains("listen_address") && !body.at("listen_address").is_null()) {
    std::string text = requireString(body, "listen_address");
    f.listenAddress = Ipv4::parse(text);
    if (!f.listenAddress) throw DomainError::invalid("listen_address", "must be an IPv4 address");
    uint32_t a = f.listenAddress->value;
    if (a == 0 || (a >> 24) == 127 || (a >> 28) >= 14) {
      throw DomainError::invalid("listen_address",
                                 "must be a unicast address of the host, not 0.0.0.0, 127/8, "
                                 "multicast or broadcast (leave it out for every address)");
    }
  }
  f.target = requireString(body, "target");
  if (f.target.empty()) throw DomainError::invalid("target", "must not be empty");
  f.targetPort = body.contains("target_port") ? requirePort(body, "target_port") : f.listenPort;
  f.createdAt = now;
  return f;
}

json toJson(const PortForward& f) {
  json out{{"name", f.name},
           {"protocol", f.protocol},
           {"listen_port", f.listenPort},
           {"listen_address", f.listenAddress ? json(f.listenAddress->str()) : json(nullptr)},
           {"target", f.target},
           {"target_port", f.targetPort},
           {"vpc", f.vpc},
           {"subnet", f.vpc + "/" + f.subnet},
           {"target_ip", f.targetIp.str()},
           {"created_at", isoTime(f.createdAt)},
           {"lab", labJson(f.lab)}};
  if (!f.instance.empty()) out["instance"] = f.instance + "/" + f.nic;
  return out;
}

json toState(const PortForward& f) {
  json out{{"name", f.name},     {"protocol", f.protocol},        {"listen_port", f.listenPort},
           {"target", f.target}, {"target_port", f.targetPort},   {"vpc", f.vpc},
           {"subnet", f.subnet}, {"target_ip", f.targetIp.str()}, {"created_at", f.createdAt}};
  if (f.listenAddress) out["listen_address"] = f.listenAddress->str();
  if (!f.instance.empty()) out["instance"] = {{"name", f.instance}, {"nic", f.nic}};
  if (!f.lab.empty()) out["lab"] = f.lab;
  return out;
}

PortForward fromPortForwardState(const json& state) {
  json request = state;
  for (const char* k : {"vpc", "subnet", "target_ip", "created_at", "instance", "lab"})
    request.erase(k);
  PortForward f = parsePortForward(request, integerOr<int64_t>(state, "created_at", 0));
  f.vpc = requireString(state, "vpc");
  requireLabel("vpc", f.vpc);
  f.subnet = requireString(state, "subnet");
  requireLabel("subnet", f.subnet);
  auto ip = Ipv4::parse(requireString(state, "target_ip"));
  if (!ip) throw DomainError::invalid("target_ip", "must be an IPv4 address");
  f.targetIp = *ip;
  if (state.contains("instance")) {
    const json& i = state.at("instance");
    requireObject(i, {"name", "nic"});
    f.instance = requireString(i, "name");
    f.nic = requireString(i, "nic");
  }
  f.lab = labFrom(state);
  return f;
}

}  // namespace vpcd
