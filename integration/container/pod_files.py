#!/usr/bin/python3
"""Lays out under ROOT the files the Deployment in MANIFEST_DIR would see, as kubelet makes them.

    pod_files.py MANIFEST_DIR ROOT [--prefix]

Every ConfigMap and Secret volume mounted by a container of the Deployment is written at
ROOT/<mountPath>/<key>. Modes follow kubelet: the volume's defaultMode (0644 when unset), and with
the pod's fsGroup the file's group becomes fsGroup and group read is added (so a Secret's 0400 is
0440: kubernetes/kubernetes#57923). emptyDir mounts become empty directories (group fsGroup,
setgid, 0777). Ownership is only changed when running as root.

With --prefix, every mount path written in a ConfigMap value and in the init containers' commands
is rewritten to ROOT/<mountPath>, so the files can be used without a chroot.

Prints one JSON object: {"init": [[argv...], ...], "fs_group": N, "uid": N, "config": PATH}
where PATH is the failoverd config file (the --config of the failoverd container's image
ENTRYPOINT, /etc/failoverd/failoverd.toml, under ROOT when --prefix).
"""
import json
import os
import sys

import yaml

CONFIG = "/etc/failoverd/failoverd.toml"


def main(manifest_dir, root, prefix):
    objects = []
    for name in sorted(os.listdir(manifest_dir)):
        if name.endswith(".yaml"):
            with open(os.path.join(manifest_dir, name), encoding="utf-8") as f:
                objects += [d for d in yaml.safe_load_all(f) if d]
    data = {(o["kind"], o["metadata"]["name"]): {**(o.get("data") or {}),
                                                  **(o.get("stringData") or {})}
            for o in objects if o["kind"] in ("ConfigMap", "Secret")}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    fs_group = pod.get("securityContext", {}).get("fsGroup")
    uid = pod.get("securityContext", {}).get("runAsUser")
    volumes = {v["name"]: v for v in pod["volumes"]}
    containers = pod.get("initContainers", []) + pod["containers"]
    mounts = sorted({m["mountPath"] for c in containers for m in c.get("volumeMounts", [])},
                    key=len, reverse=True)

    def rewrite(text):
        if not prefix:
            return text
        for m in mounts:
            text = text.replace(m + "/", root + m + "/").replace(m + '"', root + m + '"')
        return text

    as_root = os.geteuid() == 0
    done = set()
    for c in containers:
        for m in c.get("volumeMounts", []):
            if m["mountPath"] in done:
                continue
            done.add(m["mountPath"])
            vol = volumes[m["name"]]
            where = root + m["mountPath"]
            os.makedirs(where, exist_ok=True)
            if "emptyDir" in vol:
                os.chmod(where, 0o777 | (0o2000 if fs_group is not None else 0))
                if as_root and fs_group is not None:
                    os.chown(where, 0, fs_group)
                continue
            kind, src = (("ConfigMap", vol["configMap"]) if "configMap" in vol
                         else ("Secret", vol["secret"]))
            ref = src.get("name", src.get("secretName"))
            values = data[(kind, ref)]
            items = src.get("items") or [{"key": k, "path": k} for k in values]
            for item in items:
                path = os.path.join(where, item["path"])
                with open(path, "w", encoding="utf-8") as f:
                    f.write(rewrite(values[item["key"]]) if kind == "ConfigMap"
                            else values[item["key"]])
                mode = item.get("mode", src.get("defaultMode", 0o644))
                if fs_group is not None:
                    mode |= 0o440
                    if as_root:
                        os.chown(path, 0, fs_group)
                os.chmod(path, mode)
    init = [[rewrite(a) for a in c.get("command", []) + c.get("args", [])]
            for c in pod.get("initContainers", [])]
    print(json.dumps({"init": init, "fs_group": fs_group, "uid": uid,
                      "config": (root if prefix else "") + CONFIG}))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--prefix"):
        sys.exit(__doc__)
    main(sys.argv[1], os.path.abspath(sys.argv[2]), len(sys.argv) == 4)
