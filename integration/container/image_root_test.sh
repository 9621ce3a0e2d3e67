#!/usr/bin/env bash
# Replays the runtime stages (runtime-base, runtime) of packaging/container/Dockerfile without a
# container engine:
# debootstrap (minbase, bookworm) stands in for debian:12-slim, then each COPY, RUN (in a chroot),
# ENV, USER, VOLUME, EXPOSE and ENTRYPOINT of that stage is carried out or checked as written, so
# the image and this test cannot drift apart. The build stage's binaries come from BUILD_DIR,
# staged by the same script the Dockerfile runs. Then, as the image's numeric user:
# `failoverd --version`, the pod's init container and `--check-config` on the Kubernetes
# ConfigMap's config laid out as kubelet would, and `failoverd simulate` on a scenario.
#   image_root_test.sh SOURCE_DIR BUILD_DIR
# Needs root (debootstrap, chroot) and the Debian mirror the first time; the debootstrap root is
# cached in BUILD_DIR/container/bookworm-minbase. Exit 77 (skipped) when not root.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
py=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "image_root_test: needs root (chroot); skipped"; exit 77; fi
command -v debootstrap >/dev/null || bash "$src/packaging/install-deps.sh"

root=$("$src/integration/container/bookworm_root.sh" "$build" "$build/container/image-root")
stage=$build/container/build-stage
rm -rf "$stage"

# The Dockerfile as a list of (stage, instruction, argument) with continuation lines joined; the
# stage is its AS name, and ${ARG} in FROM is replaced by the ARG's default (the image's default).
steps=$("$py" - "$src/packaging/container/Dockerfile" <<'PY'
import json, re, sys
text = re.sub(r"\\\n\s*", " ", open(sys.argv[1]).read())
stage, args = None, {}
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    op, _, arg = line.partition(" ")
    op, arg = op.upper(), arg.strip()
    if op == "ARG" and stage is None:
        name, _, default = arg.partition("=")
        args[name] = default
        continue
    if op == "FROM":
        arg = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], arg)
        stage = arg.split()[-1] if " AS " in arg.upper() else arg
    print(json.dumps([stage, op, arg]))
PY
)
field() { "$py" -c 'import json,sys; print(json.loads(sys.argv[1])[int(sys.argv[2])])' "$1" "$2"; }

echo "== build stage: checked, binaries from $build"
grep -q '^\["build", "FROM", "debian:12 AS build"\]' <<<"$steps" || fail "build stage is not FROM debian:12 AS build"
grep -q 'cmake --preset release' <<<"$steps" || fail "build stage does not use the release preset"
grep -qF '["build", "RUN", "packaging/container/stage-binaries.sh build/release /out"]' <<<"$steps" \
  || fail "build stage does not stage the binaries with stage-binaries.sh build/release /out"
"$src/packaging/container/stage-binaries.sh" "$build" "$stage/out"

# The default target is the last stage: runtime, the runtime-base stage plus the build stage's
# binaries. runtime-prebuilt (the same with staged binaries) is built by podman_test.sh.
[ "$(tail -1 <<<"$steps" | "$py" -c 'import json,sys; print(json.load(sys.stdin)[0])')" = runtime ] \
  || fail "the last stage (the default target) is not runtime"
grep -qF '["runtime", "FROM", "runtime-base AS runtime"]' <<<"$steps" || fail "runtime is not FROM runtime-base"
echo "== runtime stages (runtime-base, runtime), replayed in $root"
env_vars=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
user="" entrypoint="" expose="" volume=""
copied=()
while IFS= read -r step; do
  case "$(field "$step" 0)" in runtime-base|runtime) ;; *) continue ;; esac
  op=$(field "$step" 1)
  arg=$(field "$step" 2)
  echo "-- $op $arg"
  case "$op" in
    FROM) [ "$arg" = "debian:12-slim AS runtime-base" ] || [ "$arg" = "runtime-base AS runtime" ] \
            || fail "runtime stage is FROM $arg, this test stands in for debian:12-slim" ;;
    ENV) env_vars+=("$arg") ;;
    COPY)
      read -r -a words <<<"$arg"
      from="$src"
      if [[ ${words[0]} == --from=build ]]; then from="$stage"; words=("${words[@]:1}"); fi
      dest=${words[-1]}
      if [[ $dest == */ ]]; then mkdir -p "$root$dest"; else mkdir -p "$root$(dirname "$dest")"; fi
      for s in "${words[@]:0:${#words[@]}-1}"; do
        if [[ $s == */ ]]; then cp -a "$from/${s#/}." "$root$dest"; else cp -a "$from/${s#/}" "$root$dest"; fi
        copied+=("$s -> $dest")
      done ;;
    RUN) env -i "${env_vars[@]}" chroot "$root" /bin/sh -c "$arg" || fail "RUN failed: $arg" ;;
    USER) user=$arg ;;
    VOLUME) volume=$arg ;;
    EXPOSE) expose=$arg ;;
    ENTRYPOINT) entrypoint=$arg ;;
    *) fail "the test does not replay $op: keep the runtime stage to what it knows" ;;
  esac
done <<<"$steps"
printf 'copied: %s\n' "${copied[@]}"

echo "== checks on the result"
[[ $user =~ ^[0-9]+:[0-9]+$ ]] || fail "USER '$user' is not numeric uid:gid"
uid=${user%%:*}
[ "$uid" != 0 ] || fail "USER is root"
grep -q "^failoverd:x:$uid:${user##*:}:" "$root/etc/passwd" || fail "no failoverd user with uid $uid"
[ "$entrypoint" = '["failoverd", "--config", "/etc/failoverd/failoverd.toml"]' ] || fail "ENTRYPOINT is $entrypoint"
[ "$volume" = '["/var/lib/failoverd"]' ] || fail "VOLUME is $volume"
[ "$(stat -c %u "$root/var/lib/failoverd")" = "$uid" ] || fail "/var/lib/failoverd is not owned by $uid"
grep -q "listen = \"0.0.0.0:$expose\"" "$src/packaging/kubernetes/configmap.yaml" \
  || fail "EXPOSE $expose is not the admin port of the Kubernetes config"
# Every package of the list is installed, and every library of both binaries resolves.
pkgs=$(sed 's/#.*//' "$src/packaging/container/runtime-packages.txt" | xargs)
chroot "$root" dpkg-query -W -f='${Package} ${Status}\n' $pkgs | tee "$build/container/packages.txt" \
  | grep -v ' install ok installed$' && fail "runtime packages missing in the root"
for b in failoverd failoverctl; do
  out=$(chroot "$root" ldd "/usr/bin/$b") || fail "ldd $b"
  if grep 'not found' <<<"$out"; then fail "$b: a library is missing from runtime-packages.txt"; fi
done
echo "all $(wc -w <<<"$pkgs") runtime packages installed; every library of failoverd and failoverctl resolves"

echo "== as $user: the image's ENTRYPOINT --version"
run() { env -i "${env_vars[@]}" chroot --userspec="$user" "$root" "$@"; }
mapfile -t ep < <("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$entrypoint")
out=$(run "${ep[@]}" --version) || fail "--version exited $?"
echo "$out"
[[ $out =~ ^failoverd\ [0-9] ]] || fail "unexpected --version output"

echo "== the pod's files (ConfigMap, Secret as kubelet writes them), its init container, --check-config"
layout=$("$py" "$src/integration/container/pod_files.py" "$src/packaging/kubernetes" "$root")
# emptyDirs belong to root with fsGroup; the pod runs as the image's user.
"$py" -c 'import json,sys; d=json.load(sys.stdin); assert d["uid"] == int(sys.argv[1]), d' "$uid" <<<"$layout" \
  || fail "the Deployment's runAsUser is not the image's USER $uid"
while IFS= read -r argv; do
  mapfile -t cmd < <("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$argv")
  run "${cmd[@]}" || fail "init container command failed as $user: ${cmd[*]}"
done < <("$py" -c 'import json,sys; [print(json.dumps(c)) for c in json.load(sys.stdin)["init"]]' <<<"$layout")
ls -ln "$root/run/failoverd/secrets"
out=$(run "${ep[@]}" --check-config /etc/failoverd/failoverd.toml 2>&1) || fail "check-config: $out"
echo "$out"
[ "$out" = "/etc/failoverd/failoverd.toml: ok" ] || fail "unexpected check-config output"

echo "== failoverd simulate, as $user"
cp "$src/config/scenario-f1-primary-down.toml" "$root/tmp/scenario.toml"
out=$(run failoverd simulate --config /etc/failoverd/failoverd.toml --scenario /tmp/scenario.toml) \
  || fail "simulate exited non-zero: $(tail -5 <<<"$out")"
tail -3 <<<"$out"
grep -q '^result: PASS$' <<<"$out" || fail "simulate did not pass"
echo "image_root_test: all checks passed"
