"""Monitoring for the namespace lab: a real Prometheus scrapes the three observers' /metrics with
the shipped alert rules (config/alerts.yml) and sends to a real Alertmanager, which routes every
alert to a webhook receiver (webhook_receiver.py). All three run in a namespace of their own,
`mon` (10.77.90.1), on the lab's bridge; they listen on 127.0.0.1 inside it.

  lab = Lab(failoverd, failoverctl, **monitoring.LAB_OPTIONS).up()
  mon = monitoring.Monitoring(lab, rules_file, for_seconds=3).start()
  mon.wait_delivered("FailoverdFailoverHappened", 30, service="www")

The observers' admin listener is bound to 0.0.0.0:8649 in such a world (LAB_OPTIONS), so that
Prometheus reaches /metrics over the bridge, as it would on a real network; the /v1 API still
needs the token. `for_seconds` replaces every rule's `for:` in a copy of the rules (the shipped
durations are minutes); the expressions, labels and annotations are the shipped ones.
Every wait is bounded. Python 3 stdlib only."""
import json
import os
import re
import time

from lab import OBSERVERS, observer_addr, run, wait_until

MON_ADDR = "10.77.90.1"
LAB_OPTIONS = {"extra_nodes": {"mon": [MON_ADDR]},
               "config": {"admin": {"listen": "0.0.0.0:8649"}}}
PROMETHEUS = "127.0.0.1:9090"
ALERTMANAGER = "127.0.0.1:9093"
RECEIVER_PORT = 9099


def test_rules(text, for_seconds):
    """The rules with every `for:` set to for_seconds (and nothing else changed)."""
    out, n = re.subn(r"(?m)^(\s+for:\s*)\S+\s*$", rf"\g<1>{for_seconds}s", text)
    if n == 0:
        raise ValueError("no `for:` found in the rules: is this the shipped alerts.yml?")
    return out


class Monitoring:
    def __init__(self, lab, rules_file, for_seconds=3):
        self.lab = lab
        self.rules_file = rules_file
        self.for_seconds = for_seconds
        self.dir = lab.path("mon")
        self.deliveries_file = os.path.join(self.dir, "deliveries.jsonl")

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, timeout=40):
        os.makedirs(os.path.join(self.dir, "tsdb"))
        os.makedirs(os.path.join(self.dir, "am"))
        with open(self.rules_file) as f:
            rules = self._write("alerts.yml", test_rules(f.read(), self.for_seconds))
        targets = "".join(
            f'      - targets: ["{observer_addr(node)}:8649"]\n'
            f'        labels: {{instance: "{obs}"}}\n' for node, obs in OBSERVERS.items())
        prom = self._write("prometheus.yml", f"""global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{ALERTMANAGER}"]
scrape_configs:
  - job_name: failoverd
    static_configs:
{targets}""")
        am = self._write("alertmanager.yml", f"""route:
  receiver: lab
  group_by: [alertname, instance, service, region, trigger, rule]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: lab
    webhook_configs:
      - url: "http://127.0.0.1:{RECEIVER_PORT}/alertmanager"
        send_resolved: true
""")
        for cmd in (["promtool", "check", "config", prom], ["amtool", "check-config", am]):
            r = run(*cmd, check=False)
            if r.returncode != 0:
                raise RuntimeError(f"{cmd[0]} refused the lab's config:\n{r.stdout}{r.stderr}")
        here = os.path.dirname(os.path.abspath(__file__))
        self.lab.start("receiver", "mon", ["python3", os.path.join(here, "webhook_receiver.py"),
                                           "127.0.0.1", str(RECEIVER_PORT), self.deliveries_file])
        self.lab.start("alertmanager", "mon", [
            "prometheus-alertmanager", "--config.file=" + am,
            "--storage.path=" + os.path.join(self.dir, "am"),
            "--web.listen-address=" + ALERTMANAGER, "--cluster.listen-address="])
        self.lab.start("prometheus", "mon", [
            "prometheus", "--config.file=" + prom,
            "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
            "--web.listen-address=" + PROMETHEUS, "--rules.alert.resend-delay=1s"])
        for what, url in (("alertmanager", ALERTMANAGER), ("prometheus", PROMETHEUS)):
            if not wait_until(lambda: self._get(url, "/-/ready") is not None, timeout, 0.2):
                raise RuntimeError(f"{what} not ready:\n{self.lab.log(what)[-3000:]}")
        if not wait_until(lambda: self.targets_up() == len(OBSERVERS), timeout, 0.2):
            raise RuntimeError(f"prometheus does not scrape every observer: "
                               f"{self._get(PROMETHEUS, '/api/v1/targets')}")
        self.lab.mark("monitoring up: prometheus scrapes every observer")
        return self

    # --- looking at it ----------------------------------------------------------------------
    def _get(self, hostport, path):
        r = self.lab.nsexec("mon", "curl", "-sf", "-m", "3", f"http://{hostport}{path}")
        return r.stdout if r.returncode == 0 else None

    def _api(self, path):
        text = self._get(PROMETHEUS, path)
        try:
            return json.loads(text)["data"] if text else None
        except (ValueError, KeyError):
            return None

    def targets_up(self):
        data = self._api("/api/v1/targets")
        if not data:
            return 0
        return sum(1 for t in data["activeTargets"] if t["health"] == "up")

    def query(self, expr):
        """An instant query's result vector: [(labels, value)]."""
        import urllib.parse
        data = self._api("/api/v1/query?query=" + urllib.parse.quote(expr))
        return [(v["metric"], float(v["value"][1])) for v in (data or {}).get("result", [])]

    def prometheus_alerts(self):
        """Prometheus's own list: [(name, state, labels)], state pending or firing."""
        data = self._api("/api/v1/alerts") or {}
        return [(a["labels"]["alertname"], a["state"], a["labels"])
                for a in data.get("alerts", [])]

    def deliveries(self):
        """Every alert the receiver was sent, in order: [(status, labels, annotations)]."""
        out = []
        try:
            with open(self.deliveries_file) as f:
                lines = f.readlines()
        except FileNotFoundError:
            return out
        for line in lines:
            body = json.loads(line)["body"]
            for a in body.get("alerts", []):
                out.append((a["status"], a["labels"], a.get("annotations", {})))
        return out

    def delivered(self, name, status="firing", **labels):
        """The deliveries of alert `name` in `status` whose labels include `labels`."""
        return [(ls, ann) for st, ls, ann in self.deliveries()
                if st == status and ls.get("alertname") == name
                and all(ls.get(k) == v for k, v in labels.items())]

    def wait_delivered(self, name, timeout, **labels):
        found = wait_until(lambda: self.delivered(name, **labels), timeout, 0.2)
        if not found:
            raise AssertionError(
                f"{name} {labels} not delivered within {timeout}s; receiver got "
                f"{[(s, l.get('alertname')) for s, l, _ in self.deliveries()]}; prometheus has "
                f"{[(n, st) for n, st, _ in self.prometheus_alerts()]}")
        self.lab.mark(f"alertmanager delivered {name} {labels}")
        return found
