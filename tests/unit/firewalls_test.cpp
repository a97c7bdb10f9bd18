// Other firewalls on the host: which of their rules drop every forwarded
// packet (nftables and legacy iptables), and the fix vpcd prints for each.
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "daemon/engine.h"
#include "lib/kernel/nft_kernel.h"
#include "lib/kernel/xtables.h"

using namespace vpcd;

namespace {

NftExpr named(const std::string& name) {
  return NftExpr{.name = name};
}
NftExpr verdictOf(uint32_t code) {
  return NftExpr{.name = "immediate", .key = code, .dreg = NFT_REG_VERDICT};
}

// An x_tables entry as the kernel lays it out: the entry, then a target
// named `target` (a standard one carries its verdict).
void appendEntry(std::vector<unsigned char>& blob, const ipt_ip& ip, const char* target,
                 int verdict) {
  size_t targetSize = XT_ALIGN(sizeof(xt_standard_target));
  ipt_entry e{};
  e.ip = ip;
  e.target_offset = sizeof(ipt_entry);
  e.next_offset = static_cast<uint16_t>(sizeof(ipt_entry) + targetSize);
  size_t at = blob.size();
  blob.resize(at + e.next_offset);
  std::memcpy(blob.data() + at, &e, sizeof e);
  xt_standard_target t{};
  t.target.u.user.target_size = static_cast<uint16_t>(targetSize);
  std::strncpy(t.target.u.user.name, target, sizeof t.target.u.user.name - 1);
  t.verdict = verdict;
  std::memcpy(blob.data() + at + sizeof e, &t, sizeof t);
}

}  // namespace

TEST_CASE("an nftables rule drops everything only with no condition before drop or reject") {
  CHECK(dropsAll(NftRule{"f", {named("counter"), verdictOf(NF_DROP)}}));
  CHECK(dropsAll(NftRule{"f", {named("reject")}}));  // firewalld's last rule
  CHECK(dropsAll(NftRule{"f", {named("log"), named("counter"), named("reject")}}));
  CHECK_FALSE(dropsAll(NftRule{"f", {named("meta"), named("cmp"), verdictOf(NF_DROP)}}));
  CHECK_FALSE(dropsAll(NftRule{"f", {named("ct"), named("cmp"), named("reject")}}));
  CHECK_FALSE(dropsAll(NftRule{"f", {verdictOf(NF_ACCEPT)}}));
  CHECK_FALSE(dropsAll(NftRule{"f", {}}));
}

TEST_CASE("legacy iptables: a FORWARD policy DROP and an unconditional REJECT are found") {
  ipt_ip any{}, from{};
  from.src.s_addr = htonl(0x0a000000);
  from.smsk.s_addr = htonl(0xff000000);
  std::vector<unsigned char> blob;
  appendEntry(blob, from, "", -NF_DROP - 1);  // -s 10.0.0.0/8 -j DROP: not everything
  appendEntry(blob, any, "REJECT", 0);
  size_t policy = blob.size();
  appendEntry(blob, any, "", -NF_DROP - 1);  // the chain's policy
  auto found = legacyForwardBlockers(blob.data(), blob.size(), 0, static_cast<unsigned>(policy));
  CHECK(found ==
        std::vector<std::string>{"iptables-legacy table filter chain FORWARD (rule: -j REJECT)",
                                 "iptables-legacy table filter chain FORWARD (policy DROP)"});
  // A policy ACCEPT and only the conditional rule: nothing.
  std::vector<unsigned char> open;
  appendEntry(open, from, "", -NF_DROP - 1);
  size_t accept = open.size();
  appendEntry(open, any, "", -NF_ACCEPT - 1);
  CHECK(legacyForwardBlockers(open.data(), open.size(), 0, static_cast<unsigned>(accept)).empty());
  // Bytes that are not entries stop the reading, nothing is made up.
  std::vector<unsigned char> junk(64, 0xff);
  CHECK(legacyForwardBlockers(junk.data(), junk.size(), 0, 0).empty());
}

TEST_CASE("each firewall gets the fix in its own tool") {
  Cidr pool = *Cidr::parse("169.254.64.0/18");
  CHECK(forwardFix("table inet firewalld chain filter_FORWARD (rule: reject)", pool) ==
        "firewall-cmd --permanent --zone=trusted --add-source=169.254.64.0/18 && "
        "firewall-cmd --reload");
  CHECK(forwardFix("iptables-legacy table filter chain FORWARD (policy DROP)", pool)
            .starts_with("iptables-legacy -I FORWARD -s 169.254.64.0/18 -j ACCEPT"));
  CHECK(forwardFix("table ip filter chain FORWARD (policy drop)", pool)
            .starts_with("iptables -I FORWARD -s 169.254.64.0/18 -j ACCEPT"));
  CHECK(forwardFix("table inet edge chain forward (rule: drop)", pool) ==
        "nft insert rule inet edge forward ip saddr 169.254.64.0/18 accept && nft insert rule inet "
        "edge forward ip daddr 169.254.64.0/18 ct state established,related accept");
}
