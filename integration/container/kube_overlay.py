#!/usr/bin/python3
"""Writes the test-only variant of packaging/kubernetes/ that podman_test.sh runs with
`podman kube play` (printed on stdout as one multi-document YAML). Not shipped.

    kube_overlay.py MANIFEST_DIR SETTINGS_JSON

SETTINGS_JSON: {"prefix": unique name prefix of this run, "image": failoverd image,
"app_image": image of the application container, "admin_host_port": N, "app_host_port": N,
"host": address of the host's loopback seen from the pod, "east": [port, port], "west": port,
"dns": port, "secret_dir": directory holding the Secret's files as kubelet writes them}

What changes, and why (everything else is the shipped manifests as they are):
- names of the ConfigMap, the Secret, the Deployment and the volumes get the run's prefix, so a
  run never meets what another left behind;
- images: the locally built failoverd image, imagePullPolicy Never; the application container
  is a trivial one (`sleep`) on the same base image;
- the config: endpoints, the control probe and the RFC 2136 server point at the test's nginx and
  BIND on the host's loopback (http instead of https), everything else as shipped;
- ports get hostIP 127.0.0.1 and a free hostPort: podman 4.3 publishes every containerPort on
  the host (0.0.0.0, same port) otherwise;
- the liveness probe's named port becomes its number: podman 4.3 turns a named port into 0;
- the Secret volume becomes a hostPath volume of secret_dir, where the test has written the
  Secret's files as kubelet does with fsGroup (pod_files.py: root-owned, group fsGroup, 0440),
  and the Secret itself is left out: podman 4.3's Secret volumes ignore stringData, write the
  values of data still base64-encoded, and crash podman when `optional` is unset;
- the pod's restartPolicy is OnFailure (a Deployment allows only Always): podman 4.3 gives init
  containers the pod's policy, restarts the init container after it succeeded, and then fails to
  remove it (podman 4.6 runs init containers without restarts).
The Service is left out too: podman has no Services.
"""
import copy
import json
import os
import re
import sys

import yaml


def sub_once(pattern, repl, text):
    out, n = re.subn(pattern, repl, text, flags=re.M)
    if n != 1:
        sys.exit(f"kube_overlay: pattern {pattern!r} matched {n} times in the ConfigMap's config")
    return out


def main(manifest_dir, s):
    docs = []
    for name in sorted(os.listdir(manifest_dir)):
        if name.endswith(".yaml"):
            with open(os.path.join(manifest_dir, name), encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    p = s["prefix"]
    h = s["host"]
    out = []
    renamed = {}
    for d in docs:
        if d["kind"] in ("ConfigMap", "Secret"):
            renamed[d["metadata"]["name"]] = f"{p}-{d['metadata']['name']}"
    for d in docs:
        d = copy.deepcopy(d)
        kind = d["kind"]
        if kind in ("Service", "Secret"):
            continue
        if kind == "ConfigMap":
            d["metadata"]["name"] = renamed[d["metadata"]["name"]]
            t = d["data"]["failoverd.toml"]
            t = sub_once(r'^address = "kubernetes\.default\.svc:443"$',
                         f'address = "{h}:{s["dns"]}"', t)
            for i, ep in enumerate(("east-1", "east-2")):
                t = sub_once(rf'^kind = "https"\nurl = "https://{ep}\.app\.example\.com/healthz"$',
                             f'kind = "http"\nurl = "http://{h}:{s["east"][i]}/healthz"', t)
            t = sub_once(r'^kind = "https"\nurl = "https://west-1\.app\.example\.com/healthz"$',
                         f'kind = "http"\nurl = "http://{h}:{s["west"]}/healthz"', t)
            t = sub_once(r'^address = "west-2\.app\.example\.com:443"$',
                         f'address = "{h}:{s["west"]}"', t)
            t = sub_once(r'^server = "ns1\.example\.com:53"$', f'server = "{h}:{s["dns"]}"', t)
            d["data"]["failoverd.toml"] = t
        elif kind == "Deployment":
            d["metadata"]["name"] = p
            pod = d["spec"]["template"]["spec"]
            pod["restartPolicy"] = "OnFailure"
            vnames = {v["name"]: f"{p}-{v['name']}" for v in pod["volumes"]}
            for v in pod["volumes"]:
                v["name"] = vnames[v["name"]]
                if "configMap" in v:
                    v["configMap"]["name"] = renamed[v["configMap"]["name"]]
                if "secret" in v:
                    del v["secret"]
                    v["hostPath"] = {"path": s["secret_dir"], "type": "Directory"}
            for c in pod.get("initContainers", []) + pod["containers"]:
                for m in c.get("volumeMounts", []):
                    m["name"] = vnames[m["name"]]
                c["imagePullPolicy"] = "Never"
                if c["name"] == "app":
                    c["image"] = s["app_image"]
                    c["command"] = ["sleep", "infinity"]
                else:
                    c["image"] = s["image"]
                for port in c.get("ports", []):
                    port["hostIP"] = "127.0.0.1"
                    port["hostPort"] = (s["admin_host_port"] if port["name"] == "admin"
                                        else s["app_host_port"])
                probe = c.get("livenessProbe", {}).get("httpGet")
                if probe and isinstance(probe["port"], str):
                    (num,) = [x["containerPort"] for x in c["ports"] if x["name"] == probe["port"]]
                    probe["port"] = num
        out.append(d)
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: kube_overlay.py MANIFEST_DIR SETTINGS_JSON")
    main(sys.argv[1], json.loads(sys.argv[2]))
