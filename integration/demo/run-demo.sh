#!/usr/bin/env bash
# The built-in demo: two local "regions" (an nginx each), an authoritative BIND9 holding
# www.demo.test. with a TSIG key, and failoverd on config/demo.toml. It shows the answer, stops
# the primary region's nginx, and shows failoverd moving www.demo.test. to the standby with one
# compare-and-swap UPDATE. Then it keeps running (Ctrl-C stops everything it started), or with
# --once checks the failover happened and exits 0/1 (CI runs it that way).
#
#   integration/demo/run-demo.sh BUILD_DIR [--once]
#
# Only 127.0.0.1: ports 18081/18082 (regions), 15353 (DNS), 8649 (admin). Every wait is bounded.
# Stops only the processes it started, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run-demo.sh BUILD_DIR [--once]}" && pwd)
once=${2:-}
failoverd=$build/daemon/failoverd
failoverctl=$build/daemon/failoverctl
work=$(mktemp -d /tmp/failoverd-demo-world.XXXXXX)
declare -A pid=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for name in "${!pid[@]}"; do kill "${pid[$name]}" 2>/dev/null || true; done
  for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local limit=$1; shift
  local deadline=$(( $(date +%s%N) + limit * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s%N) < deadline )) || return 1
    sleep 0.1
  done
}
answer() { dig +short +time=1 +tries=1 @127.0.0.1 -p 15353 www.demo.test. A | sort | tr '\n' ' '; }
fence() { dig +short +time=1 +tries=1 @127.0.0.1 -p 15353 _failoverd.www.demo.test. TXT; }

chmod 600 "$root"/config/demo-tsig.key "$root"/config/demo-admin.token

say "starting region east (nginx on 127.0.0.1:18081) and region west (127.0.0.1:18082)"
for region in east:18081 west:18082; do
  name=${region%%:*}; port=${region##*:}
  mkdir -p "$work/$name/logs"
  cat >"$work/$name/nginx.conf" <<CONF
daemon off;
pid $work/$name/nginx.pid;
error_log $work/$name/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port;
    location /healthz { default_type text/plain; return 200 "$name ok\n"; }
  }
}
CONF
  /usr/sbin/nginx -c "$work/$name/nginx.conf" -p "$work/$name" &
  pid[nginx-$name]=$!
done

say "starting BIND9 on 127.0.0.1:15353 with zone demo.test. (updates need TSIG key demo-key.)"
mkdir -p "$work/bind"
secret=$(tr -d ' \n' <"$root/config/demo-tsig.key")
cat >"$work/bind/named.conf" <<CONF
options {
  directory "$work/bind";
  pid-file "$work/bind/named.pid";
  listen-on port 15353 { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-transfer { none; };
};
key "demo-key." { algorithm hmac-sha256; secret "$secret"; };
zone "demo.test." { type primary; file "$work/bind/demo.test.zone"; allow-update { key "demo-key."; }; };
CONF
cat >"$work/bind/demo.test.zone" <<ZONE
\$TTL 5
@        IN SOA ns.demo.test. hostmaster.demo.test. ( 1 60 60 3600 5 )
@        IN NS  ns.demo.test.
ns       IN A   127.0.0.1
www      IN A   127.0.0.11
; The fence: the generation of www's routing and who wrote it. failoverd compare-and-swaps it.
_failoverd.www IN TXT "gen=1 writer=bootstrap"
ZONE
/usr/sbin/named -g -c "$work/bind/named.conf" >"$work/bind/named.log" 2>&1 &
pid[named]=$!
wait_for 20 dig +short +time=1 +tries=1 @127.0.0.1 -p 15353 demo.test. SOA || { cat "$work/bind/named.log"; exit 1; }

say "starting failoverd (config/demo.toml); its log is below, indented"
"$failoverd" --config "$root/config/demo.toml" > >(sed 's/^/    /') 2>&1 &
pid[failoverd]=$!
wait_for 20 curl -fsS http://127.0.0.1:8649/readyz || { echo "failoverd did not become ready"; exit 1; }
ctl() { "$failoverctl" --config "$root/config/demo.toml" "$@"; }
export -f ctl 2>/dev/null || true
# Both regions confirmed up and the live generation read before anything is broken.
confirmed_up() { ctl --json why www | grep -q "\"name\":\"$1\",\"confirmed\":\"up\""; }
wait_for 20 confirmed_up east || { echo "east never confirmed up"; ctl why www; exit 1; }
wait_for 20 confirmed_up west || { echo "west never confirmed up"; ctl why www; exit 1; }

say "www.demo.test. answers: $(answer)  fence: $(fence)"
ctl status

say "region east goes down: stopping its nginx (pid ${pid[nginx-east]})"
kill "${pid[nginx-east]}"; wait "${pid[nginx-east]}" 2>/dev/null || true; unset 'pid[nginx-east]'
start=$(date +%s%N)
switched=0
# Watch the authoritative answer every 10 ms for up to 20 s; it must never be empty.
for _ in $(seq 1 2000); do
  a=$(answer)
  if [ -z "$a" ]; then echo "FAIL: empty answer for www.demo.test."; exit 1; fi
  if [ "$a" = "127.0.0.12 " ]; then switched=1; break; fi
  sleep 0.01
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$switched" != 1 ]; then echo "FAIL: no failover within 20 s"; ctl status || true; exit 1; fi

say "www.demo.test. now answers: $(answer)  fence: $(fence)   (switched ${elapsed_ms} ms after east died)"
ctl status
say "why (per-region verdicts and evidence)"
ctl why www
say "decision journal"
ctl events --limit 12

if [ "$once" = "--once" ]; then
  say "demo passed"
  exit 0
fi
say "still running. Try: $failoverctl --config $root/config/demo.toml status | why www | events --follow"
echo "   Ctrl-C stops failoverd, BIND and nginx."
wait "${pid[failoverd]}"
