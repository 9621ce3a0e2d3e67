#!/usr/bin/env bash
# Builds the failoverd .deb with CPack, checks its metadata and contents, unpacks it with
# `dpkg -x` into a scratch root, verifies the unpacked unit with verify_unit.sh and runs the
# packaged binaries from there. It never installs the package system-wide.
#
#   deb_test.sh BUILD_DIR VERIFY_UNIT_SH
set -euo pipefail
build=$(cd "$1" && pwd)
verify_unit=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "deb_test: ok: $what"; else echo "deb_test: FAIL: $what"; fail=1; fi
}

# The .deb and its -dbgsym companion, as packagers make them (builds what they need first).
bash "$(dirname "$0")/../../packaging/debian/build-debs.sh" "$build" "$tmp/out" \
  || { echo "deb_test: build-debs.sh failed"; exit 1; }
deb=$(ls "$tmp"/out/failoverd_*_amd64.deb 2>/dev/null | head -1)
dbgsym=$(ls "$tmp"/out/failoverd-dbgsym_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] && [ -n "$dbgsym" ] || { ls -l "$tmp/out"; echo "deb_test: no failoverd_<version>_amd64.deb and -dbgsym"; exit 1; }
echo "deb_test: built $(basename "$deb")"

dpkg-deb -I "$deb" | tee "$tmp/info"
dpkg-deb -c "$deb" | tee "$tmp/contents"
dpkg-deb -f "$deb" Depends >"$tmp/depends"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles
check "package name is failoverd" grep -qE '^ Package: failoverd$' "$tmp/info"
check "maintainer with a mail address" grep -qE '^ Maintainer: failoverd maintainers <[^ >]+@[^ >]+>$' "$tmp/info"
check "shlibdeps filled Depends (libc6, libssl3)" grep -qE 'libc6.*libssl3|libssl3.*libc6' "$tmp/depends"
for s in postinst prerm postrm conffiles; do
  check "control member $s" grep -qE "^ .*[[:space:]]$s([[:space:]]|\$)" "$tmp/info"
done
for f in /etc/failoverd/edge.toml /etc/failoverd/three-observers.toml; do
  check "conffile $f" grep -qx "$f" "$tmp/conffiles"
done
for f in ./usr/sbin/failoverd ./usr/bin/failoverctl ./lib/systemd/system/failoverd.service \
         ./usr/lib/sysusers.d/failoverd.conf ./usr/lib/tmpfiles.d/failoverd.conf \
         ./usr/share/man/man8/failoverd.8.gz ./usr/share/man/man1/failoverctl.1.gz \
         ./usr/share/bash-completion/completions/failoverctl \
         ./etc/failoverd/edge.toml ./etc/failoverd/three-observers.toml \
         ./usr/share/doc/failoverd/README.md ./usr/share/doc/failoverd/examples/demo.toml \
         ./usr/share/doc/failoverd/copyright ./usr/share/doc/failoverd/changelog.gz; do
  check "contains $f" grep -qE " $f\$" "$tmp/contents"
done

# lintian: no errors (the warnings left are listed in the README, "Building by hand").
lintian --tag-display-limit 0 "$deb" "$dbgsym" >"$tmp/lintian" 2>&1 || true
cat "$tmp/lintian"
check "lintian reports no errors" sh -c "! grep -q '^E: ' '$tmp/lintian'"
check "lintian ran on both packages" sh -c "! grep -qiE 'cannot|not found|error:' '$tmp/lintian'"

# Unpack (not install) and run from the scratch root.
root="$tmp/root"
dpkg -x "$deb" "$root"
dpkg -x "$dbgsym" "$root"
# Shipped binaries are stripped; the dbgsym package holds the debug information of exactly those
# binaries, found by build-id (what gdb and debuginfod look up).
for b in usr/sbin/failoverd usr/bin/failoverctl; do
  check "$b is stripped (no .symtab, no .debug_info)" \
    sh -c "! readelf -S '$root/$b' | grep -qE '\.symtab|\.debug_info'"
  id=$(readelf -n "$root/$b" | awk '/Build ID:/ {print $3; exit}')
  dbg="$root/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  check "$b has a build-id ($id) and the dbgsym file for it" test -n "$id" -a -f "$dbg"
  check "$(basename "$dbg") holds debug info with the same build-id" \
    sh -c "readelf -S '$dbg' | grep -q '\.debug_info' && readelf -n '$dbg' | grep -q 'Build ID: $id'"
done
check "dbgsym depends on this exact failoverd" \
  test "$(dpkg-deb -f "$dbgsym" Depends)" = "failoverd (= $(dpkg-deb -f "$deb" Version))"
version=$(dpkg-deb -f "$deb" Version)
check "failoverd --version is $version" test "$("$root/usr/sbin/failoverd" --version)" = "failoverd $version"
check "failoverctl --version is $version" test "$("$root/usr/bin/failoverctl" --version)" = "failoverctl $version"
check "unpacked unit passes systemd-analyze verify" \
  bash "$verify_unit" "$root/lib/systemd/system/failoverd.service" "$root/usr/sbin/failoverd"
check "man page failoverd.8.gz readable" sh -c "gzip -dc '$root/usr/share/man/man8/failoverd.8.gz' | grep -q '^.SH NAME'"
demo="$tmp/demo"
mkdir "$demo"
cp "$root/usr/share/doc/failoverd/examples/demo.toml" "$root/usr/share/doc/failoverd/examples/demo-tsig.key" \
   "$root/usr/share/doc/failoverd/examples/demo-admin.token" "$demo/"
chmod 600 "$demo/demo-tsig.key" "$demo/demo-admin.token"
check "failoverd --check-config demo.toml" "$root/usr/sbin/failoverd" --check-config "$demo/demo.toml"
# The conffile examples name secret files under /etc/failoverd that the operator writes: they must
# fail (exit 1) with errors about those files only (secrets and certificates); any other error is a broken example.
only_missing_secrets() { # OUTPUT_FILE EXIT_CODE
  [ "$2" = 1 ] && grep -q 'does not exist' "$1" \
    && ! grep -vE -e '(secret|certificate) file "/etc/failoverd/[^"]+" does not exist$' -e ': [0-9]+ errors?$' "$1"
}
for f in edge.toml three-observers.toml; do
  rc=0
  "$root/usr/sbin/failoverd" --check-config "$root/etc/failoverd/$f" >"$tmp/check.out" 2>&1 || rc=$?
  cat "$tmp/check.out"
  check "$f: exit 1, every error a missing secret file" only_missing_secrets "$tmp/check.out" "$rc"
done

[ "$fail" = 0 ] && echo "deb_test: all checks passed"
exit "$fail"
