#!/usr/bin/python3
"""Checks Kubernetes manifests against the API's types, offline.

    validate_manifests.py FILE...          exit 0 when every object is valid, 1 otherwise

The types come from Debian's python3-kubernetes (the official client, generated from the
Kubernetes OpenAPI spec): each model lists its fields (`attribute_map`), their types
(`openapi_types`) and refuses a missing required field. On top of the schema, a few rules the API
server enforces: names, a Deployment's selector matching its pod labels, volume mounts naming a
volume, named probe ports existing, port names of at most 15 characters, and references to a
ConfigMap or Secret (and their keys) that the same set of files defines.

Runs under Debian's /usr/bin/python3 (the client is a Debian package, not a pip one).
"""
import re
import sys

import kubernetes.client as k8s
import yaml

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kinds this project ships, and the client API that serves each group/version.
API_CLASSES = {"v1": "CoreV1Api", "apps/v1": "AppsV1Api", "policy/v1": "PolicyV1Api",
               "networking.k8s.io/v1": "NetworkingV1Api"}


class Checker:
    def __init__(self):
        self.errors = []

    def err(self, where, message):
        self.errors.append(f"{where}: {message}")

    # ---- schema ---------------------------------------------------------------------------

    def check_value(self, value, type_name, where):
        if type_name.startswith("list["):
            if not isinstance(value, list):
                return self.err(where, f"expected a list, got {type(value).__name__}")
            for i, item in enumerate(value):
                self.check_value(item, type_name[5:-1], f"{where}[{i}]")
            return
        if type_name.startswith("dict("):
            if not isinstance(value, dict):
                return self.err(where, f"expected a map, got {type(value).__name__}")
            inner = type_name[5:-1].split(", ", 1)[1]
            for k, v in value.items():
                if not isinstance(k, str):
                    self.err(where, f"map key {k!r} must be a string")
                self.check_value(v, inner, f"{where}.{k}")
            return
        scalar = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
                  "datetime": (str,), "date": (str,)}
        if type_name in scalar:
            ok = isinstance(value, scalar[type_name])
            if type_name in ("int", "float") and isinstance(value, bool):
                ok = False
            if not ok:
                self.err(where, f"expected {type_name}, got {type(value).__name__} {value!r}")
            return
        if type_name == "object":  # IntOrString, RawExtension: the schema does not say more
            return
        model = getattr(k8s, type_name, None)
        if model is None:
            return self.err(where, f"unknown model type {type_name} (python3-kubernetes too old?)")
        if not isinstance(value, dict):
            return self.err(where, f"expected an object ({type_name}), got {type(value).__name__}")
        by_json = {json: attr for attr, json in model.attribute_map.items()}
        for key, v in value.items():
            if key not in by_json:
                self.err(f"{where}.{key}", f"unknown field in {type_name}")
                continue
            self.check_value(v, model.openapi_types[by_json[key]], f"{where}.{key}")

    def check_object(self, obj, where):
        if not isinstance(obj, dict):
            return self.err(where, "a manifest must be a mapping")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return self.err(where, "apiVersion and kind are required strings")
        api = getattr(k8s, API_CLASSES.get(api_version, ""), None)
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
        if api is None or not hasattr(api, f"create_namespaced_{snake}"):
            return self.err(where, f"{api_version} has no kind {kind}")
        model_name = "V1" + kind if api_version.endswith("/v1") or api_version == "v1" else None
        self.check_value(obj, model_name, where)
        try:  # the client's own deserializer: refuses missing required fields
            k8s.ApiClient()._ApiClient__deserialize(obj, model_name)
        except (ValueError, TypeError) as e:
            self.err(where, f"not a valid {kind}: {e}")

    # ---- rules the API server adds -------------------------------------------------------

    def check_rules(self, objects):
        defined = {}
        for where, obj in objects:
            name = obj.get("metadata", {}).get("name", "")
            if not DNS1123_SUBDOMAIN.match(name):
                self.err(f"{where}.metadata.name", f"{name!r} is not a DNS-1123 subdomain")
            keys = set(obj.get("data", {}) or {}) | set(obj.get("stringData", {}) or {})
            defined[(obj["kind"], name)] = keys
        for where, obj in objects:
            if obj["kind"] == "Deployment":
                self.check_deployment(obj, where, defined)
            if obj["kind"] == "Service":
                self.check_service(obj, where, objects)

    def check_deployment(self, obj, where, defined):
        spec = obj["spec"]
        labels = spec["template"].get("metadata", {}).get("labels", {})
        for k, v in spec["selector"].get("matchLabels", {}).items():
            if labels.get(k) != v:
                self.err(f"{where}.spec.selector", f"{k}={v} does not select the pod template")
        pod = spec["template"]["spec"]
        volumes = {}
        for i, vol in enumerate(pod.get("volumes", [])):
            vw = f"{where}.spec.template.spec.volumes[{i}]"
            volumes[vol["name"]] = vol
            for kind, field, name_key in (("ConfigMap", "configMap", "name"),
                                          ("Secret", "secret", "secretName")):
                if field not in vol:
                    continue
                src = vol[field]
                ref = (kind, src.get(name_key))
                if ref not in defined:
                    self.err(vw, f"{kind} {src.get(name_key)!r} is not defined in these files")
                    continue
                for item in src.get("items", []):
                    if item["key"] not in defined[ref]:
                        self.err(vw, f"{kind} {ref[1]} has no key {item['key']!r}")
                mode = src.get("defaultMode", 0o644)
                if not 0 <= mode <= 0o777:
                    self.err(vw, f"defaultMode {mode} is outside 0..0777")
        for group in ("initContainers", "containers"):
            for i, c in enumerate(pod.get(group, [])):
                cw = f"{where}.spec.template.spec.{group}[{i}]"
                if not DNS1123_LABEL.match(c["name"]):
                    self.err(cw, f"container name {c['name']!r} is not a DNS-1123 label")
                ports = set()
                for p in c.get("ports", []):
                    if "name" in p:
                        if len(p["name"]) > 15:
                            self.err(cw, f"port name {p['name']!r} is longer than 15")
                        ports.add(p["name"])
                for m in c.get("volumeMounts", []):
                    if m["name"] not in volumes:
                        self.err(cw, f"volumeMount {m['name']!r} names no volume")
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    port = c.get(probe, {}).get("httpGet", {}).get("port")
                    if isinstance(port, str) and port not in ports:
                        self.err(f"{cw}.{probe}", f"port {port!r} is not a named port")

    def check_service(self, obj, where, objects):
        selector = obj["spec"].get("selector", {})
        pods = [o["spec"]["template"] for _, o in objects if o["kind"] == "Deployment"]
        matched = [p for p in pods
                   if all(p.get("metadata", {}).get("labels", {}).get(k) == v
                          for k, v in selector.items())]
        if not matched:
            return self.err(f"{where}.spec.selector", "selects no pod template in these files")
        names = {p.get("name") for t in matched for c in t["spec"]["containers"]
                 for p in c.get("ports", [])}
        for i, p in enumerate(obj["spec"]["ports"]):
            target = p.get("targetPort")
            if isinstance(target, str) and target not in names:
                self.err(f"{where}.spec.ports[{i}]", f"targetPort {target!r} is no pod port")


def main(paths):
    checker = Checker()
    objects = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                docs = list(yaml.safe_load_all(f))
        except (OSError, yaml.YAMLError) as e:
            checker.err(path, str(e))
            continue
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            where = f"{path}#{i}"
            before = len(checker.errors)
            checker.check_object(doc, where)
            if len(checker.errors) == before:
                objects.append((f"{path}#{i}({doc['kind']})", doc))
    if not checker.errors:
        checker.check_rules(objects)
    for e in checker.errors:
        print(e)
    if checker.errors:
        print(f"{len(checker.errors)} problem(s)")
        return 1
    print(f"{len(objects)} objects valid: " + ", ".join(w for w, _ in objects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
