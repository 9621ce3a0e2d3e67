#!/usr/bin/env bash
# Builds packaging/container/Dockerfile with podman and runs the image and the Kubernetes pod:
#  1. the base image: the cached `debootstrap --variant=minbase bookworm` root (bookworm_root.sh),
#     `podman import`ed (no registry is reachable), given to the Dockerfile as RUNTIME_BASE (and
#     BUILD_BASE);
#  2. the image: target runtime-prebuilt with the binaries of BUILD_DIR (stage-binaries.sh), or
#     with --full the default target, which compiles the project again in the build stage;
#  3. as uid 10001 with a read-only root file system (no tmpfs either): --version,
#     --check-config on the ConfigMap's config with the Secret's files, `failoverd simulate`, and
#     the demo's failover (config/demo.toml against nginx and BIND on loopback, state in a named
#     volume);
#  4. (not with --full) `podman kube play` of packaging/kubernetes/ through the test-only overlay
#     of kube_overlay.py: the init container's secret copy, the liveness probe as podman's
#     healthcheck, /readyz, and a real failover by RFC 2136 against BIND when the primary dies.
#   podman_test.sh SOURCE_DIR BUILD_DIR [--full]
# Needs root, podman and (the first time, or when runtime-packages.txt changes) the Debian mirror.
# podman keeps its images in BUILD_DIR/container/podman (its own storage, so the cached base
# image and layers go with the build tree). Talks only to 127.0.0.1 (and, building the image, to
# the Debian mirror); in the pod, to 10.0.2.2, which slirp4netns maps to the host's 127.0.0.1.
# Removes every container, pod and volume it made (names carry this run's prefix) and stops the
# servers it started, by PID.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
full=${3:-}
py=/usr/bin/python3
here=$src/integration/container
side=""
fail() {
  echo "FAIL: $*" >&2
  if [ -n "$side" ]; then echo "-- log of $side:" >&2; "${P[@]}" logs --tail 30 "$side" >&2 || true; fi
  exit 1
}
if [ "$(id -u)" -ne 0 ]; then echo "podman_test: needs root; skipped"; exit 77; fi
for c in podman runc catatonit slirp4netns named nginx dig curl; do
  command -v "$c" >/dev/null || fail "$c is missing: run packaging/install-deps.sh"
done

start=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - start ))s]"; }
run_id=fo$$x$(date +%s)
work=$(mktemp -d "/tmp/failoverd-podman-$run_id.XXXXXX")
chmod 0755 "$work"
store=$build/container/podman
# Run and temporary state (locks, conmon sockets) in /run, per storage, as podman expects.
runstate=/run/failoverd-podman-$(printf '%s' "$store" | sha256sum | cut -c1-12)
# runc, named: where crun is installed too podman would prefer it, and crun refuses a hybrid
# cgroup layout.
P=(podman --root "$store/storage" --runroot "$runstate/run" --tmpdir "$runstate/tmp"
   --cgroup-manager=cgroupfs --runtime /usr/bin/runc)
declare -A pid=()
made_containers=() made_pods=() made_volumes=()
cleanup() {
  set +e
  for c in "${made_containers[@]}"; do "${P[@]}" rm -f -t 2 "$c" >/dev/null 2>&1; done
  for p in "${made_pods[@]}"; do "${P[@]}" pod rm -f -t 2 "$p" >/dev/null 2>&1; done
  # Anonymous volumes (the image's VOLUME in containers without a mount there) made meanwhile.
  if [ -n "${volumes_before+x}" ]; then
    for v in $("${P[@]}" volume ls -q); do
      if [[ $v =~ ^[0-9a-f]{64}$ ]] && ! grep -qx "$v" <<<"$volumes_before"; then made_volumes+=("$v"); fi
    done
  fi
  for v in "${made_volumes[@]}"; do "${P[@]}" volume rm -f "$v" >/dev/null 2>&1; done
  for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null; done
  for n in "${!pid[@]}"; do wait "${pid[$n]}" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
# Waits up to $1 seconds for the command after it to succeed (polls every 0.2 s).
wait_for() {
  local limit=$1; shift
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.2
  done
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== base image: the debootstrap root, imported $(elapsed)"
root=$("$here/bookworm_root.sh" "$build")
base=localhost/failoverd-test-base:bookworm-$(stat -c %Y "$root/.complete")
if "${P[@]}" image exists "$base"; then
  echo "cached: $base"
else
  # With the PATH the Debian images have (an imported root has no environment at all).
  tar -C "$root" --exclude=./.complete -c . \
    | "${P[@]}" import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$base" >/dev/null \
    || fail "podman import"
  echo "imported $base"
fi

echo "== OCI runtime: plain runc first $(elapsed)"
if out=$("${P[@]}" run --rm --network=none "$base" /bin/true 2>&1); then
  echo "plain runc works"
elif grep -q "error setting rlimit" <<<"$out"; then
  echo "plain runc refused: $(grep -m1 -o 'error setting rlimit[^:]*: [^:]*' <<<"$out")"
  echo "this kernel refuses setrlimit to containers: using $here/runc_without_rlimits.sh"
  P[${#P[@]}-1]=$here/runc_without_rlimits.sh
  out=$("${P[@]}" run --rm --network=none "$base" /bin/true 2>&1) || fail "runc wrapper: $out"
else
  fail "podman run of the base image: $out"
fi

if [ "$full" = --full ]; then
  image=localhost/failoverd-test:full
  echo "== podman build, default target (the build stage compiles the project) $(elapsed)"
  "${P[@]}" build --network=host -f "$src/packaging/container/Dockerfile" \
    --build-arg "RUNTIME_BASE=$base" --build-arg "BUILD_BASE=$base" -t "$image" "$src" \
    >"$build/container/podman-build-full.log" 2>&1 \
    || { tail -n 30 "$build/container/podman-build-full.log"; fail "podman build (full)"; }
  tail -n 1 "$build/container/podman-build-full.log"
else
  image=localhost/failoverd-test:prebuilt
  echo "== podman build --target runtime-prebuilt, binaries of $build $(elapsed)"
  rm -rf "$build/container/prebuilt"
  "$src/packaging/container/stage-binaries.sh" "$build" "$build/container/prebuilt"
  "${P[@]}" build --network=host -f "$src/packaging/container/Dockerfile" \
    --target runtime-prebuilt --build-context "prebuilt=$build/container/prebuilt" \
    --build-arg "RUNTIME_BASE=$base" -t "$image" "$src" \
    >"$build/container/podman-build.log" 2>&1 \
    || { tail -n 30 "$build/container/podman-build.log"; fail "podman build"; }
  tail -n 1 "$build/container/podman-build.log"
fi
"${P[@]}" image inspect "$image" --format '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Volumes}} {{json .Config.ExposedPorts}}' \
  | tee "$work/config.txt"
[ "$(cat "$work/config.txt")" = '10001:10001 ["failoverd","--config","/etc/failoverd/failoverd.toml"] {"/var/lib/failoverd":{}} {"8649/tcp":{}}' ] \
  || fail "image config is not as the Dockerfile says"
# The image's own files, read back from the image: both binaries are the staged ones.
if [ "$full" != --full ]; then
  for b in failoverd failoverctl; do
    sum=$("${P[@]}" run --rm --network=none --entrypoint sha256sum "$image" "/usr/bin/$b" | cut -d' ' -f1)
    [ "$sum" = "$(sha256sum <"$build/container/prebuilt/usr/bin/$b" | cut -d' ' -f1)" ] \
      || fail "/usr/bin/$b in the image is not the staged binary"
  done
fi

# As the image's user, read-only root, not even the default tmpfs on /tmp, /run, /var/tmp.
RUN=("${P[@]}" run --rm --read-only --read-only-tmpfs=false --user 10001)

echo "== --version $(elapsed)"
out=$("${RUN[@]}" --network=none "$image" --version) || fail "--version: $out"
echo "$out"
[[ $out =~ ^failoverd\ [0-9] ]] || fail "unexpected --version output"

echo "== --check-config on the ConfigMap's config, secrets as the init container leaves them"
layout=$("$py" "$here/pod_files.py" "$src/packaging/kubernetes" "$work/pod")
mkdir -p "$work/pod/run/failoverd/secrets/files"
cp "$work/pod/run/failoverd/secrets-in/"* "$work/pod/run/failoverd/secrets/files/"
chown -R 10001:10001 "$work/pod/run/failoverd/secrets"
chmod 0700 "$work/pod/run/failoverd/secrets/files"
chmod 0400 "$work/pod/run/failoverd/secrets/files/"*
mounts=(-v "$work/pod/etc/failoverd:/etc/failoverd:ro" -v "$work/pod/run/failoverd/secrets:/run/failoverd/secrets:ro")
out=$("${RUN[@]}" --network=none "${mounts[@]}" "$image" --check-config /etc/failoverd/failoverd.toml 2>&1) \
  || fail "check-config: $out"
echo "$out"
[ "$out" = "/etc/failoverd/failoverd.toml: ok" ] || fail "unexpected check-config output"
# The same with the files as kubelet leaves them (group-readable): refused.
chmod 0440 "$work/pod/run/failoverd/secrets/files/"*
if out=$("${RUN[@]}" --network=none "${mounts[@]}" "$image" --check-config /etc/failoverd/failoverd.toml 2>&1); then
  fail "check-config accepted group-readable secrets in the container: $out"
fi
echo "refused as expected (group-readable): $(grep -m1 -o 'open to group or others.*' <<<"$out")"
chmod 0400 "$work/pod/run/failoverd/secrets/files/"*

echo "== failoverd simulate config/scenario-f1-primary-down.toml $(elapsed)"
out=$("${RUN[@]}" --network=none "${mounts[@]}" -v "$src/config/scenario-f1-primary-down.toml:/scenario.toml:ro" \
      --entrypoint failoverd "$image" simulate --config /etc/failoverd/failoverd.toml --scenario /scenario.toml) \
  || fail "simulate: $(tail -5 <<<"$out")"
tail -2 <<<"$out"
grep -q '^result: PASS$' <<<"$out" || fail "simulate did not pass"

# nginx "regions" on loopback: start_nginx NAME PORT...
start_nginx() {
  local name=$1; shift
  mkdir -p "$work/$name/logs"
  {
    echo "daemon off; pid $work/$name/nginx.pid; error_log $work/$name/logs/error.log warn;"
    echo "events { worker_connections 64; } http { access_log off;"
    for port in "$@"; do
      echo "server { listen 127.0.0.1:$port; location /healthz { default_type text/plain; return 200 \"$name ok\n\"; } }"
    done
    echo "}"
  } >"$work/$name/nginx.conf"
  /usr/sbin/nginx -c "$work/$name/nginx.conf" -p "$work/$name" &
  pid[$name]=$!
  for port in "$@"; do
    wait_for 10 curl -fsS "http://127.0.0.1:$port/healthz" || fail "nginx $name on $port did not start"
  done
}
stop() { kill "${pid[$1]}"; wait "${pid[$1]}" 2>/dev/null || true; unset "pid[$1]"; }
# BIND on loopback: start_bind NAME PORT ZONE KEY-NAME SECRET ZONE-FILE-TEXT
start_bind() {
  mkdir -p "$work/$1"
  cat >"$work/$1/named.conf" <<CONF
options {
  directory "$work/$1";
  pid-file "$work/$1/named.pid";
  session-keyfile "$work/$1/session.key";
  listen-on port $2 { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  allow-transfer { none; };
};
controls { };
key "$4" { algorithm hmac-sha256; secret "$5"; };
zone "$3" { type primary; file "$work/$1/zone.db"; allow-update { key "$4"; }; };
CONF
  printf '%s' "$6" >"$work/$1/zone.db"
  /usr/sbin/named -g -4 -n 1 -u root -c "$work/$1/named.conf" >"$work/$1/named.log" 2>&1 &
  pid[$1]=$!
  wait_for 20 dig +short +time=1 +tries=1 @127.0.0.1 -p "$2" "$3" SOA \
    || { tail -20 "$work/$1/named.log"; fail "BIND $1 did not start"; }
}
answer() { dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" A | sort | tr '\n' ' '; }
# Waits up to $3 s for the answer to $2 at port $1 to be $4 (never empty meanwhile).
wait_answer() {
  local deadline=$(( $(date +%s) + $3 )) a
  while :; do
    a=$(answer "$1" "$2")
    [ -n "$a" ] || fail "empty answer for $2"
    [ "$a" = "$4" ] && return 0
    (( $(date +%s) < deadline )) || return 1
    sleep 0.1
  done
}

echo "== the demo's failover in the container (network=host, read-only, uid 10001, state in a volume) $(elapsed)"
east=$(free_port); west=$(free_port); dns=$(free_port); admin=$(free_port)
start_nginx demo-east "$east"
start_nginx demo-west "$west"
start_bind demo-bind "$dns" demo.test. demo-key. "$(tr -d ' \n' <"$src/config/demo-tsig.key")" \
'$TTL 5
@ IN SOA ns.demo.test. hostmaster.demo.test. ( 1 60 60 3600 5 )
@ IN NS ns.demo.test.
ns IN A 127.0.0.1
www IN A 127.0.0.11
_failoverd.www IN TXT "gen=1 writer=bootstrap"
'
mkdir -p "$work/demo-config"
sed -e "s|127.0.0.1:18081|127.0.0.1:$east|; s|127.0.0.1:18082|127.0.0.1:$west|" \
    -e "s|127.0.0.1:15353|127.0.0.1:$dns|; s|127.0.0.1:8649|127.0.0.1:$admin|" \
    -e 's|^state_dir = "/tmp/failoverd-demo"|state_dir = "/var/lib/failoverd/state"|' \
    "$src/config/demo.toml" >"$work/demo-config/failoverd.toml"
for k in east west dns admin; do
  grep -q "127.0.0.1:${!k}" "$work/demo-config/failoverd.toml" || fail "demo config: no port for $k"
done
grep -q '^state_dir = "/var/lib/failoverd/state"' "$work/demo-config/failoverd.toml" || fail "demo config: state_dir"
cp "$src/config/demo-tsig.key" "$src/config/demo-admin.token" "$work/demo-config/"
chown -R 10001:10001 "$work/demo-config"
chmod 0700 "$work/demo-config"
chmod 0400 "$work/demo-config/"*
vol=$run_id-demo-state
"${P[@]}" volume create "$vol" >/dev/null
made_volumes+=("$vol")
demo=$run_id-demo
made_containers+=("$demo")
"${P[@]}" run -d --name "$demo" --read-only --read-only-tmpfs=false --user 10001 --network=host \
  -v "$work/demo-config:/etc/failoverd:ro" -v "$vol:/var/lib/failoverd" "$image" >/dev/null \
  || fail "podman run of the demo"
if ! wait_for 30 curl -fsS "http://127.0.0.1:$admin/readyz"; then
  "${P[@]}" logs "$demo" 2>&1 | tail -20
  fail "the container did not become ready"
fi
echo "ready; www.demo.test. answers $(answer "$dns" www.demo.test.)"
[ "$("${P[@]}" top "$demo" huser | tail -n +2 | sort -u | xargs)" = 10001 ] \
  || fail "failoverd in the container does not run as uid 10001"
ctl() { "${P[@]}" exec "$demo" failoverctl --config /etc/failoverd/failoverd.toml "$@"; }
confirmed_up() { ctl --json why www | grep -q "\"name\":\"$1\",\"confirmed\":\"up\""; }
wait_for 20 confirmed_up east || fail "east never confirmed up"
wait_for 20 confirmed_up west || fail "west never confirmed up"
[ "$(answer "$dns" www.demo.test.)" = "127.0.0.11 " ] || fail "www.demo.test. is not on east before the failure"
echo "region east goes down: stopping its nginx"
stop demo-east
wait_answer "$dns" www.demo.test. 30 "127.0.0.12 " || { "${P[@]}" logs "$demo" 2>&1 | tail -20; fail "no failover within 30 s"; }
echo "failover: www.demo.test. now answers $(answer "$dns" www.demo.test.)"
ctl status
# The state went to the volume, as the image's user; nothing else could be written.
mp=$("${P[@]}" volume inspect "$vol" --format '{{.Mountpoint}}')
ls -ln "$mp/state"
[ "$(stat -c %u "$mp/state")" = 10001 ] || fail "state dir in the volume is not owned by 10001"
[ -n "$(ls -A "$mp/state")" ] || fail "nothing persisted in the volume"
if "${P[@]}" exec "$demo" sh -c 'echo x >/etc/x || echo x >/tmp/x' 2>/dev/null; then
  fail "the container's root file system is writable"
fi
"${P[@]}" stop -t 10 "$demo" >/dev/null
code=$("${P[@]}" inspect "$demo" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || fail "failoverd exited $code on SIGTERM"
stop demo-west; stop demo-bind
echo "demo in the container: passed $(elapsed)"

if [ "$full" = --full ]; then
  echo "podman_test (full build): all checks passed in $(( $(date +%s) - start ))s"
  exit 0
fi

echo "== podman kube play of packaging/kubernetes/ $(elapsed)"
# The liveness probe becomes podman's healthcheck, an HTTP GET by curl inside the container:
# a test-only layer adds curl (kubelet probes from outside and needs nothing in the image).
probe_image=localhost/failoverd-test:probe
printf 'FROM %s\nUSER 0\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nUSER 10001:10001\n' "$image" \
  >"$work/Containerfile.probe"
"${P[@]}" build --network=host -f "$work/Containerfile.probe" -t "$probe_image" "$work" \
  >"$build/container/podman-build-probe.log" 2>&1 \
  || { tail -20 "$build/container/podman-build-probe.log"; fail "podman build of the probe layer"; }
secret=$(sed -n '/tsig.key: |/{n;p}' "$src/packaging/kubernetes/secret.yaml" | tr -d ' ')
[ -n "$secret" ] || fail "no tsig.key in secret.yaml"
token=$(sed -n '/admin-tokens: |/{n;p}' "$src/packaging/kubernetes/secret.yaml" | tr -d ' ' | cut -d: -f2)
e1=$(free_port); e2=$(free_port); w=$(free_port); dns=$(free_port); admin=$(free_port); app=$(free_port)
start_nginx pod-east "$e1" "$e2"
start_nginx pod-west "$w"
start_bind pod-bind "$dns" example.com. failoverd. "$secret" \
'$TTL 30
@ IN SOA ns1.example.com. hostmaster.example.com. ( 1 60 60 3600 30 )
@ IN NS ns1.example.com.
ns1 IN A 127.0.0.1
www IN A 192.0.2.10
www IN A 192.0.2.11
_failoverd.www IN TXT "gen=1 writer=bootstrap"
'
secret_dir=$work/pod/run/failoverd/secrets-in
settings=$(printf '{"prefix": "%s", "image": "%s", "app_image": "%s", "host": "10.0.2.2",
  "admin_host_port": %d, "app_host_port": %d, "east": [%d, %d], "west": %d, "dns": %d,
  "secret_dir": "%s"}' "$run_id" "$probe_image" "$base" "$admin" "$app" "$e1" "$e2" "$w" "$dns" \
  "$secret_dir")
ls -ln "$secret_dir"   # the Secret's files as kubelet leaves them with fsGroup
"$py" "$here/kube_overlay.py" "$src/packaging/kubernetes" "$settings" >"$work/kube.yaml"
podname=$run_id-pod-0
made_pods+=("$podname")
for v in config secrets state failoverd-config; do made_volumes+=("$run_id-$v"); done
volumes_before=$("${P[@]}" volume ls -q)
if ! out=$("${P[@]}" kube play --network slirp4netns:allow_host_loopback=true "$work/kube.yaml" 2>&1); then
  echo "$out" | grep -v '^\s' | tail -20
  "${P[@]}" ps -a --pod --filter "pod=$podname" || true
  fail "podman kube play"
fi
side=$podname-failoverd
"${P[@]}" ps -a --pod --filter "pod=$podname" --format '{{.Names}} {{.Status}}'

echo "-- the init container copied the Secret's files"
init=$podname-failoverd-secrets
if "${P[@]}" container exists "$init"; then
  [ "$("${P[@]}" inspect "$init" --format '{{.State.ExitCode}}')" = 0 ] || fail "init container failed"
fi
out=$("${P[@]}" exec "$side" sh -c 'id -u; stat -c "%a %u %n" /run/failoverd/secrets/files /run/failoverd/secrets/files/*') \
  || fail "podman exec in the sidecar"
echo "$out"
[ "$out" = "10001
700 10001 /run/failoverd/secrets/files
400 10001 /run/failoverd/secrets/files/admin-tokens
400 10001 /run/failoverd/secrets/files/tsig.key" ] || fail "the secrets are not as the init container should leave them"
"${P[@]}" exec -i "$side" sh -c 'cmp /run/failoverd/secrets/files/tsig.key -' <<<"$secret" \
  || fail "the copied tsig.key is not the Secret's"

echo "-- readiness: /readyz through the pod's published admin port"
wait_for 40 curl -fsS "http://127.0.0.1:$admin/readyz" \
  || { "${P[@]}" logs "$side" 2>&1 | tail -20; fail "the sidecar never became ready"; }
echo "/readyz: $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/readyz")"
hc=$("${P[@]}" inspect "$side" --format '{{json .Config.Healthcheck}}')
echo "liveness probe as podman maps it: $hc, on failure: $("${P[@]}" inspect "$side" --format '{{.Config.HealthcheckOnFailureAction}}')"
grep -qF '"http://localhost:8649/healthz"' <<<"$hc" || fail "the liveness probe is not the sidecar's healthcheck"
n=$("${P[@]}" inspect "$side" | grep -c readyz || true)
echo "readiness probe: $([ "$n" = 0 ] && echo 'not mapped by podman (no trace of /readyz in the container)' || echo "in the container's config ($n lines)")"
out=$(timeout 30 "${P[@]}" healthcheck run "$side" 2>&1) || fail "healthcheck (liveness /healthz) failed: $out"
echo "podman healthcheck run (the liveness probe): ${out:-healthy}"
[ "$("${P[@]}" inspect "$side" --format '{{.State.Health.Status}}')" = healthy ] || fail "not healthy"

echo "-- failover: region east dies"
status() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$admin/v1/status"; }
status >/dev/null || fail "/v1/status with the Secret's token"
[ "$(answer "$dns" www.example.com.)" = "192.0.2.10 192.0.2.11 " ] || fail "www.example.com. is not on east before"
stop pod-east
wait_answer "$dns" www.example.com. 40 "198.51.100.10 " \
  || { "${P[@]}" logs "$side" 2>&1 | tail -20; fail "no failover within 40 s"; }
echo "www.example.com. now answers $(answer "$dns" www.example.com.); fence: $(dig +short @127.0.0.1 -p "$dns" _failoverd.www.example.com. TXT)"
status | "$py" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d)[:400])'
echo "-- liveness: the healthcheck fails while failoverd does not answer (SIGSTOP), passes again after"
# From the host: inside its PID namespace failoverd is PID 1, which ignores SIGSTOP from there.
fpid=$("${P[@]}" inspect "$side" --format '{{.State.Pid}}')
[[ $fpid =~ ^[0-9]+$ ]] && [ "$fpid" -gt 1 ] && grep -q failoverd "/proc/$fpid/comm" \
  || fail "no failoverd process for $side (pid '$fpid')"
kill -STOP "$fpid"
t0=$(date +%s)
# podman 4.3 does not enforce the probe's timeoutSeconds on a healthcheck run by hand: curl
# waits for the stopped failoverd until timeout(1) ends it.
if out=$(timeout 8 "${P[@]}" healthcheck run "$side" 2>&1); then
  kill -CONT "$fpid"
  fail "healthcheck passed while failoverd was stopped: $out"
fi
echo "while stopped: did not pass ($(( $(date +%s) - t0 ))s${out:+: $out}); health status after one failure of the 3 allowed: $("${P[@]}" inspect "$side" --format '{{.State.Health.Status}}')"
kill -CONT "$fpid"
wait_for 10 timeout 10 "${P[@]}" healthcheck run "$side" || fail "healthcheck did not pass again after SIGCONT"
echo "after SIGCONT: $("${P[@]}" inspect "$side" --format '{{.State.Health.Status}}')"
"${P[@]}" pod rm -f -t 3 "$podname" >/dev/null 2>&1
echo "podman_test: all checks passed in $(( $(date +%s) - start ))s"
