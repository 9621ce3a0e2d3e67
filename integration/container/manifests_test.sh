#!/usr/bin/env bash
# Checks packaging/kubernetes/ offline (no cluster here):
#  1. every manifest against the Kubernetes API types (validate_manifests.py, python3-kubernetes),
#     and the validator itself refuses an unknown field, a wrong type, a missing required field
#     and a selector that selects nothing;
#  2. the ConfigMap's config, with the Secret's files laid out as kubelet writes them and then
#     copied by the pod's own init container command, passes `failoverd --check-config`; without
#     that copy (group-readable as kubelet leaves them) it is refused;
#  3. `failoverd simulate` of config/scenario-f1-primary-down.toml over that config passes.
#   manifests_test.sh FAILOVERD SOURCE_DIR
set -euo pipefail
failoverd=$1
src=$2
py=/usr/bin/python3   # Debian's, where python3-kubernetes is installed
here=$src/integration/container
manifests=$src/packaging/kubernetes
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== schema: packaging/kubernetes/*.yaml"
"$py" "$here/validate_manifests.py" "$manifests"/*.yaml || fail "manifests are not valid"

# The validator must catch what it claims to catch: each broken copy must be refused, naming the
# problem.
expect_refused() {  # NAME SED-EXPRESSION EXPECTED-MESSAGE
  mkdir -p "$tmp/bad-$1"
  cp "$manifests"/*.yaml "$tmp/bad-$1/"
  sed -i -e "$2" "$tmp/bad-$1/deployment.yaml"
  if cmp -s "$manifests/deployment.yaml" "$tmp/bad-$1/deployment.yaml"; then
    fail "mutation $1 changed nothing"
  fi
  local out
  if out=$("$py" "$here/validate_manifests.py" "$tmp/bad-$1"/*.yaml); then
    fail "validator accepted $1"
  fi
  grep -qF -- "$3" <<<"$out" || fail "validator refused $1 without saying '$3': $out"
  echo "refused as expected ($1): $(grep -F -- "$3" <<<"$out" | head -1)"
}
expect_refused unknown-field 's/^  replicas: 1/  replica: 1/' "spec.replica: unknown field in V1DeploymentSpec"
expect_refused wrong-type 's/containerPort: 8649/containerPort: "8649"/' "expected int, got str '8649'"
expect_refused missing-required '/containerPort: 8649/d' "container_port\`, must not be \`None\`"
expect_refused selector 's/^      app.kubernetes.io\/name: shop-web$/      app.kubernetes.io\/name: other/' "does not select the pod template"
expect_refused named-port 's/port: admin$/port: admn/' "port 'admn' is not a named port"

echo "== the ConfigMap's config with the Secret's files"
root=$tmp/pod
mkdir -p "$root"
layout=$("$py" "$here/pod_files.py" "$manifests" "$root" --prefix)
config=$("$py" -c 'import json,sys; print(json.load(sys.stdin)["config"])' <<<"$layout")
secret_dir=$root/run/failoverd/secrets/files
# As kubelet leaves them (group-readable through fsGroup) the loader must refuse the secrets.
mkdir -p "$secret_dir"
cp "$root/run/failoverd/secrets-in/"* "$secret_dir/"
chmod 0440 "$secret_dir"/*
if out=$("$failoverd" --check-config "$config" 2>&1); then
  fail "check-config accepted group-readable secrets: $out"
fi
grep -q "open to group or others" <<<"$out" || fail "unexpected refusal: $out"
echo "refused as expected (group-readable secrets): $(grep -m1 "open to group" <<<"$out")"
# Private files in a directory anyone can write (as an emptyDir's root, 0777) are refused too:
# anyone could replace them there.
chmod 0400 "$secret_dir"/*
chmod 0777 "$secret_dir"
if out=$("$failoverd" --check-config "$config" 2>&1); then
  fail "check-config accepted secrets in a world-writable directory: $out"
fi
grep -q "a directory any user can write" <<<"$out" || fail "unexpected refusal: $out"
echo "refused as expected (secrets in the emptyDir's root): $(grep -m1 "any user can write" <<<"$out")"
rm -rf "$secret_dir"
# The init container's own command makes them usable.
n=0
while IFS= read -r argv; do
  mapfile -t cmd < <("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$argv")
  echo "init container: ${cmd[*]}"
  "${cmd[@]}" || fail "init container command failed"
  n=$((n + 1))
done < <("$py" -c 'import json,sys; [print(json.dumps(c)) for c in json.load(sys.stdin)["init"]]' <<<"$layout")
[ "$n" -eq 1 ] || fail "expected one init container, found $n"
for f in "$secret_dir"/*; do
  [ "$(stat -c %a "$f")" = 400 ] || fail "$f has mode $(stat -c %a "$f"), expected 400"
done
out=$("$failoverd" --check-config "$config" 2>&1) || fail "check-config refused the config: $out"
echo "$out"
grep -q ": ok$" <<<"$out" || fail "check-config did not say ok"

echo "== simulate config/scenario-f1-primary-down.toml over the ConfigMap's config"
out=$("$failoverd" simulate --config "$config" --scenario "$src/config/scenario-f1-primary-down.toml") \
  || fail "simulate failed: $out"
tail -3 <<<"$out"
grep -q "^result: PASS" <<<"$out" || fail "simulate did not pass"
echo "manifests_test: all checks passed"
