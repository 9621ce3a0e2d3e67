#!/usr/bin/env bash
# Configures (once) and builds failoverd with CMake + Ninja + ccache into build/release.
#   packaging/build.sh [PRESET]      PRESET: release (default), debug, asan, fuzz, clang
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset"
fi
cmake --build "build/$preset" -j "$(nproc)"
