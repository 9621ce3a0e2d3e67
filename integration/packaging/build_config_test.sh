#!/usr/bin/env bash
# A plain CMake build, as a packager or a newcomer types it, works: no -Werror unless asked for
# (it belongs to the presets and CI), and BUILD_TESTING=OFF builds only what ships (failoverd,
# failoverctl, the man pages). FAILOVERD_FUZZ without the tests is a configure error.
# Compiles through ccache when it is installed (the release build filled it: seconds).
#
#   build_config_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "build_config_test: ok: $what"; else echo "build_config_test: FAIL: $what"; fail=1; fi
}

b="$tmp/b"
cmake -S "$src" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$tmp/configure.log" 2>&1 \
  || { cat "$tmp/configure.log"; echo "build_config_test: FAIL: configure"; exit 1; }
check "no -Werror by default" sh -c "! grep -q -- '-Werror' '$b/compile_commands.json'"
check "warnings are on" grep -q -- '-Wall' "$b/compile_commands.json"
check "nothing from tests/ or integration/ is compiled" \
  sh -c "! grep -qE '\"file\": \"[^\"]*/(tests|integration)/' '$b/compile_commands.json'"
cmake --build "$b" -j 2 >"$tmp/build.log" 2>&1 || { tail -50 "$tmp/build.log"; echo "build_config_test: FAIL: build"; exit 1; }
check "the build printed no warning or note" sh -c "! grep -qE 'warning:|note:' '$tmp/build.log'"
execs=$(find "$b" -type f -perm -u+x -newer "$tmp/configure.log" ! -name '*.sh' ! -path '*/CMakeFiles/*' \
          -exec sh -c 'file -b "$1" | grep -q "^ELF.*executable"' _ {} \; -print | sed "s|^$b/||" | sort | tr '\n' ' ')
check "only failoverd and failoverctl are built (got: $execs)" test "$execs" = "daemon/failoverctl daemon/failoverd "
check "man pages built" test -f "$b/man/failoverd.8.gz" -a -f "$b/man/failoverctl.1.gz"

rc=0
cmake -S "$src" -B "$tmp/fuzz" -G Ninja -DBUILD_TESTING=OFF -DFAILOVERD_FUZZ=ON >"$tmp/fuzz.log" 2>&1 || rc=$?
check "FAILOVERD_FUZZ=ON with BUILD_TESTING=OFF is a configure error that says why" \
  sh -c "[ $rc -ne 0 ] && grep -q 'FAILOVERD_FUZZ=ON needs BUILD_TESTING=ON' '$tmp/fuzz.log'"

[ "$fail" = 0 ] && echo "build_config_test: all checks passed"
exit "$fail"
