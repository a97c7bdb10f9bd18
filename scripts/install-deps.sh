#!/usr/bin/env bash
# Installs everything vpcd needs to build, run and test, from Debian packages:
# compilers and libraries; git (the format check lists files with it); and the
# tools the tests observe with (ip, nft, unshare, mount, curl, python3, sysctl;
# systemd's tools check the units); dnsmasq-base, the VPC resolvers' engine (the
# binary only: no system-wide service comes with it); clang and its runtime
# libraries for the sanitizer build and the libFuzzer targets.
set -euo pipefail
if [[ $EUID -ne 0 ]]; then
  echo "install-deps.sh: run as root (it uses apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config clang-format git clang libclang-rt-14-dev \
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libnetfilter-conntrack-dev \
  libboost-dev nlohmann-json3-dev catch2 libcli11-dev \
  iproute2 nftables util-linux mount coreutils findutils curl python3 procps \
  libyaml-cpp-dev libgraphviz-dev prometheus-cpp-dev \
  python3-jsonschema python3-yaml iperf3 iptables systemd iputils-ping dnsmasq-base

# promtool, with which the tests check the metrics' format, from Debian's
# prometheus package: unpacked, not installed, because installing the package
# would also enable and start a Prometheus server on the machine.
PROMTOOL=/usr/local/libexec/vpcd/promtool
if [[ ! -x $PROMTOOL ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q prometheus 2>/dev/null)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  install -D -m 0755 "$tmp/root/usr/bin/promtool" "$PROMTOOL"
  rm -rf "$tmp"
fi
