#!/usr/bin/env bash
# Runs the promtool unit tests of the shipped alert rules and checks that every rule in
# config/alerts.yml has at least one of them (a new rule cannot ship untested).
#   alerts_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
promtool test rules "$src/tests/alerts/alerts_test.yml"
missing=0
for rule in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$src/config/alerts.yml"); do
  if ! grep -qE "^ *alertname: *$rule\$" "$src/tests/alerts/alerts_test.yml"; then
    echo "alerts_test: rule $rule has no promtool test in tests/alerts/alerts_test.yml"
    missing=1
  fi
  if ! sed -n "/- alert: $rule\$/,/- alert:/p" "$src/config/alerts.yml" | grep -q 'severity:'; then
    echo "alerts_test: rule $rule has no severity label"
    missing=1
  fi
done
exit "$missing"
