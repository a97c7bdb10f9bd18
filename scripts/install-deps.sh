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
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev \
  libboost-dev nlohmann-json3-dev catch2 libcli11-dev \
  iproute2 nftables util-linux mount coreutils findutils curl python3 procps \
  libyaml-cpp-dev libgraphviz-dev \
  python3-jsonschema python3-yaml iperf3 iptables systemd iputils-ping dnsmasq-base
