#!/bin/sh
# Copies failoverd and failoverctl from a build tree into DEST/usr/bin, without debug info
# (the RelWithDebInfo binary is ~130 MB with it, a few MB without).
#   packaging/container/stage-binaries.sh BUILD_DIR DEST
# Run by the Dockerfile's build stage and by integration/container/image_root_test.sh.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: stage-binaries.sh BUILD_DIR DEST" >&2
  exit 2
fi
build=$1
dest=$2
mkdir -p "$dest/usr/bin"
for b in failoverd failoverctl; do
  strip --strip-debug -o "$dest/usr/bin/$b" "$build/daemon/$b"
  chmod 0755 "$dest/usr/bin/$b"
done
