#!/usr/bin/env bash
# Checks that the man pages and the programs agree:
#  - every option the built program's --help lists appears in its man page;
#  - every option the man page's SYNOPSIS, OPTIONS and COMMANDS sections name is an option the
#    program's source parses (a string literal in its main), so a flag that does not exist (or
#    no longer does) cannot be documented;
#  - the version in each page's .TH line is the one the built program prints.
#
#   man_test.sh SOURCE_DIR FAILOVERD_BINARY FAILOVERCTL_BINARY
set -euo pipefail
src=$(cd "$1" && pwd)
failoverd=$2 failoverctl=$3
fail=0

# Options (--long, -x) named in the given sections of a man page source.
man_options() { # PAGE SECTION...
  local page=$1; shift
  local sections
  sections=$(printf '%s|' "$@")
  awk -v want="^(${sections%|})\$" '
    /^\.SH / { name = $0; sub(/^\.SH "?/, "", name); sub(/"$/, "", name); on = (name ~ want); next }
    on { print }' "$page" |
    grep -oE '\\-(\\-[a-z]([a-z]|\\-)*|[a-zA-Z]\b)' | sed 's/\\//g' | sort -u
}

# Options a program's --help lists.
help_options() { # PROGRAM [ARGS...]
  "$@" --help | grep -oE '(^|[[:space:][])(--[a-z][a-z-]*|-[a-zA-Z])\b' | tr -d ' [' | sort -u
}

check_page() { # PAGE PROGRAM "SOURCES..." "SUB-COMMANDS WITH A --help OF THEIR OWN"
  local page=$1 program=$2 sources=$3 subcommands=$4 opt
  local name
  name=$(basename "$page")
  local cmd helped=0
  for cmd in "" $subcommands; do
    # shellcheck disable=SC2086
    for opt in $(help_options "$program" $cmd); do
      helped=$((helped + 1))
      grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$page" \
        || { echo "man_test: $name does not document $opt (listed by $(basename "$program")${cmd:+ $cmd} --help)"; fail=1; }
    done
  done
  [ "$helped" -gt 0 ] || { echo "man_test: no options found in $(basename "$program") --help"; fail=1; }
  for opt in $(man_options "$page" SYNOPSIS OPTIONS COMMANDS); do
    # shellcheck disable=SC2086
    grep -qF -- "\"$opt\"" $sources \
      || { echo "man_test: $name documents $opt, which $(basename "$program") does not parse"; fail=1; }
  done
  local want got
  want=$(sed -nE 's/^\.TH .*"failoverd ([0-9.]+)".*/\1/p' "$page")
  got=$("$program" --version | awk '{print $2}')
  [ -n "$want" ] && [ "$want" = "$got" ] \
    || { echo "man_test: $name says version '$want', $(basename "$program") --version says '$got'"; fail=1; }
  echo "man_test: checked $name: $helped options from --help, $(man_options "$page" SYNOPSIS OPTIONS COMMANDS | wc -l) from the page"
}

check_page "$src/packaging/man/failoverd.8" "$failoverd" \
  "$src/daemon/failoverd_main.cc $src/daemon/failoverd_simulate.cc" simulate
check_page "$src/packaging/man/failoverctl.1" "$failoverctl" "$src/daemon/failoverctl_main.cc" ""

[ "$fail" = 0 ] && echo "man_test: ok"
exit "$fail"
