#!/usr/bin/env bash
# Fails when lib/core includes an I/O library or reads a clock. The core takes time as an input.
#   check_core_purity.sh DIR               check DIR
#   check_core_purity.sh --self-test DIR   copy DIR, add a violation, and require the check to fail
set -euo pipefail
pattern_include='#[[:space:]]*include[[:space:]]*[<"](boost/asio|boost/beast|openssl/|ares|prometheus/|toml\+\+|systemd/|asio)'
pattern_clock='(steady_clock|system_clock|high_resolution_clock)::now[[:space:]]*\(|[^_a-z]time[[:space:]]*\([[:space:]]*(NULL|nullptr|0)?[[:space:]]*\)|clock_gettime|gettimeofday'

check() {
  local dir=$1 bad=0
  if grep -rnE "$pattern_include" "$dir" --include='*.h' --include='*.cc'; then
    echo "core purity: lib/core must not include I/O libraries (above)" >&2
    bad=1
  fi
  if grep -rnE "$pattern_clock" "$dir" --include='*.h' --include='*.cc'; then
    echo "core purity: lib/core must not read a clock; pass the time in (above)" >&2
    bad=1
  fi
  return $bad
}

if [ "${1:-}" = "--self-test" ]; then
  dir=$2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for violation in '#include <boost/asio/io_context.hpp>' \
                   'auto t = std::chrono::steady_clock::now();' \
                   '#include <openssl/ssl.h>'; do
    rm -rf "$tmp/core"; cp -r "$dir" "$tmp/core"
    printf '%s\n' "$violation" >>"$tmp/core/types.cc"
    if check "$tmp/core" >/dev/null 2>&1; then
      echo "core purity self-test: the check missed: $violation" >&2
      exit 1
    fi
  done
  echo "core purity self-test: every injected violation was caught"
  exit 0
fi

check "${1:?usage: check_core_purity.sh DIR}"
echo "core purity: ok"
