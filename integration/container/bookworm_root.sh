#!/usr/bin/env bash
# Makes (once) and prints the path of a cached clean Debian 12 root for tests that install or run
# things in a chroot: `debootstrap --variant=minbase bookworm`, kept in BUILD_DIR/container/.
#   root=$(bookworm_root.sh BUILD_DIR)
# Needs root and the Debian mirror the first time.
set -euo pipefail
build=$(cd "$1" && pwd)
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
echo "$cache"
