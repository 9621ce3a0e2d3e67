#!/usr/bin/env bash
# Installs the failoverd .deb into a clean Debian 12 root (debootstrap minbase, cached by
# integration/container/bookworm_root.sh) with apt-get, as an operator would, and checks that it
# works there: the package's dependencies resolve, postinst creates the failoverd user and
# /etc/failoverd, /var/lib/failoverd with their owners and modes, and, as the failoverd user,
# `failoverd --check-config` accepts the packaged demo configuration laid out in /etc/failoverd
# and `failoverd simulate` passes a packaged scenario; installing it again (an upgrade) keeps the
# operator's file modes. Then the package is purged again.
#   deb_install_test.sh SOURCE_DIR BUILD_DIR
# Needs root (chroot) and the Debian mirror (dependencies). Exit 77 (skipped) when not root.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "deb_install_test: needs root (chroot); skipped"; exit 77; fi
command -v debootstrap >/dev/null || bash "$src/packaging/install-deps.sh"

root=$("$src/integration/container/bookworm_root.sh" "$build" "$build/packaging/deb-root")
out=$build/packaging/deb-out
rm -rf "$out"

echo "== the .deb, built by CPack from this build"
cmake --build "$build" --target failoverd failoverctl failoverd_man >/dev/null
(cd "$build" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$out" >"$build/packaging/cpack.log" 2>&1) \
  || { cat "$build/packaging/cpack.log"; fail "cpack"; }
deb=$(ls "$out"/failoverd_*_amd64.deb | head -1)
[ -n "$deb" ] || fail "no .deb in $out"
cp "$deb" "$root/tmp/failoverd.deb"

in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }
echo "== apt-get install ./failoverd.deb in $root"
in_root apt-get update -qq >/dev/null || fail "apt-get update"
in_root apt-get install -y -q /tmp/failoverd.deb >"$build/packaging/apt.log" 2>&1 \
  || { tail -30 "$build/packaging/apt.log"; fail "apt-get install of the .deb"; }
grep -E '^(Setting up|Unpacking) failoverd' "$build/packaging/apt.log"
in_root dpkg-query -W -f='${Status}\n' failoverd | grep -qx 'install ok installed' || fail "not installed"

echo "== what postinst made"
in_root getent passwd failoverd | tee /dev/stderr | grep -q ':/var/lib/failoverd:/usr/sbin/nologin$' \
  || fail "no failoverd system user with home /var/lib/failoverd and no login shell"
# Owners by name as the root's own /etc/passwd and /etc/group say (stat inside the chroot).
mode() { in_root stat -c '%U:%G %a' "$1"; }
[ "$(mode /var/lib/failoverd)" = "failoverd:failoverd 750" ] || fail "/var/lib/failoverd is $(mode /var/lib/failoverd)"
[ "$(mode /etc/failoverd)" = "root:failoverd 750" ] || fail "/etc/failoverd is $(mode /etc/failoverd)"
for f in edge.toml three-observers.toml; do
  [ "$(mode /etc/failoverd/$f)" = "root:failoverd 640" ] || fail "/etc/failoverd/$f is $(mode /etc/failoverd/$f)"
done
[ -f "$root/lib/systemd/system/failoverd.service" ] || fail "no unit"
[ -f "$root/usr/share/man/man8/failoverd.8.gz" ] || fail "no failoverd(8)"

echo "== as the failoverd user: --version, --check-config on the packaged demo, simulate"
ex=/usr/share/doc/failoverd/examples
in_root install -m 0640 -g failoverd $ex/demo.toml /etc/failoverd/failoverd.toml
in_root install -m 0600 -o failoverd -g failoverd $ex/demo-tsig.key $ex/demo-admin.token /etc/failoverd/
as_daemon() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot --userspec=failoverd:failoverd "$root" "$@"; }
as_daemon failoverd --version | grep -E '^failoverd [0-9]' || fail "--version"
as_daemon failoverd --check-config /etc/failoverd/failoverd.toml || fail "--check-config"
as_daemon failoverctl --version | grep -E '^failoverctl [0-9]' || fail "failoverctl --version"
sim=$(as_daemon failoverd simulate --scenario $ex/scenario-f1-primary-down.toml) || fail "simulate exited $?"
tail -3 <<<"$sim"
grep -q 'result: PASS' <<<"$sim" || fail "simulate did not pass"

echo "== an upgrade (the same .deb again) keeps the operator's modes"
in_root chmod 0600 /etc/failoverd/edge.toml
in_root dpkg -i /tmp/failoverd.deb >"$build/packaging/upgrade.log" 2>&1 \
  || { tail -20 "$build/packaging/upgrade.log"; fail "dpkg -i over the installed package"; }
[ "$(mode /etc/failoverd/edge.toml)" = "root:failoverd 600" ] \
  || fail "upgrade changed /etc/failoverd/edge.toml to $(mode /etc/failoverd/edge.toml)"

echo "== purge"
in_root apt-get purge -y -q failoverd >"$build/packaging/purge.log" 2>&1 \
  || { tail -20 "$build/packaging/purge.log"; fail "purge"; }
[ ! -e "$root/usr/sbin/failoverd" ] || fail "binary left after purge"
echo "deb_install_test: all checks passed"
