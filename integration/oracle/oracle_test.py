#!/usr/bin/env python3
"""The oracle listener with the real failoverd binary.

One observer, two regions (east on 127.0.0.2, west on 127.0.0.3, TCP listeners this test owns),
one priority service www with failback = "auto" and an exec target (a hook that logs each run), and an
[oracle] table. Checks: east 200 / west 503 with the body's fields; 404 alike for an unknown
service, secret or region; 405 for POST; the answers swap when east's listener closes and swap
back when it reopens; then a hostile-client run: ORACLE_SLOW_CONNECTIONS (default 5000) slowloris
connections from 100 loopback sources trickling header bytes, garbage and oversized requests,
and a keep-alive request flood from one source, while the test checks that the probes keep their
rate (failoverd_probe_results_total from the admin listener), that a checker from its own source
gets its answer promptly, and that the daemon's RSS stays bounded (prints the figures); then a
reload (SIGHUP) that moves the oracle to another port. A second daemon serves HTTPS on [::1].

usage: oracle_test.py PATH/TO/failoverd
Talks only to 127.0.0.0/8 and ::1. Every loop is bounded. Stops only the process it started, by PID.
"""
import hashlib
import hmac
import os
import random
import re
import resource
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
SECRET = "oracle-test-secret-0123456789"
SLOW = int(os.environ.get("ORACLE_SLOW_CONNECTIONS", "5000"))
HOSTILE_SECONDS = float(os.environ.get("ORACLE_HOSTILE_SECONDS", "10"))
MAX_CONNECTIONS = 4000
PER_SOURCE = 64
PROBE_INTERVAL = 0.1


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from kit import Listener, free_port, stop_process, wait_until  # noqa: E402


def path_secret(service):
    mac = hmac.new(SECRET.encode(), ("failoverd-oracle/" + service).encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def http_get(port, path, method="GET", source="127.0.0.1", timeout=3.0):
    """(status, body, seconds) of one request on a fresh connection from `source`."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: oracle\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while len(data) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return status, body.decode(errors="replace"), time.monotonic() - start


class OracleWorld(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.east, cls.west = Listener("127.0.0.2"), Listener("127.0.0.3")
        cls.admin_port = free_port()
        cls.oracle_port = free_port()
        hook = os.path.join(d, "hook.sh")
        cls.runs_path = os.path.join(d, "runs.txt")
        with open(hook, "w") as f:
            f.write(f"#!/bin/sh\necho \"$FAILOVERD_ACTIVE_REGIONS $(date +%s.%N)\" >> '{cls.runs_path}'\n")
        os.chmod(hook, 0o755)
        secret = os.path.join(d, "oracle.secret")
        with open(secret, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret, 0o600)
        config = os.path.join(d, "failoverd.toml")
        with open(config, "w") as f:
            f.write(f"""
[observer]
id = "obs-x"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{cls.admin_port}"

[oracle]
listen = "127.0.0.1:{cls.oracle_port}"
path_secret_file = "{secret}"
max_connections = {MAX_CONNECTIONS}
max_connections_per_source = {PER_SOURCE}
request_timeout = "2s"
rate_limit_per_source = 50
rate_limit_burst = 100

[probe_defaults]
interval = "{int(PROBE_INTERVAL * 1000)}ms"
timeout = "100ms"
rise = 2
fall = 2

[regions.east]
[[regions.east.endpoints]]
name = "east-tcp"
kind = "tcp"
address = "127.0.0.2:{cls.east.port}"

[regions.west]
[[regions.west.endpoints]]
name = "west-tcp"
kind = "tcp"
address = "127.0.0.3:{cls.west.port}"

[services.www]
policy = "priority"
regions = ["east", "west"]
failback = "auto"
failback_delay = "500ms"
hold_down = "500ms"
flip_budget = 20
reconcile_interval = "1s"

[services.www.publish]
east = ["192.0.2.1"]
west = ["192.0.2.2"]

[services.www.target]
kind = "exec"
argv = ["{hook}"]
timeout = "5s"
""")
        cls.config_path = config
        cls.log_path = os.path.join(d, "failoverd.log")
        cls.log = open(cls.log_path, "w")
        cls.proc = subprocess.Popen([FAILOVERD, "--config", config], stdout=cls.log,
                                    stderr=subprocess.STDOUT)
        cls.base = f"/v1/oracle/www/{path_secret('www')}/"

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.proc)
        cls.log.close()
        cls.east.close()
        cls.west.close()
        cls.tmp.cleanup()

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics",
                                        timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            m = re.match(r'^(failoverd_\w+)\{([^}]*)\} (\S+)$', line)
            if m:
                labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2))))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    def ask(self, region, **kw):
        try:
            return http_get(self.oracle_port, self.base + region, **kw)
        except OSError:
            return 0, "", 0.0

    def probes_ok(self, m=None):
        m = m if m is not None else self.metrics()
        return sum(v for (name, labels), v in m.items()
                   if name == "failoverd_probe_results_total" and ("reason", "ok") in labels)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def live(self, east_status, west_status, timeout=15.0):
        def check():
            e, w = self.ask("east"), self.ask("west")
            return (e[0] == east_status and w[0] == west_status and "state=live" in e[1]
                    and "state=live" in w[1])
        return wait_until(check, timeout=timeout, step=0.05)

    def test_1_answers(self):
        self.assertTrue(self.live(200, 503), self.text()[-3000:])
        status, body, _ = self.ask("east")
        self.assertEqual(status, 200)
        self.assertRegex(body, r"^failoverd oracle service=www region=east serve=yes active=east "
                               r"generation=\d+ state=live\n$")
        status, body, _ = self.ask("west")
        self.assertEqual(status, 503)
        self.assertIn("serve=no active=east", body)
        self.assertNotIn(path_secret("www"), body)
        # Unknown service, wrong secret, unknown region: the same 404.
        answers = {http_get(self.oracle_port, p)[:2] for p in (
            f"/v1/oracle/api/{path_secret('api')}/east",
            f"/v1/oracle/www/{path_secret('api')}/east",
            self.base + "north",
            "/v1/oracle/www",
            "/metrics")}
        self.assertEqual(answers, {(404, "not found\n")})
        self.assertEqual(http_get(self.oracle_port, self.base + "east", method="POST")[0], 405)
        self.assertEqual(http_get(self.oracle_port, self.base + "east", method="HEAD")[:2], (200, ""))
        m = self.metrics()
        for s in ("200", "503", "404", "405", "429"):
            self.assertIn(("failoverd_oracle_requests_total", (("status", s),)), m)
        self.assertGreaterEqual(m[("failoverd_oracle_requests_total", (("status", "404"),))], 5)
        self.assertNotIn(path_secret("www"), self.text())

    def test_2_failover_swaps_the_answers(self):
        self.assertTrue(self.live(200, 503), self.text()[-3000:])
        gen = int(re.search(r"generation=(\d+)", self.ask("east")[1]).group(1))
        # A checker asking every ~2 ms on one kept-alive connection (its own source address, so
        # the rate limit is its own too: 50/s would not do, so it uses several sources in turn)
        # notes when west first answers 200; the hook notes when it wrote west.
        seen = {}
        stop = threading.Event()

        def watch():
            n = 0
            while not stop.is_set() and n < 20000:
                n += 1
                status, _, _ = self.ask("west", source=f"127.0.4.{1 + n % 250}", timeout=2)
                if status == 200:
                    seen["west"] = time.time()
                    return
                time.sleep(0.002)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        self.east.close()
        try:
            self.assertTrue(self.live(503, 200), self.text()[-3000:])
            stop.set()
            watcher.join(timeout=10)
            with open(self.runs_path) as f:
                runs = [line.split() for line in f.read().splitlines()]
            wrote = [float(t) for regions, t in runs if regions == "west"]
            if wrote and "west" in seen:
                print(f"\nfailover: hook wrote west at {wrote[-1]:.3f}, oracle answered 200 for "
                      f"west {1000 * (seen['west'] - wrote[-1]):.1f} ms later (polling every "
                      f"~2 ms plus a fresh connection per ask)", file=sys.stderr)
                # The answer follows the written decision within 10 ms; the checker's own
                # polling (a fresh connection per ask, on a shared 2-core machine) adds to it.
                self.assertLess(seen["west"] - wrote[-1], 0.05)
            body = self.ask("west")[1]
            self.assertIn("active=west", body)
            self.assertGreater(int(re.search(r"generation=(\d+)", body).group(1)), gen)
        finally:
            self.east.open()
        self.assertTrue(self.live(200, 503, timeout=20), self.text()[-3000:])

    def test_3_hostile_clients(self):
        self.assertTrue(self.live(200, 503), self.text()[-3000:])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, SLOW + 1000)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        slow = min(SLOW, want - 500)
        stop = threading.Event()
        stats = {"slow_opened": 0, "slow_reopened": 0, "garbage": 0, "flood": {},
                 "flood_requests": 0}
        sources = [f"127.0.1.{i}" for i in range(1, 101)]

        def slowloris():
            socks = []
            for i in range(slow):
                if stop.is_set():
                    break
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.bind((sources[i % len(sources)], 0))
                    s.connect_ex(("127.0.0.1", self.oracle_port))
                except OSError:
                    s.close()
                    continue
                socks.append([s, 0, sources[i % len(sources)]])
                stats["slow_opened"] += 1
            header = f"GET {self.base}east HTTP/1.1\r\nHost: oracle\r\nX-Slow: ".encode()
            rounds = 0
            while not stop.is_set() and rounds < 10000:
                rounds += 1
                for entry in socks:
                    s, sent, source = entry
                    try:
                        s.send(header[sent:sent + 1] if sent < len(header) else b"a")
                        entry[1] = sent + 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        s.close()
                        n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        n.setblocking(False)
                        try:
                            n.bind((source, 0))
                            n.connect_ex(("127.0.0.1", self.oracle_port))
                        except OSError:
                            pass
                        entry[0], entry[1] = n, 0
                        stats["slow_reopened"] += 1
                stop.wait(0.25)
            for entry in socks:
                entry[0].close()

        def garbage():
            rng = random.Random(7)
            n = 0
            while not stop.is_set() and n < 100000:
                n += 1
                kind = n % 3
                try:
                    with socket.create_connection(("127.0.0.1", self.oracle_port), timeout=2,
                                                  source_address=("127.0.2.1", 0)) as s:
                        if kind == 0:
                            s.sendall(bytes(rng.randrange(256) for _ in range(512)))
                        elif kind == 1:
                            s.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 8000 + b"\r\n\r\n")
                        else:
                            s.sendall(b"BREW /v1/oracle HTTP/1.1\r\nContent-Length: 99999\r\n\r\n")
                        s.recv(256)
                except OSError:
                    pass
                stats["garbage"] += 1
                stop.wait(0.002)

        def flood():
            request = f"GET {self.base}east HTTP/1.1\r\nHost: oracle\r\n\r\n".encode()
            n = 0
            while not stop.is_set() and n < 1000000:
                try:
                    with socket.create_connection(("127.0.0.1", self.oracle_port), timeout=2,
                                                  source_address=("127.0.3.1", 0)) as s:
                        f = s.makefile("rb")
                        for _ in range(100):
                            if stop.is_set():
                                break
                            s.sendall(request)
                            line = f.readline()
                            if not line:
                                break
                            status = line.split(b" ")[1].decode()
                            length = 0
                            while True:
                                h = f.readline()
                                if h in (b"\r\n", b""):
                                    break
                                if h.lower().startswith(b"content-length:"):
                                    length = int(h.split(b":")[1])
                            f.read(length)
                            stats["flood"][status] = stats["flood"].get(status, 0) + 1
                            n += 1
                except OSError:
                    pass
            stats["flood_requests"] = n

        rss_before = self.rss_kib()
        probes_before = self.probes_ok()
        threads = [threading.Thread(target=t, daemon=True) for t in (slowloris, garbage, flood)]
        for t in threads:
            t.start()
        checks, late, max_check, max_fds, max_rss = 0, 0, 0.0, 0, 0
        t0 = time.monotonic()
        deadline = t0 + HOSTILE_SECONDS
        while time.monotonic() < deadline:
            status, body, seconds = self.ask("east", source="127.0.0.9", timeout=5)
            checks += 1
            max_check = max(max_check, seconds)
            if status != 200 or seconds > 1.0:
                late += 1
            max_fds = max(max_fds, self.fds())
            max_rss = max(max_rss, self.rss_kib())
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        probes_during = self.probes_ok() - probes_before
        stop.set()
        for t in threads:
            t.join(timeout=30)
        expected = 2 * elapsed / PROBE_INTERVAL  # two endpoints
        m = self.metrics()
        by_status = {labels[0][1]: v for (name, labels), v in m.items()
                     if name == "failoverd_oracle_requests_total"}
        print(f"\nhostile: {slow} slow connections from {len(sources)} sources "
              f"(opened {stats['slow_opened']}, reopened after close {stats['slow_reopened']}), "
              f"{stats['garbage']} garbage connections, flood {stats['flood']} over "
              f"{elapsed:.1f}s; daemon fds max {max_fds}; RSS {rss_before} KiB before, "
              f"max {max_rss} KiB; probes ok {probes_during:.0f} of {expected:.0f} expected; "
              f"checker {checks} asks, {late} late or wrong, slowest {max_check * 1000:.0f} ms; "
              f"oracle requests by status {by_status}; load average {os.getloadavg()}",
              file=sys.stderr)
        self.assertIsNone(self.proc.poll(), "failoverd died")
        self.assertEqual(late, 0)
        self.assertGreaterEqual(probes_during, 0.8 * expected)
        self.assertLessEqual(max_fds, MAX_CONNECTIONS + 100)
        self.assertLess(max_rss, 256 * 1024)
        self.assertGreater(stats["flood"].get("429", 0), 0)
        self.assertGreater(by_status.get("400", 0) + by_status.get("431", 0), 0)
        # After the storm: still answering, still live.
        self.assertTrue(self.live(200, 503), self.text()[-3000:])

    def test_4_reload_moves_the_listener(self):
        self.assertTrue(self.live(200, 503), self.text()[-3000:])
        old_port, new_port = self.oracle_port, free_port()
        with open(self.config_path) as f:
            text = f.read()
        with open(self.config_path, "w") as f:
            f.write(text.replace(f'listen = "127.0.0.1:{old_port}"',
                                 f'listen = "127.0.0.1:{new_port}"'))
        self.proc.send_signal(signal.SIGHUP)
        type(self).oracle_port = new_port
        self.assertTrue(self.live(200, 503), self.text()[-3000:])
        self.assertIn("configuration reloaded", self.text())

        def old_closed():
            try:
                http_get(old_port, self.base + "east", timeout=1)
                return False
            except OSError:
                return True
        self.assertTrue(wait_until(old_closed, timeout=5))


class OracleTlsIpv6(unittest.TestCase):
    """[oracle] on [::1] with its own certificate: HTTPS answers, plain HTTP gets nothing."""

    def test_tls_on_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
                port = s.getsockname()[1]
        except OSError:
            self.skipTest("no IPv6 loopback")
        import ssl
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "oracle.pem"), os.path.join(d, "oracle.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                            "-subj", "/CN=oracle", "-addext", "subjectAltName=IP:::1",
                            "-keyout", key, "-out", cert], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            os.chmod(key, 0o600)
            secret = os.path.join(d, "oracle.secret")
            with open(secret, "w") as f:
                f.write(SECRET + "\n")
            os.chmod(secret, 0o600)
            east = Listener("127.0.0.2")
            hook = os.path.join(d, "hook.sh")
            with open(hook, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(hook, 0o755)
            config = os.path.join(d, "failoverd.toml")
            with open(config, "w") as f:
                f.write(f"""
[observer]
id = "obs-t"
state_dir = "{d}/state"
[admin]
listen = "127.0.0.1:{free_port()}"
[oracle]
listen = "[::1]:{port}"
path_secret_file = "{secret}"
cert_file = "{cert}"
key_file = "{key}"
[probe_defaults]
interval = "100ms"
timeout = "100ms"
[regions.east]
[[regions.east.endpoints]]
name = "east-tcp"
kind = "tcp"
address = "127.0.0.2:{east.port}"
[services.www]
regions = ["east"]
reconcile_interval = "1s"
[services.www.publish]
east = ["192.0.2.1"]
[services.www.target]
kind = "exec"
argv = ["{hook}"]
""")
            log = open(os.path.join(d, "log"), "w")
            proc = subprocess.Popen([FAILOVERD, "--config", config], stdout=log,
                                    stderr=subprocess.STDOUT)
            try:
                ctx = ssl.create_default_context(cafile=cert)
                path = f"/v1/oracle/www/{path_secret('www')}/east"

                def ask():
                    try:
                        with socket.create_connection(("::1", port), timeout=2) as raw:
                            with ctx.wrap_socket(raw, server_hostname="::1") as s:
                                s.sendall(f"GET {path} HTTP/1.1\r\nHost: o\r\n"
                                          "Connection: close\r\n\r\n".encode())
                                data = b""
                                for _ in range(100):
                                    chunk = s.recv(4096)
                                    if not chunk:
                                        break
                                    data += chunk
                                return data.decode(errors="replace")
                    except (OSError, ssl.SSLError):
                        return ""
                self.assertTrue(wait_until(lambda: "state=live" in ask(), timeout=15))
                self.assertTrue(ask().startswith("HTTP/1.1 200"))
                # Plain HTTP to the HTTPS listener gets no oracle answer.
                try:
                    with socket.create_connection(("::1", port), timeout=3) as s:
                        s.sendall(f"GET {path} HTTP/1.1\r\nHost: o\r\n\r\n".encode())
                        plain = s.recv(4096)
                except OSError:
                    plain = b""
                self.assertNotIn(b"serve=", plain)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                log.close()
                east.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    FAILOVERD = sys.argv[1]
    unittest.main(argv=[sys.argv[0], "-v"])
