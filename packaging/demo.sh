#!/usr/bin/env bash
# Installs what is needed, builds, and runs the built-in demo: two local regions (nginx), a local
# authoritative DNS server (BIND9) and failoverd on config/demo.toml. It kills the primary region
# and shows failoverd moving www.demo.test. to the standby, then keeps running until Ctrl-C.
# Nothing else has to be set up on the machine.
#
#   sudo packaging/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
bash packaging/build.sh release
exec integration/demo/run-demo.sh build/release "$@"
