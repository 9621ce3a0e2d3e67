#!/usr/bin/env bash
# Makes (once) and prints the path of a cached clean Debian 12 root for tests that install or run
# things in a chroot: `debootstrap --variant=minbase bookworm`, kept in BUILD_DIR/container/.
#   root=$(bookworm_root.sh BUILD_DIR)            the cache itself (do not change it)
#   root=$(bookworm_root.sh BUILD_DIR COPY_DIR)   a fresh copy at COPY_DIR (replaced if there),
#                                                 with the host's resolv.conf, as a build
#                                                 container gets it
# Needs root and the Debian mirror the first time.
set -euo pipefail
build=$(cd "$1" && pwd)
copy=${2:-}
cache=$build/container/bookworm-minbase
if [ ! -f "$cache/.complete" ]; then
  echo "== debootstrap --variant=minbase bookworm (cached in $cache)" >&2
  rm -rf "$cache" "$cache.tmp"
  mkdir -p "$build/container"
  if ! timeout 1200 debootstrap --variant=minbase bookworm "$cache.tmp" \
      http://deb.debian.org/debian >"$build/container/debootstrap.log" 2>&1; then
    tail -20 "$build/container/debootstrap.log" >&2
    echo "FAIL: debootstrap" >&2
    exit 1
  fi
  touch "$cache.tmp/.complete"
  mv "$cache.tmp" "$cache"
fi
if [ -z "$copy" ]; then
  echo "$cache"
  exit 0
fi
rm -rf "$copy"
mkdir -p "$(dirname "$copy")"
cp -a "$cache" "$copy"
cp /etc/resolv.conf "$copy/etc/resolv.conf"
echo "$copy"
