#!/usr/bin/env python3
"""The status page (/ui) in a real headless Chromium, driven over WebDriver (chromedriver), against
the real failoverd binary: one observer probing two nginx "regions", services writing through a
real exec hook. The test types the admin token the way a user would, waits (bounded) for the page
to show the state, stops region east's nginx and waits for the page, without a reload, to show the
failover. Saves a screenshot before and after (paths printed).

Also: an operator's reason full of markup is shown as text, never parsed (no element, no script
run); the loader refuses markup in service and region names; the page's response carries its
security headers and the API's are not cacheable; the token appears in no URL and no log line.

usage: status_page_test.py PATH/TO/failoverd PATH/TO/failoverctl ARTIFACT_DIR
Talks only to 127.0.0.1. Every wait is bounded. Stops only the processes it started, by PID
(chromedriver and the Chromium it starts: by the process group this test made for them).
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

FAILOVERD = FAILOVERCTL = ARTIFACTS = None
TOKEN = "ui-test-token-0123456789abcdef"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;'


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def request(method, url, body=None, headers=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class WebDriver:
    """A chromedriver process and one headless Chromium session, over the W3C WebDriver API."""

    def __init__(self, workdir):
        self.port = free_port()
        self.log = open(os.path.join(workdir, "chromedriver.log"), "w")
        # Its own process group: Chromium's processes are its children, stopped with it.
        self.proc = subprocess.Popen(["/usr/bin/chromedriver", f"--port={self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        if not wait_until(lambda: self._ready(), 15):
            raise RuntimeError("chromedriver did not come up")
        profile = os.path.join(workdir, "chromium-profile")
        os.mkdir(profile)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--no-first-run",
                         "--no-default-browser-check", "--disable-component-update",
                         "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
                         f"--user-data-dir={profile}", "--window-size=1300,1500"],
            }}}}
        value = self.call("POST", "/session", caps, timeout=60)
        self.session = value["sessionId"]

    def _ready(self):
        try:
            return self.call("GET", "/status", timeout=2).get("ready")
        except OSError:
            return False

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"webdriver {method} {path}: {e.code} {e.read()[:500]!r}")

    def s(self, method, path, body=None, timeout=30):
        return self.call(method, f"/session/{self.session}{path}", body, timeout)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        value = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(value.values()))

    def type(self, css, text):
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))
        print("screenshot:", path, flush=True)

    def quit(self):
        try:
            self.call("DELETE", f"/session/{self.session}", timeout=15)
        except Exception:  # noqa: BLE001 - stopping the processes below is what matters
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


# What the page shows, read from its DOM (text as rendered, via textContent).
READ_PAGE = r"""
const q = (root, css) => { const e = root.querySelector(css); return e ? e.textContent : null; };
const shown = (css) => getComputedStyle(document.querySelector(css)).display !== 'none';
const out = {state: q(document, '#state'), login: shown('#login'), content: shown('#content'),
             services: {}, regions: {}, events: []};
for (const card of document.querySelectorAll('[data-service]')) {
  out.services[card.getAttribute('data-service')] = {
    active: q(card, '.active'), generation: q(card, '.generation'),
    holds: [...card.querySelectorAll('li.hold')].map(h => ({
      kind: h.getAttribute('data-kind'), reason: q(h, '.hold-reason'), by: q(h, '.hold-by'),
      since: q(h, '.hold-since'), text: h.textContent})),
  };
}
for (const row of document.querySelectorAll('tr[data-region]')) {
  out.regions[row.getAttribute('data-region')] = {
    confirmed: q(row, '.confirmed'), local: q(row, '.local'),
    votes: [...row.querySelectorAll('.vote')].map(v => ({
      observer: v.getAttribute('data-observer'), text: v.textContent})),
  };
}
for (const row of document.querySelectorAll('tr.event')) {
  out.events.push({kind: q(row, '.kind'), who: q(row, '.who'), service: q(row, '.service'),
                   detail: q(row, '.detail')});
}
return out;
"""


class StatusPage(unittest.TestCase):
    procs = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.procs = {}
        cls.driver = None
        try:
            cls.start_regions()
            cls.start_failoverd()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.driver:
            cls.driver.quit()
        for name, (p, log) in list(cls.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
            log.close()
        cls.procs = {}
        cls.tmp.cleanup()

    @classmethod
    def path(cls, *parts):
        return os.path.join(cls.dir, *parts)

    @classmethod
    def start(cls, name, argv):
        log = open(cls.path(name + ".log"), "w")
        cls.procs[name] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log)

    @classmethod
    def stop(cls, name):
        p, log = cls.procs.pop(name)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        log.close()

    @classmethod
    def text(cls, name):
        with open(cls.path(name + ".log")) as f:
            return f.read()

    @classmethod
    def start_regions(cls):
        cls.region_port = {"east": free_port(), "west": free_port()}
        for region, port in cls.region_port.items():
            d = cls.path("nginx-" + region)
            os.makedirs(os.path.join(d, "logs"))
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(f"""daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  server {{ listen 127.0.0.1:{port}; location /healthz {{ return 200 "{region} ok\\n"; }} }}
}}
""")
            cls.start("nginx-" + region, ["/usr/sbin/nginx", "-c", os.path.join(d, "nginx.conf"),
                                          "-p", d])
        for region, port in cls.region_port.items():
            ok = wait_until(lambda: request("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200
                            if cls.port_open(port) else False, 10)
            assert ok, "nginx " + region + " did not start: " + cls.text("nginx-" + region)

    @staticmethod
    def port_open(port):
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    @classmethod
    def config(cls, service_names=("www", "api", "db"), region_names=("east", "west")):
        east, west = region_names
        text = f"""
[observer]
id = "solo"
state_dir = "{cls.path('state')}"

[admin]
listen = "127.0.0.1:{cls.admin_port}"
token_file = "{cls.path('admin.token')}"

[probe_defaults]
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2

[regions."{east}"]
[[regions."{east}".endpoints]]
name = "east-web"
kind = "http"
url = "http://127.0.0.1:{cls.region_port['east']}/healthz"

[regions."{west}"]
[[regions."{west}".endpoints]]
name = "west-web"
kind = "http"
url = "http://127.0.0.1:{cls.region_port['west']}/healthz"
"""
        for name, mode in zip(service_names, ("auto", "propose", "auto")):
            text += f"""
[services."{name}"]
policy = "priority"
mode = "{mode}"
regions = ["{east}", "{west}"]
failback = "manual"
hold_down = "1s"
reconcile_interval = "1s"

[services."{name}".publish]
"{east}" = ["192.0.2.1"]
"{west}" = ["192.0.2.2"]

[services."{name}".target]
kind = "exec"
argv = ["{cls.path('hook.sh')}", "{name}"]
"""
        return text

    @classmethod
    def start_failoverd(cls):
        cls.admin_port = free_port()
        with open(cls.path("admin.token"), "w") as f:
            f.write("alice:" + TOKEN + "\n")
        os.chmod(cls.path("admin.token"), 0o600)
        with open(cls.path("hook.sh"), "w") as f:
            f.write("#!/bin/sh\n"
                    f'echo "$1 gen=$FAILOVERD_GENERATION active=$FAILOVERD_ACTIVE_REGIONS" '
                    f">> {cls.path('hook.out')}\n")
        os.chmod(cls.path("hook.sh"), 0o700)
        with open(cls.path("failoverd.toml"), "w") as f:
            f.write(cls.config())
        check = subprocess.run([FAILOVERD, "--check-config", cls.path("failoverd.toml")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        cls.start("failoverd", [FAILOVERD, "--config", cls.path("failoverd.toml")])
        cls.admin = f"http://127.0.0.1:{cls.admin_port}"
        ok = wait_until(lambda: cls.port_open(cls.admin_port) and
                        request("GET", cls.admin + "/readyz")[0] == 200, 20)
        assert ok, "failoverd not ready:\n" + cls.text("failoverd")

    def api(self, method, path, body=None, token=TOKEN):
        return request(method, self.admin + path, body,
                       {"Authorization": "Bearer " + token} if token else {})

    def page(self):
        return self.driver.js(READ_PAGE)

    def wait_page(self, predicate, what, timeout=20):
        last = {}

        def check():
            last["page"] = self.page()
            try:
                return predicate(last["page"])
            except (KeyError, IndexError, TypeError):
                return False
        ok = wait_until(check, timeout, 0.25)
        self.assertTrue(ok, f"the page never showed {what}; it showed:\n" +
                        json.dumps(last.get("page"), indent=1) + "\n" + self.text("failoverd")[-3000:])
        return last["page"]

    # --- the test ------------------------------------------------------------------------------
    def test_1_loader_refuses_markup_in_names(self):
        for kind, cfg in (("service", self.config(service_names=("<img src=x onerror=alert(1)>", "api", "db"))),
                          ("region", self.config(region_names=("<b>east</b>", "west")))):
            with self.subTest(kind=kind):
                path = self.path(f"hostile-{kind}.toml")
                with open(path, "w") as f:
                    f.write(cfg)
                r = subprocess.run([FAILOVERD, "--check-config", path], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"{kind} names must be 1 to 64 characters of [A-Za-z0-9._-]", r.stderr)
                self.assertRegex(r.stderr, rf"{path}:\d+:\d+: ")

    def test_2_headers(self):
        status, headers, body = request("GET", self.admin + "/ui")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertNotIn("solo", body)  # the page itself carries no data (not even the observer)
        status, headers, _ = self.api("GET", "/v1/status")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Cache-Control"], "no-store")

    def test_3_page_before_and_after_failover(self):
        # An operator's freeze with a reason full of markup: shown as text, never as markup.
        status, _, body = self.api("POST", "/v1/services/db/freeze", {"reason": HOSTILE})
        self.assertEqual(status, 200, body)
        # The view the page reads: who, why and since when; votes with age and evidence.
        def confirmed_up():
            v = json.loads(self.api("GET", "/v1/status")[2])
            return v if all(r["confirmed"] == "up" and r["votes"] for r in v["regions"]) else None
        view = wait_until(confirmed_up, 15)
        self.assertIsNotNone(view, self.text("failoverd"))
        db = next(s for s in view["services"] if s["name"] == "db")
        self.assertEqual(db["holds"][0]["kind"], "freeze")
        self.assertEqual(db["holds"][0]["by"], "alice")
        self.assertEqual(db["holds"][0]["reason"], HOSTILE)
        self.assertRegex(db["holds"][0]["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        east = next(r for r in view["regions"] if r["name"] == "east")
        self.assertEqual(east["votes"][0]["observer"], "solo")
        self.assertIsInstance(east["votes"][0]["age_seconds"], float)
        self.assertEqual(east["votes"][0]["evidence"][0]["endpoint"], "east-web")
        # failoverctl still reads the views.
        for args in (["status"], ["why", "www"]):
            r = subprocess.run([FAILOVERCTL, "--admin", f"127.0.0.1:{self.admin_port}", *args],
                               capture_output=True, text=True, timeout=10,
                               env=dict(os.environ, FAILOVERD_TOKEN=TOKEN))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        StatusPage.driver = d = WebDriver(self.dir)
        d.go(self.admin + "/ui")
        self.wait_page(lambda p: "enter an admin API token" in p["state"] and p["login"]
                       and not p["content"], "the token prompt", 10)
        # A wrong token first: refused, nothing shown, asked again.
        d.type("#token", "not-the-right-token-at-all")
        d.click("#connect")
        self.wait_page(lambda p: p["state"].startswith("token refused"), "the refusal", 10)
        self.assertEqual(self.page()["services"], {})
        self.assertTrue(self.page()["login"])
        d.type("#token", TOKEN)
        d.click("#connect")
        before = self.wait_page(
            lambda p: p["services"]["www"]["active"] == "east"
            and p["regions"]["east"]["confirmed"] == "up"
            and p["regions"]["west"]["confirmed"] == "up"
            and p["services"]["db"]["holds"][0]["by"] == "alice"
            and any(e["kind"] == "admin_freeze" for e in p["events"]),
            "www on east, both regions up, db frozen by alice")
        www_generation = before["services"]["www"]["generation"]
        self.assertFalse(before["login"])  # the token box is gone once the status shows
        self.assertTrue(before["content"])
        freeze = before["services"]["db"]["holds"][0]
        self.assertEqual(freeze["kind"], "freeze")
        self.assertEqual(freeze["reason"], HOSTILE)  # the markup, as text
        self.assertIn("since 20", freeze["text"])
        self.assertEqual(before["services"]["www"]["holds"], [])
        vote = before["regions"]["east"]["votes"][0]
        self.assertEqual(vote["observer"], "solo")
        self.assertRegex(vote["text"], r"solo: up, \d+\.\d s old")
        self.assertIn("east-web up", vote["text"])
        journal = next(e for e in before["events"] if e["kind"] == "admin_freeze")
        self.assertEqual(journal["who"], "alice")
        self.assertIn(HOSTILE, journal["detail"])
        # The markup made no element and ran no script; the token is in no URL.
        dom = d.js("return {imgs: document.querySelectorAll('img').length,"
                   " scripts: document.scripts.length, pwned: window.__pwned === undefined ? null : window.__pwned,"
                   " url: location.href, stored: sessionStorage.getItem('failoverd.token')}")
        self.assertEqual(dom, {"imgs": 0, "scripts": 1, "pwned": None, "url": self.admin + "/ui",
                               "stored": TOKEN})
        d.screenshot(os.path.join(ARTIFACTS, "status_page_before.png"))

        # The failover, seen by the page as it refreshes itself: no reload (the marker survives).
        d.js("window.__sameDocument = 'yes';")
        self.stop("nginx-east")
        after = self.wait_page(
            lambda p: p["services"]["www"]["active"] == "west"
            and p["regions"]["east"]["confirmed"] == "down"
            and any(h["kind"] == "proposal" for h in p["services"]["api"]["holds"]),
            "www failed over to west, east down, a proposal for api", 30)
        self.assertEqual(d.js("return window.__sameDocument"), "yes")
        self.assertEqual(int(after["services"]["www"]["generation"]), int(www_generation) + 1)
        self.assertEqual(after["services"]["api"]["active"], "east")  # propose mode: waits
        proposal = next(h for h in after["services"]["api"]["holds"] if h["kind"] == "proposal")
        self.assertIn("to west", proposal["text"])
        self.assertEqual(proposal["by"], "core")
        self.assertEqual(after["services"]["db"]["active"], "east")  # frozen: stays
        self.assertIn("east-web down", after["regions"]["east"]["votes"][0]["text"])
        kinds = [e["kind"] for e in after["events"]]
        self.assertIn("plan_made", kinds)
        self.assertIn("plan_proposed", kinds)
        d.screenshot(os.path.join(ARTIFACTS, "status_page_after.png"))
        with open(self.path("hook.out")) as f:
            self.assertIn("www gen=", f.read())
        self.assertNotIn(TOKEN, self.text("failoverd"))

    def test_4_holds_keep_who_and_since_across_a_restart(self):
        status, _, body = self.api("POST", "/v1/services/www/pin",
                                   {"region": "west", "reason": "drill: stay on west"})
        self.assertEqual(status, 200, body)
        status, _, body = self.api("POST", "/v1/services/api/freeze", {"reason": "change window"})
        self.assertEqual(status, 200, body)

        def holds():
            v = json.loads(self.api("GET", "/v1/status")[2])
            return {s["name"]: {h["kind"]: h for h in s["holds"]} for s in v["services"]}
        before = holds()
        self.assertEqual(before["www"]["pin"]["by"], "alice")
        self.assertEqual(before["www"]["pin"]["region"], "west")
        self.assertEqual(before["www"]["pin"]["reason"], "drill: stay on west")
        self.assertEqual(before["api"]["freeze"]["by"], "alice")
        self.stop("failoverd")
        self.start("failoverd", [FAILOVERD, "--config", self.path("failoverd.toml")])
        ok = wait_until(lambda: self.port_open(self.admin_port) and
                        request("GET", self.admin + "/readyz")[0] == 200, 20)
        self.assertTrue(ok, self.text("failoverd"))
        after = holds()
        # Found again in the journal the state file kept: the same who, why and since.
        for service, kind in (("www", "pin"), ("api", "freeze")):
            for key in ("by", "reason", "since"):
                self.assertEqual(after[service][kind][key], before[service][kind][key],
                                 f"{service} {kind} {key}")


if __name__ == "__main__":
    FAILOVERD, FAILOVERCTL, ARTIFACTS = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(ARTIFACTS, exist_ok=True)
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/sbin/nginx"):
        if not os.path.exists(tool):
            # Fail, never skip: the test's real parts are missing (packaging/install-deps.sh).
            sys.exit(f"status_page_test: {tool} is missing; run packaging/install-deps.sh")
    unittest.main(argv=[sys.argv[0], "-v"])
