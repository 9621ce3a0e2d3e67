#!/usr/bin/env bash
# Installs what is needed, builds, and runs failoverd on the built-in demo (config/demo.toml) in
# the foreground until Ctrl-C. Nothing else has to be set up on the machine.
#
#   sudo packaging/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
bash packaging/build.sh release
find config -type f \( -name '*.key' -o -name '*.token' -o -name '*.secret' \) -exec chmod 600 {} +
echo "demo: starting failoverd on config/demo.toml (Ctrl-C to stop)"
exec build/release/daemon/failoverd --config config/demo.toml
