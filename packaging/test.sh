#!/usr/bin/env bash
# Installs every package needed, builds once, and runs every test suite against that one build:
# unit tests, integration tests with real servers (nginx, BIND9, Knot, PowerDNS, HAProxy), and
# each benchmark at a tiny size to show it still works. Exit status 0 only if all pass.
#
#   sudo packaging/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash packaging/install-deps.sh
bash packaging/build.sh release
echo "test.sh: build done after $(( $(date +%s) - start ))s"
# A second compiler, with -Werror, over what ships (the `clang` preset: BUILD_TESTING=OFF).
bash packaging/build.sh clang
echo "test.sh: clang build done after $(( $(date +%s) - start ))s"

# Secrets in config/ are shipped without their 0600 mode (git keeps only the x bit).
find config -type f \( -name '*.key' -o -name '*.token' -o -name '*.secret' \) -exec chmod 600 {} +

# Tests labelled `network` (the container image root, built with debootstrap) are left out.
ctest --test-dir build/release --output-on-failure --no-tests=error -j 2 --timeout 900 -LE network
echo "test.sh: all suites passed in $(( $(date +%s) - start ))s"
