#!/usr/bin/env python3
"""[[notify]] webhooks with the real failoverd binary and receivers on 127.0.0.1.

One observer, two regions whose endpoints are TCP listeners this test owns, one service with an
exec target (/bin/true). Closing east's listener makes the service fail over to west. Receivers:
  - a recording HTTP server (json with a bearer token, slack through url_file, pagerduty with a
    routing key): the bodies of the failover's notices are checked;
  - one that accepts and never answers: the failover and the other receivers' notices are not
    held up, and the timeout is counted;
  - one that answers 500: retried max_retries times, then counted failed (http_5xx);
  - one that is down (connection refused): counted failed (connect).
And --check-config reports a missing secret_file the way start-up refuses it.

usage: notify_test.py PATH/TO/failoverd
Talks only to 127.0.0.1. Every wait is bounded. Stops only the processes it started, by PID.
"""
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

FAILOVERD = None


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from kit import free_port, stop_process, wait_until  # noqa: E402


class TcpTarget:
    """A listener that accepts and closes: a healthy TCP endpoint until close()."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.open = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.open:
            try:
                conn, _ = self.sock.accept()
                conn.close()
            except OSError:
                continue

    def close(self):
        self.open = False
        self.thread.join(timeout=5)
        self.sock.close()


class Recorder(http.server.ThreadingHTTPServer):
    """Records every POST (path, headers, JSON body) and answers `status`."""

    daemon_threads = True

    def __init__(self, status=200):
        self.status = status
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": json.loads(body)})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.shutdown()
        self.server_close()


class Hanging:
    """Accepts connections and never answers (keeps them open)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.conns = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


def secret(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(failoverd_notify_\w+)\{([^}]*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            key = (m.group(1), labels.get("notify"), labels.get("reason"))
            out[key] = float(m.group(3))
    return out


class Notify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.east, cls.west = TcpTarget(), TcpTarget()
        cls.rec, cls.err = Recorder(200), Recorder(500)
        cls.hang = Hanging()
        cls.down_port = free_port()  # nothing listens there
        cls.admin_port = free_port()
        secret(os.path.join(d, "bearer"), "json-bearer-token-0123")
        secret(os.path.join(d, "slack-url"), f"http://127.0.0.1:{cls.rec.port}/slack/T000/B000")
        secret(os.path.join(d, "routing-key"), "R0UT1NGKEY0123456789")
        both = '["failover_planned", "failover_applied"]'
        cls.config_text = f"""
[observer]
id = "notifier"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{cls.admin_port}"

[probe_defaults]
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2

[regions.east]
[[regions.east.endpoints]]
name = "east-tcp"
kind = "tcp"
address = "127.0.0.1:{cls.east.port}"

[regions.west]
[[regions.west.endpoints]]
name = "west-tcp"
kind = "tcp"
address = "127.0.0.1:{cls.west.port}"

[services.www]
policy = "priority"
regions = ["east", "west"]
failback = "manual"
hold_down = "1s"
reconcile_interval = "1s"

[services.www.publish]
east = ["192.0.2.1"]
west = ["192.0.2.2"]

[services.www.target]
kind = "exec"
argv = ["/bin/true"]

[[notify]]
name = "rec-json"
url = "http://127.0.0.1:{cls.rec.port}/json"
format = "json"
secret_file = "bearer"

[[notify]]
name = "rec-slack"
url_file = "slack-url"
format = "slack"
events = {both}

[[notify]]
name = "rec-pd"
url = "http://127.0.0.1:{cls.rec.port}/pd"
format = "pagerduty"
secret_file = "routing-key"
events = {both}

[[notify]]
name = "hang"
url = "http://127.0.0.1:{cls.hang.port}/"
timeout = "5s"
max_retries = 0
events = {both}

[[notify]]
name = "err500"
url = "http://127.0.0.1:{cls.err.port}/hook"
max_retries = 2
retry_base = "50ms"
retry_cap = "200ms"
events = ["failover_applied"]

[[notify]]
name = "down"
url = "http://127.0.0.1:{cls.down_port}/"
max_retries = 1
retry_base = "50ms"
events = ["failover_applied"]
"""
        cls.config_path = os.path.join(d, "failoverd.toml")
        with open(cls.config_path, "w") as f:
            f.write(cls.config_text)
        cls.log_path = os.path.join(d, "failoverd.log")
        cls.log = open(cls.log_path, "w")
        cls.proc = subprocess.Popen([FAILOVERD, "--config", cls.config_path], stdout=cls.log,
                                    stderr=subprocess.STDOUT)

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.proc)
        cls.log.close()
        cls.east.close()
        cls.west.close()
        cls.rec.stop()
        cls.err.stop()
        cls.hang.stop()
        cls.tmp.cleanup()

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def metrics(self):
        try:
            return scrape(self.admin_port)
        except OSError:
            return {}

    def applied(self, path):
        def is_applied(body):
            if "kind" in body:
                return body["kind"] == "failover_applied"
            if "text" in body:
                return "failover applied" in body["text"]
            return body["payload"]["class"] == "failover_applied"
        return [r for r in self.rec.on(path) if is_applied(r["body"])]

    def test_failover_notices(self):
        names = ["rec-json", "rec-slack", "rec-pd", "hang", "err500", "down"]
        # Every series exists at 0 before anything was sent.
        self.assertTrue(wait_until(lambda: len(self.metrics()) > 0, 10), self.text())
        m = self.metrics()
        for n in names:
            self.assertEqual(m.get(("failoverd_notify_sent_total", n, None)), 0,
                             (n, self.rec.requests))
            self.assertEqual(m.get(("failoverd_notify_dropped_total", n, None)), 0, n)
            for reason in ("timeout", "connect", "http_5xx"):
                self.assertEqual(m.get(("failoverd_notify_failed_total", n, reason)), 0, (n, reason))
        # Let both regions be seen up, then take east down.
        self.assertTrue(wait_until(lambda: "probing" in self.text(), 10), self.text())
        time.sleep(1.0)
        self.east.close()

        # The failover is applied and told to the recording receiver while the hanging receiver
        # still holds its connection unanswered.
        self.assertTrue(wait_until(lambda: self.applied("/json"), 15), self.text())
        self.assertGreaterEqual(len(self.hang.conns), 1)
        self.assertEqual(self.metrics().get(("failoverd_notify_failed_total", "hang", "timeout")), 0)

        planned = [r for r in self.rec.on("/json") if r["body"]["kind"] == "failover_planned"]
        self.assertTrue(planned, self.rec.requests)
        body = self.applied("/json")[0]["body"]
        self.assertEqual(body["source"], "failoverd")
        self.assertEqual(body["kind"], "failover_applied")
        self.assertEqual(body["service"], "www")
        self.assertEqual(body["from"], ["east"])
        self.assertEqual(body["to"], ["west"])
        self.assertGreaterEqual(body["generation"], 1)
        self.assertEqual(body["observer"], "notifier")
        self.assertRegex(body["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn("east", body["reason"])
        self.assertEqual(self.applied("/json")[0]["headers"].get("Authorization"),
                         "Bearer json-bearer-token-0123")

        self.assertTrue(wait_until(lambda: self.applied("/slack/T000/B000"), 10), self.rec.requests)
        slack = self.applied("/slack/T000/B000")[0]
        self.assertEqual(list(slack["body"].keys()), ["text"])
        self.assertIn("www: failover applied east -> west", slack["body"]["text"])
        self.assertNotIn("Authorization", slack["headers"])

        self.assertTrue(wait_until(lambda: self.applied("/pd"), 10), self.rec.requests)
        pd = self.applied("/pd")[0]["body"]
        self.assertEqual(pd["routing_key"], "R0UT1NGKEY0123456789")
        self.assertEqual(pd["event_action"], "trigger")
        self.assertEqual(pd["dedup_key"], f"failoverd/www/failover/{body['generation']}")
        self.assertEqual(pd["payload"]["source"], "notifier")
        self.assertEqual(pd["payload"]["severity"], "warning")
        self.assertIn("failover applied east -> west", pd["payload"]["summary"])

        # 500: one try plus max_retries = 3 requests for the one notice, then failed.
        self.assertTrue(wait_until(lambda: self.metrics().get(
            ("failoverd_notify_failed_total", "err500", "http_5xx")) == 1, 10), self.metrics())
        self.assertEqual(len(self.err.on("/hook")), 3)
        # Down: connection refused, counted.
        self.assertTrue(wait_until(lambda: self.metrics().get(
            ("failoverd_notify_failed_total", "down", "connect")) == 1, 10), self.metrics())
        # The hanging receiver's tries time out and are counted.
        self.assertTrue(wait_until(lambda: self.metrics().get(
            ("failoverd_notify_failed_total", "hang", "timeout"), 0) >= 1, 15), self.metrics())
        m = self.metrics()
        self.assertGreaterEqual(m[("failoverd_notify_sent_total", "rec-json", None)], 2)
        self.assertGreaterEqual(m[("failoverd_notify_sent_total", "rec-slack", None)], 2)
        self.assertGreaterEqual(m[("failoverd_notify_sent_total", "rec-pd", None)], 2)
        self.assertEqual(m[("failoverd_notify_sent_total", "err500", None)], 0)
        # No secret in the logs.
        log = self.text()
        for s in ("json-bearer-token-0123", "R0UT1NGKEY0123456789", "/slack/T000/B000"):
            self.assertNotIn(s, log)


class Shutdown(unittest.TestCase):
    def test_a_hanging_receiver_does_not_hold_up_exit(self):
        hang = Hanging()
        admin = free_port()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                # plan_refused (no quorum yet) comes right at start: something to send.
                f.write(f"""[observer]
id = "x"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{admin}"

[regions.east]
[[regions.east.endpoints]]
name = "e"
kind = "tcp"
address = "127.0.0.1:9"

[services.www]
regions = ["east"]
[services.www.publish]
east = ["192.0.2.1"]
[services.www.target]
kind = "exec"
argv = ["/bin/true"]

[[notify]]
name = "hang"
url = "http://127.0.0.1:{hang.port}/"
timeout = "60s"
events = ["plan_refused"]
""")
            with open(path + ".log", "w") as log:
                proc = subprocess.Popen([FAILOVERD, "--config", path], stdout=log,
                                        stderr=subprocess.STDOUT)
                try:
                    self.assertTrue(wait_until(lambda: len(hang.conns) >= 1, 15))
                    proc.send_signal(signal.SIGTERM)
                    try:
                        rc = proc.wait(timeout=15)  # well before the receiver's 60 s timeout
                    except subprocess.TimeoutExpired:
                        rc = None
                    self.assertEqual(rc, 0)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=10)
                    hang.stop()


class CheckConfig(unittest.TestCase):
    def test_missing_secret_file_is_reported_and_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.toml")
            with open(path, "w") as f:
                f.write(f"""[observer]
id = "x"
state_dir = "{d}/state"

[regions.east]
[[regions.east.endpoints]]
name = "e"
kind = "tcp"
address = "127.0.0.1:9"

[[notify]]
name = "pd"
url = "https://events.pagerduty.com/v2/enqueue"
format = "pagerduty"
secret_file = "no-such-key"
""")
            r = subprocess.run([FAILOVERD, "--check-config", path], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f"{path}:15:15: notify[0].secret_file: secret file", r.stderr)
            self.assertIn("does not exist", r.stderr)
            r = subprocess.run([FAILOVERD, "--config", path], capture_output=True, text=True,
                               timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("notify[0].secret_file", r.stderr + r.stdout)


if __name__ == "__main__":
    FAILOVERD = sys.argv[1]
    unittest.main(argv=[sys.argv[0], "-v"])
