#!/bin/sh
# An OCI runtime for podman where the kernel refuses setrlimit to containers (some sandboxes do:
# "error setting rlimits for ready process ... operation not permitted"): removes
# process.rlimits from the bundle's config.json (create, run) or from the process file (exec),
# then runs runc with the same arguments. The container gets the rlimits it inherits.
#   podman --runtime integration/container/runc_without_rlimits.sh ...
# integration/container/podman_test.sh uses it only after plain runc failed that way.
set -eu
bundle="" process=""
prev=""
for a in "$@"; do
  case "$prev" in
    --bundle|-b) bundle=$a ;;
    --process|-p) process=$a ;;
  esac
  case "$a" in
    --bundle=*) bundle=${a#--bundle=} ;;
    --process=*) process=${a#--process=} ;;
  esac
  prev=$a
done
strip() {  # FILE KEY-PATH (process for config.json, "" for a process file)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, os, sys
path, key = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = json.load(f)
proc = doc.get(key, {}) if key else doc
if "rlimits" in proc:
    del proc["rlimits"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)
PY
}
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then strip "$bundle/config.json" process; fi
if [ -n "$process" ] && [ -f "$process" ]; then strip "$process" ""; fi
exec /usr/bin/runc "$@"
