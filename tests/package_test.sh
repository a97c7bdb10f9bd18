#!/usr/bin/env bash
# Packaging (issue 7): `cmake --install` into a scratch DESTDIR puts every
# file in its FHS place; `cpack -G DEB` builds a .deb whose dependencies are
# the Debian runtime libraries, which installs with dpkg on this machine,
# runs, and purges without a trace. Root (dpkg); skipped if a vpcd is
# already installed here, which this test must not replace.
if [[ $EUID -ne 0 ]]; then
  echo "SKIP: this needs root (dpkg -i)"
  exit 77
fi
if dpkg -s vpcd >/dev/null 2>&1 || [[ -e /usr/sbin/vpcd ]]; then
  echo "SKIP: a vpcd is already installed on this machine; not touching it"
  exit 77
fi
source "$(dirname "$0")/checks.sh" package
BIN="$(cd "$VPCD_BIN_DIR" && pwd)"
installed=""
purge_if_installed() { if [[ -n $installed ]]; then dpkg --purge vpcd >/dev/null 2>&1; fi; }
ON_EXIT+=(purge_if_installed)

DESTDIR="$WORK/root" cmake --install "$BIN" --prefix /usr >/dev/null
for f in usr/sbin/vpcd usr/bin/vpcctl usr/lib/systemd/system/vpcd.service \
  usr/lib/systemd/system/vpcd.socket usr/lib/sysusers.d/vpcd.conf usr/lib/tmpfiles.d/vpcd.conf \
  etc/vpcd/vpcd.json usr/share/vpcd/policies/policy.schema.json \
  usr/share/vpcd/policies/examples/web.json usr/share/doc/vpcd/README.md \
  usr/share/doc/vpcd/service.md usr/share/bash-completion/completions/vpcctl; do
  check "cmake --install: /$f" test -f "$WORK/root/$f"
done

(cd "$BIN" && cpack -G DEB -B "$WORK/deb" >/dev/null)
deb=$(ls "$WORK"/deb/vpcd_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libnl-3-200 libnl-route-3-200 libmnl0 libnftnl11 libstdc++6; do
  check "depends on $lib" grep -q "$lib" <<<"$depends"
done
check "/etc/vpcd/vpcd.json is a conffile" bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/vpcd/vpcd.json"
check "dpkg -i" dpkg -i "$deb"
installed=yes
check "vpcd --version" bash -c "[[ \$(/usr/sbin/vpcd --version) == 'vpcd 0.1.0' ]]"
check "vpcctl --help" bash -c "/usr/bin/vpcctl --help | grep -q 'vpcctl: drive vpcd'"
check "bash completion loads" bash -c "source /usr/share/bash-completion/completions/vpcctl && complete -p vpcctl"
check "dpkg --purge" dpkg --purge vpcd
installed=""
check "nothing left" bash -c "[[ ! -e /usr/sbin/vpcd && ! -e /usr/bin/vpcctl && ! -e /etc/vpcd && ! -e /usr/lib/systemd/system/vpcd.service ]]"
check "dpkg knows it is gone" bash -c "! dpkg -s vpcd >/dev/null 2>&1"
finish
