#!/usr/bin/env bash
# Builds the Debian packages from a build tree: failoverd_<version>_<arch>.deb (CPack, stripped
# binaries: CPACK_STRIP_FILES) and failoverd-dbgsym_<version>_<arch>.deb, which holds the debug
# information split off the very binaries that build tree made, at the path Debian's tools look
# them up by (/usr/lib/debug/.build-id/NN/REST.debug; gdb finds them from the stripped binary's
# build-id note). Debian's own dbgsym packages are laid out the same way.
#
#   packaging/debian/build-debs.sh BUILD_DIR OUT_DIR
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: build-debs.sh BUILD_DIR OUT_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --build "$build" --target failoverd failoverctl failoverd_man
# With Ninja, CPack has no "preinstall" build step: it installs what was built above.
(cd "$build" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1) \
  || { cat "$work/cpack.log" >&2; echo "build-debs: cpack failed" >&2; exit 1; }
deb=$(ls "$work"/cpack/failoverd_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { cat "$work/cpack.log" >&2; echo "build-debs: cpack made no failoverd_*.deb" >&2; exit 1; }
cp "$deb" "$out/"
deb="$out/$(basename "$deb")"

version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
maintainer=$(dpkg-deb -f "$deb" Maintainer)
root="$work/dbgsym"
mkdir -p "$root/DEBIAN"
ids=()
for b in failoverd failoverctl; do
  bin="$build/daemon/$b"
  id=$(readelf -n "$bin" | awk '/Build ID:/ {print $3; exit}')
  [ -n "$id" ] || { echo "build-debs: $bin has no build-id note" >&2; exit 1; }
  dir="$root/usr/lib/debug/.build-id/${id:0:2}"
  mkdir -p "$dir"
  objcopy --only-keep-debug --compress-debug-sections "$bin" "$dir/${id:2}.debug"
  chmod 0644 "$dir/${id:2}.debug"
  ids+=("$id")
done
mkdir -p "$root/usr/share/doc"
ln -s failoverd "$root/usr/share/doc/failoverd-dbgsym"
size=$(du -sk "$root/usr" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: failoverd-dbgsym
Source: failoverd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: failoverd (= $version)
Section: debug
Priority: optional
Auto-Built-Package: debug-symbols
Description: debug symbols for failoverd
Build-Ids: ${ids[*]}
CONTROL
dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$out/failoverd-dbgsym_${version}_${arch}.deb" >/dev/null
echo "build-debs: $(cd "$out" && ls -s --block-size=K failoverd_*.deb failoverd-dbgsym_*.deb | tr '\n' ' ')"
