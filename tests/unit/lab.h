#pragma once
// The VPC most plan tests start from: prod 10.10.0.0/16 with a public web
// subnet and a private db subnet.
#include "lib/model/instance.h"
#include "lib/model/vpc.h"
#include "lib/plan/desired.h"

namespace vpcd::test {

inline Topology lab() {
  Vpc v = parseVpcRequest({{"name", "prod"}, {"cidr", "10.10.0.0/16"}});
  v.transitIndex = 0;
  v.subnets.push_back(
      parseSubnetRequest({{"name", "web"}, {"cidr", "10.10.1.0/24"}, {"type", "public"}}));
  v.subnets.push_back(parseSubnetRequest({{"name", "db"}, {"cidr", "10.10.2.0/24"}}));
  return Topology{{v}, {}, "eth0", *Cidr::parse("169.254.64.0/18")};
}

// NIC `name` of instance `instance` in lab() subnet `subnet` (its CIDR given)
// at `ip`, with the MAC vpcd would give it.
inline Nic labNic(const std::string& instance, const std::string& name, const std::string& subnet,
                  const std::string& cidr, const std::string& ip) {
  return Nic{.name = name,
             .vpc = "prod",
             .subnet = subnet,
             .subnetCidr = *Cidr::parse(cidr),
             .ip = *Ipv4::parse(ip),
             .mac = macFor(instance + "/" + name)};
}

}  // namespace vpcd::test
