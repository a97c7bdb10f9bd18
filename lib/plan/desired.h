#pragma once
// The desired state -> the kernel objects that should exist, in parts: the
// host, each VPC (its router and subnet hosts) and each instance, each a pure
// function of exactly the values it depends on (its inputs). KernelPicture
// (picture.h) keeps the parts and rebuilds only those whose inputs changed.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/model/desired_state.h"
#include "lib/model/instance.h"
#include "lib/model/names.h"
#include "lib/model/peering.h"
#include "lib/model/policy.h"
#include "lib/model/vpc.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

// The whole topology as plain lists (tests, and desiredState below).
struct Topology {
  std::vector<Vpc> vpcs;
  std::vector<Peering> peerings;  // only active ones are programmed
  std::string uplink;             // host device toward the outside world
  Cidr transitPool;
  std::vector<Policy> policies;  // targets resolved to "vpc/subnet"
  std::vector<Instance> instances;
};

std::string forwardingSysctl(const std::string& device);  // net/ipv4/conf/<dev>/forwarding
// Packet and byte counters on every connection of a router (per namespace).
inline constexpr const char* kConntrackAcct = "net/netfilter/nf_conntrack_acct";
std::string subnetMac(const std::string& vpc, const std::string& subnet);  // of its eth0

// Policy routing of an instance's NIC eth<k>: a rule from its address to a
// table of its own, so replies leave by the NIC they came in on.
inline constexpr uint32_t kNicTableBase = 100;      // table 100 + k
inline constexpr uint32_t kNicRulePriority = 1000;  // pref 1000 + k

// One active peering seen from one of its VPCs.
struct PeerSide {
  Peering peering;
  int otherMtu = 0;  // the link takes the smaller MTU of the two VPCs
  bool operator==(const PeerSide&) const = default;
};

// Everything a VPC's namespaces are built from. Objects are compared by
// pointer first: an object the change did not touch is the same object.
struct VpcInputs {
  std::shared_ptr<const Vpc> vpc;
  Cidr transitPool;
  std::vector<PeerSide> peers;                                 // by peering name
  std::vector<std::shared_ptr<const Policy>> policies;         // with a target here
  std::vector<std::shared_ptr<const Instance>> instances;      // with a NIC here
  std::vector<std::shared_ptr<const PortForward>> forwards;    // into this VPC
  std::vector<std::shared_ptr<const Impairment>> impairments;  // enabled, with an end here
  bool flowLogs = false;  // an enabled flow log here: counted flows, logged drops
  bool operator==(const VpcInputs& o) const;
};

// An instance's namespace is built from the instance and the MTUs of the
// VPCs its NICs are in.
struct InstanceInputs {
  std::shared_ptr<const Instance> instance;
  std::map<std::string, int> mtuOf;                            // vpc -> mtu
  std::vector<std::shared_ptr<const Impairment>> impairments;  // enabled, on its NICs
  bool operator==(const InstanceInputs& o) const;
};

// The inputs of every VPC and every instance of `state`, in one pass over it.
std::map<std::string, VpcInputs> vpcInputs(const DesiredState& state);
std::map<std::string, InstanceInputs> instanceInputs(const DesiredState& state);

// The parts. A part's namespaces by name.
Namespace hostSide(const DesiredState& state);
std::map<std::string, Namespace> vpcSide(const VpcInputs& in);
Namespace instanceSide(const InstanceInputs& in);

// Every part at once (tests; the daemon goes through KernelPicture).
KernelState desiredState(const Topology& topology);
KernelState desiredState(const DesiredState& state);

}  // namespace vpcd
