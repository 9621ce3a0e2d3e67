#!/usr/bin/env bash
# Fails when a project file cites a rule by a short code (a capital letter and one or two digits,
# such as a "W" or "D" followed by a number) that the project defines nowhere. Errors reach logs,
# the journal and the admin API, so a rule is named by its id (lib/core/rules.h, e.g.
# stale_generation, also listed in the README) or by the README's "Safety rules, in plain words".
# Allowed: the lab scenario ids, read from the first column of the README's lab table (F1, A5,
# K1, ...), and names of other standards: the Unicode control sets C0 and C1, Kubernetes' V1
# model prefix. A code right after '-' or a word character is not one (-O2, SHA256, X509).
#   check_rule_codes.sh ROOT               check ROOT (lib, daemon, tests, integration, config,
#                                          packaging, systemd, README.md, CMakeLists.txt)
#   check_rule_codes.sh --self-test ROOT   copy ROOT's files, inject undefined codes (in a string
#                                          literal and in a comment) and require the check to
#                                          fail; inject a lab id and require it to pass
set -euo pipefail
self=$(basename "$0")

check() {
  local root=$1
  local defined
  defined=$(grep -oE '^\| [A-Z][0-9]+X? \|' "$root/README.md" | tr -d '| ' | sort -u)
  if [ -z "$defined" ]; then
    echo "rule codes: no lab table found in $root/README.md" >&2
    return 1
  fi
  local allowed
  allowed=$(printf '%s\nC0\nC1\nV1\n' "$defined")
  local paths=()
  for p in lib daemon tests integration config packaging systemd README.md CMakeLists.txt \
           CMakePresets.json; do
    [ -e "$root/$p" ] && paths+=("$root/$p")
  done
  local hits
  hits=$(grep -rnoIP --exclude="$self" '(?<![-\w])[A-Z][0-9]{1,2}(?!\w)' "${paths[@]}" |
         awk -F: 'NR == FNR { ok[$0] = 1; next } !($NF in ok)' <(printf '%s\n' "$allowed") - ||
         true)
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits" >&2
    echo "rule codes: the codes above are defined nowhere in the project; name the rule by its" \
         "id (lib/core/rules.h) or as the README's safety rules do" >&2
    return 1
  fi
}

if [ "${1:-}" = "--self-test" ]; then
  root=$2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  copy() {
    rm -rf "$tmp/root"
    mkdir -p "$tmp/root"
    cp -r "$root/lib" "$root/README.md" "$tmp/root/"
  }
  # Built from pieces so that this file itself holds no such code.
  code="W""4"
  for violation in "return \"$code: plan generation is not above the live one\";" \
                   "// the stale rule ($code)"; do
    copy
    printf '%s\n' "$violation" >>"$tmp/root/lib/core/rules.cc"
    if check "$tmp/root" >/dev/null 2>&1; then
      echo "rule codes self-test: the check missed: $violation" >&2
      exit 1
    fi
  done
  copy
  printf '%s\n' "// what the lab's scenario F1 checks" >>"$tmp/root/lib/core/rules.cc"
  if ! check "$tmp/root"; then
    echo "rule codes self-test: a lab scenario id defined in the README was refused" >&2
    exit 1
  fi
  echo "rule codes self-test: every injected undefined code was caught, the lab id passed"
  exit 0
fi

check "${1:?usage: check_rule_codes.sh ROOT}"
echo "rule codes: ok"
