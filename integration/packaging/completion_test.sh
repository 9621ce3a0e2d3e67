#!/usr/bin/env bash
# The bash completion for failoverctl, as installed and as bash-completion loads it:
#  - `cmake --install` (DESTDIR) puts it at /usr/share/bash-completion/completions/failoverctl,
#    where bash-completion's loader finds it (`__load_completion failoverctl`);
#  - COMPREPLY for commands, option prefixes, a command's own options and file arguments;
#  - service and region names asked of a real failoverd on 127.0.0.1 (--admin with a token file
#    or FAILOVERD_TOKEN, and --config), and nothing (quickly) when no daemon answers;
#  - every command and option that `failoverctl --help` lists is completed, and nothing else, so
#    the script cannot silently fall behind the program.
#
#   completion_test.sh SOURCE_DIR BUILD_DIR FAILOVERD FAILOVERCTL
# Talks only to 127.0.0.1. Every wait is bounded. Stops only the process it started, by PID.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
failoverd=$3 failoverctl=$4
tmp=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "completion_test: ok: $1"; }
bad() { echo "completion_test: FAIL: $1"; fail=1; }

bash_completion=/usr/share/bash-completion/bash_completion
[ -r "$bash_completion" ] || { echo "completion_test: $bash_completion missing (package bash-completion)"; exit 1; }

# --- installed where bash-completion looks ----------------------------------------------------
# Installs what the build made (the tests run after it; cmake --install builds nothing).
DESTDIR="$tmp/root" cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; echo "completion_test: cmake --install failed"; exit 1; }
installed="$tmp/root/usr/share/bash-completion/completions/failoverctl"
if [ -f "$installed" ] && cmp -s "$installed" "$src/packaging/bash-completion/failoverctl"; then
  ok "cmake --install puts packaging/bash-completion/failoverctl at /usr/share/bash-completion/completions/failoverctl"
else
  bad "no (or another) /usr/share/bash-completion/completions/failoverctl after cmake --install"
  exit 1
fi

# Loaded on demand by bash-completion from the installed tree (XDG_DATA_DIRS/bash-completion/
# completions), as an interactive shell would on the first TAB after "failoverctl ".
loaded=$(XDG_DATA_DIRS="$tmp/root/usr/share" BASH_COMPLETION_USER_DIR="$tmp/none" bash --norc --noprofile -c "
  source $bash_completion
  __load_completion failoverctl && complete -p failoverctl" 2>&1) || true
if [[ $loaded == *"-F _failoverctl failoverctl"* ]]; then
  ok "bash-completion's loader finds it: $loaded"
else
  bad "bash-completion did not load a completion for failoverctl from the installed tree: $loaded"
fi

# --- a COMPREPLY for a command line -----------------------------------------------------------
# Splits LINE the way bash does for completion (blanks, and ':' '=' as words of their own), sets
# COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT, calls the completion function and prints COMPREPLY
# one per line, sorted. The program word is the built failoverctl, so that is what it asks.
cat >"$tmp/complete.sh" <<'EOF'
set -u
source /usr/share/bash-completion/bash_completion
source "$1"
program=$2 line=$3
words=("$program")
rest=${line}
while [[ -n $rest ]]; do
  if [[ $rest == [[:space:]]* ]]; then rest=${rest#?}; continue; fi
  if [[ $rest == [:=]* ]]; then words+=("${rest:0:1}"); rest=${rest:1}; continue; fi
  w=${rest%%[[:space:]:=]*}
  words+=("$w"); rest=${rest:${#w}}
done
[[ -z $line || $line == *[[:space:]:=] ]] && words+=("")
COMP_WORDS=("${words[@]}")
COMP_CWORD=$((${#words[@]} - 1))
COMP_LINE="$program $line"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
cur=${words[COMP_CWORD]} prev=${words[COMP_CWORD-1]}
_failoverctl "$program" "$cur" "$prev"
((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort
exit 0
EOF
complete_line() { # LINE: COMPREPLY, sorted, one per line
  (cd "$tmp/work" && bash --norc --noprofile "$tmp/complete.sh" "$installed" "$failoverctl" "$1")
}
words_of() { tr ' ' '\n' <<<"$*" | { grep -v '^$' || true; } | sort; }
expect() { # LINE EXPECTED-WORDS...  (COMPREPLY must be exactly these)
  local line=$1; shift
  local got want
  got=$(complete_line "$line")
  want=$(words_of "$@")
  if [ "$got" = "$want" ]; then
    ok "'failoverctl $line' -> $(tr '\n' ' ' <<<"$got")"
  else
    bad "'failoverctl $line': want [$(tr '\n' ' ' <<<"$want")], got [$(tr '\n' ' ' <<<"$got")]"
  fi
}

mkdir -p "$tmp/work/confs" "$tmp/work/empty"
touch "$tmp/work/edge.toml" "$tmp/work/notes.txt" "$tmp/work/confs/a.toml"

# --- what failoverctl --help says ---------------------------------------------------------------
help=$("$failoverctl" --help)
section() { awk -v want="$1:" '$0 == want { on = 1; next } on && /^$/ { exit } on' <<<"$help"; }
help_commands=$(section commands | awk '/^  [a-z]/ { print $1 }' | sort -u)
help_global=$(section options | grep -oE '^  --[a-z-]+' | tr -d ' ' | sort -u)
[ "$(wc -l <<<"$help_commands")" -ge 8 ] || bad "found only [$help_commands] in failoverctl --help"
[ "$(wc -l <<<"$help_global")" -ge 8 ] || bad "found only [$help_global] in failoverctl --help"

# Every command --help lists, and nothing else, for an empty line (and after global options).
# shellcheck disable=SC2086  # the lists are words
expect "" $help_commands
expect "--json --timeout 2s " $help_commands
expect "fail" failover failback
expect "un" unfreeze unpin
# Every option --help lists for a command (its line of the commands section) and every global
# option, and nothing else, after that command.
while read -r cmd; do
  own=$(section commands | awk -v c="$cmd" '$1 == c' | grep -oE -- '--[a-z-]+' | sort -u || true)
  expect "$cmd www --" $help_global $own --help --version
done <<<"$help_commands"
# An option prefix: global options anywhere, a command's own only after it.
expect "--t" --timeout --token-file --token-name
expect "failover www --t" --timeout --to --token-file --token-name
expect "events --" $help_global --limit --follow --help --version
expect "status --f"
# File arguments: --config offers *.toml and directories; --token-file any file.
expect "--config " confs edge.toml empty
expect "--config co" confs
expect "--token-file no" notes.txt
expect "--timeout " 1s 2s 5s 10s 30s
expect "--reason "
expect "why www extra"

# --- names from a real daemon ---------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="completion-test-token-0123456789"
printf 'ops:%s\nviewer:%s-2\n' "$token" "$token" >"$tmp/tokens"
chmod 600 "$tmp/tokens"
mkdir "$tmp/state"
cat >"$tmp/work/failoverd.toml" <<EOF
[observer]
id = "completion"
state_dir = "$tmp/state"

[admin]
listen = "127.0.0.1:$port"
token_file = "$tmp/tokens"

[regions.east]
[[regions.east.endpoints]]
name = "east-1"
kind = "tcp"
address = "127.0.0.1:9"

[regions.west]
[[regions.west.endpoints]]
name = "west-1"
kind = "tcp"
address = "127.0.0.1:9"

[services.www]
regions = ["east", "west"]
[services.www.publish]
east = ["be-east"]
west = ["be-west"]
[services.www.target]
kind = "haproxy"
address = "127.0.0.1:9"
backend = "app"

[services.lb]
regions = ["west"]
[services.lb.publish]
west = ["be-west"]
[services.lb.target]
kind = "haproxy"
address = "127.0.0.1:9"
backend = "lb"
EOF

# No daemon yet: nothing to offer, and no wait (a refused connection, not the 1 s limit).
expect "--admin 127.0.0.1:$port --token-file $tmp/tokens why "

"$failoverd" --config "$tmp/work/failoverd.toml" >"$tmp/failoverd.log" 2>&1 &
daemon_pid=$!
up=0
for _ in $(seq 1 100); do
  if FAILOVERD_TOKEN=$token "$failoverctl" --admin "127.0.0.1:$port" --timeout 1s status >/dev/null 2>&1; then
    up=1
    break
  fi
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$up" = 1 ] || { cat "$tmp/failoverd.log"; echo "completion_test: failoverd did not answer on 127.0.0.1:$port"; exit 1; }

expect "--admin 127.0.0.1:$port --token-file $tmp/tokens why " lb www
expect "--admin 127.0.0.1:$port --token-file $tmp/tokens failover w" www
expect "--admin 127.0.0.1:$port --token-file $tmp/tokens --token-name " ops viewer
expect "--admin 127.0.0.1:$port --token-file $tmp/tokens --token-name viewer pin " lb www
expect "--config failoverd.toml freeze " lb www
expect "--config failoverd.toml failover www --to " east west
expect "--config failoverd.toml pin www --reason x --to w" west
expect "--config failoverd.toml failover lb --to " west
expect "--config failoverd.toml failover nosuch --to "
expect "--config failoverd.toml status "
expect "--config 'failoverd.toml' freeze " lb www
got=$(HOME=$tmp/work complete_line "--config ~/failoverd.toml freeze ")
[ "$got" = "$(words_of lb www)" ] && ok "--config ~/FILE: services" || bad "--config ~/FILE: got [$got]"
# Words of the line are never evaluated by the shell: a command substitution stays text.
expect "--config \"\$(touch $tmp/evaluated)\" freeze "
[ ! -e "$tmp/evaluated" ] && ok "a \$(...) on the line is not run" || bad "a \$(...) on the line was run"
expect "--config failoverd.toml events "
got=$(FAILOVERD_TOKEN=$token complete_line "--admin 127.0.0.1:$port restore ")
[ "$got" = "$(words_of lb www)" ] && ok "FAILOVERD_TOKEN: services" || bad "FAILOVERD_TOKEN: got [$got]"
got=$(FAILOVERD_TOKEN=wrong-token-wrong-token complete_line "--admin 127.0.0.1:$port restore ")
[ -z "$got" ] && ok "a refused token: nothing offered" || bad "a refused token: got [$got]"
got=$(FAILOVERCTL_COMPLETION_OFFLINE=1 complete_line "--config failoverd.toml freeze ")
[ -z "$got" ] && ok "FAILOVERCTL_COMPLETION_OFFLINE=1: the daemon is not asked" \
  || bad "FAILOVERCTL_COMPLETION_OFFLINE=1: got [$got]"

[ "$fail" = 0 ] && echo "completion_test: all checks passed"
exit "$fail"
