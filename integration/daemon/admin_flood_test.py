#!/usr/bin/env python3
"""The admin listener under a flood, against the real failoverd binary on loopback: 300 slowloris
connections (a header trickled one byte every 0.5 s) and 2,000 idle connections from many
127.x source addresses, each reconnected when the daemon closes it (up to 2,000 a second), plus 100 unauthenticated
requests a second from 127.0.0.1, the operator's own address. During the flood `failoverctl
status` with the token must succeed every time, /healthz must answer every time, and probing must
stay on time (probe results keep their rate, the event loop's lag stays under the daemon's own
stall threshold). And with HTTPS, idle connections that never start a handshake cost no TLS state.

usage: admin_flood_test.py PATH/TO/failoverd PATH/TO/failoverctl
Talks only to 127.0.0.0/8. Every loop is bounded in count and time; the flood stops when the test
ends. Stops only the process it started, by PID.
"""
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifecycle_test  # noqa: E402  the Daemon process wrapper and free_port, shared
from lifecycle_test import free_port  # noqa: E402

FAILOVERD = None
FAILOVERCTL = None
TOKEN = "flood-test-operator-token-0123456789"
PROBE_INTERVAL = 0.2  # seconds, as configured below
IDLE = 2000
SLOW = 300
ROUNDS = 10


def config_text(admin_port, d):
    return f"""
[observer]
id = "flood"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{admin_port}"
token_file = "{d}/tokens"

[probe_defaults]
interval = "200ms"
fast_interval = "200ms"
down_interval = "200ms"
timeout = "100ms"

[regions.east]
[[regions.east.endpoints]]
name = "east-1"
kind = "tcp"
address = "127.0.0.1:9"
"""


def metrics(port):
    """(sum of failoverd_probe_results_total, failoverd_event_loop_lag_seconds) or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    probes, lag = 0.0, None
    for line in text.splitlines():
        if line.startswith("failoverd_probe_results_total{"):
            probes += float(line.rsplit(" ", 1)[1])
        elif line.startswith("failoverd_event_loop_lag_seconds"):
            lag = float(line.rsplit(" ", 1)[1])
    return probes, lag


def healthz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status
    except (OSError, urllib.error.URLError) as e:
        return str(e)


class ConnectionFlood(threading.Thread):
    """Holds IDLE idle and SLOW slowloris connections open from many source addresses; whatever
    the daemon closes is reconnected, at most 2,000 reconnects a second. Stops at stop() or after
    `limit` seconds, whichever is first."""

    def __init__(self, port, limit=90.0):
        super().__init__(daemon=True)
        self.port = port
        self.limit = limit
        self.halt = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.open = {}  # fd -> (socket, slot)
        self.pending = []  # slots to (re)connect
        self.max_open = 0
        self.connects = 0
        self.attempts = 0
        self.closed_by_daemon = 0
        self.bytes_trickled = 0
        self.errors = 0

    @staticmethod
    def source(slot):
        kind, i = slot
        if kind == "idle":  # 250 addresses, 8 connections each
            return f"127.10.{(i // 8) // 250}.{(i // 8) % 250 + 1}"
        return f"127.20.0.{i // 4 + 1}"  # slow: 75 addresses, 4 each

    def connect(self, slot):
        self.attempts += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((self.source(slot), 0))
            s.settimeout(1.0)
            s.connect(("127.0.0.1", self.port))
            s.setblocking(False)
            if slot[0] == "slow":
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            self.errors += 1
            s.close()
            self.pending.append(slot)
            return
        self.connects += 1
        self.open[s.fileno()] = (s, slot)
        self.sel.register(s, selectors.EVENT_READ)

    def drop(self, fd):
        s, slot = self.open.pop(fd)
        self.sel.unregister(s)
        s.close()
        self.pending.append(slot)

    def run(self):
        end = time.monotonic() + self.limit
        self.pending = [("idle", i) for i in range(IDLE)] + [("slow", i) for i in range(SLOW)]
        next_trickle = time.monotonic() + 0.5
        budget, refilled = 0.0, time.monotonic()
        while not self.halt.is_set() and time.monotonic() < end:
            now = time.monotonic()
            budget = min(200.0, budget + (now - refilled) * 2000.0)  # reconnects a second
            refilled = now
            while self.pending and not self.halt.is_set():
                # The first fill goes as fast as it can; reconnects are rate limited.
                if self.attempts >= IDLE + SLOW:
                    if budget < 1.0:
                        break
                    budget -= 1.0
                self.connect(self.pending.pop(0))
            self.max_open = max(self.max_open, len(self.open))
            for key, _ in self.sel.select(timeout=0.05):
                fd = key.fd
                if fd not in self.open:
                    continue
                try:
                    data = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_daemon += 1
                    self.drop(fd)
            if time.monotonic() >= next_trickle:
                next_trickle += 0.5
                for fd, (s, slot) in list(self.open.items()):
                    if slot[0] != "slow":
                        continue
                    try:
                        s.send(b"X")
                        self.bytes_trickled += 1
                    except OSError:
                        self.closed_by_daemon += 1
                        self.drop(fd)
        for fd in list(self.open):
            s, _ = self.open.pop(fd)
            s.close()

    def stop(self):
        self.halt.set()
        self.join(timeout=30)


class RequestFlood(threading.Thread):
    """Unauthenticated GET /v1/status from 127.0.0.1, 100 a second, each on a new connection."""

    def __init__(self, port, limit=90.0):
        super().__init__(daemon=True)
        self.port = port
        self.limit = limit
        self.halt = threading.Event()
        self.statuses = {}

    def run(self):
        end = time.monotonic() + self.limit
        next_at = time.monotonic()
        while not self.halt.is_set() and time.monotonic() < end:
            next_at += 0.01
            status = "error"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    reply = s.recv(64)
                    status = reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "?"
            except OSError:
                pass
            self.statuses[status] = self.statuses.get(status, 0) + 1
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()

    def stop(self):
        self.halt.set()
        self.join(timeout=30)


class DaemonCase(unittest.TestCase):
    """Starts failoverd with a token file; `tls_admin` adds [admin] lines (HTTPS)."""

    tls_admin = ""

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = IDLE + SLOW + 1000
        if soft < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {want}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        d = self.tmp.name
        os.mkdir(os.path.join(d, "state"), 0o700)
        with open(os.path.join(d, "tokens"), "w") as f:
            f.write(f"ops:{TOKEN}\n")
        os.chmod(os.path.join(d, "tokens"), 0o600)
        self.port = free_port()
        config = os.path.join(d, "failoverd.toml")
        self.d = d
        if self.tls_admin:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{d}/server.key",
                            "-out", f"{d}/server.crt", "-subj", "/CN=localhost", "-days", "1"],
                           check=True, capture_output=True, timeout=30)
            os.chmod(f"{d}/server.key", 0o600)
        with open(config, "w") as f:
            f.write(config_text(self.port, d).replace(
                "[admin]\n", "[admin]\n" + self.tls_admin.format(d=d)))
        self.daemon = lifecycle_test.Daemon(config)  # its log is config + ".log"
        self.proc = self.daemon.proc
        self.addCleanup(self.daemon.stop)
        if self.tls_admin:
            return
        for _ in range(200):
            if healthz(self.port) == 200:
                break
            time.sleep(0.05)
        self.assertEqual(healthz(self.port), 200, self.daemon_log())

    def daemon_log(self):
        return self.daemon.text()[-4000:]

    def ctl_status(self):
        r = subprocess.run([FAILOVERCTL, "--admin", f"127.0.0.1:{self.port}", "status"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, FAILOVERD_TOKEN=TOKEN))
        return r.returncode, r.stderr.strip()



class AdminFlood(DaemonCase):
    def test_operators_and_probes_are_served_during_a_connection_and_request_flood(self):
        rc, err = self.ctl_status()
        self.assertEqual(rc, 0, err)
        start = metrics(self.port)
        self.assertIsNotNone(start)
        t0 = time.monotonic()

        connections = ConnectionFlood(self.port)
        requests = RequestFlood(self.port)
        connections.start()
        requests.start()
        ctl, health, lags = [], [], []
        try:
            # Let the flood fill the listener before the first operator request.
            for _ in range(100):
                if connections.connects >= IDLE + SLOW:
                    break
                time.sleep(0.05)
            for _ in range(ROUNDS):
                ctl.append(self.ctl_status())
                health.append(healthz(self.port))
                m = metrics(self.port)
                if m is not None and m[1] is not None:
                    lags.append(m[1])
                time.sleep(0.5)
            end = metrics(self.port)
            t1 = time.monotonic()
        finally:
            connections.stop()
            requests.stop()

        report = (f"ctl={ctl} healthz={health} lags={lags} requests={requests.statuses} "
                  f"connects={connections.connects} max_open={connections.max_open} "
                  f"closed_by_daemon={connections.closed_by_daemon} "
                  f"trickled={connections.bytes_trickled} connect_errors={connections.errors}")
        print(report)
        # The flood was real: every connection was opened, requests were sent.
        self.assertGreaterEqual(connections.connects, IDLE + SLOW, report)
        self.assertGreater(sum(requests.statuses.values()), 5 * ROUNDS, report)
        # Operators were served every time.
        self.assertEqual([rc for rc, _ in ctl], [0] * ROUNDS, report)
        self.assertEqual(health, [200] * ROUNDS, report)
        # Slowloris connections lived long enough to trickle (they were not all refused).
        self.assertGreater(connections.bytes_trickled, 0, report)
        # Probing stayed on time: at least 70% of the configured probe rate, and the event loop
        # never as late as the daemon's own stall threshold (max_loop_lag, 500 ms).
        self.assertIsNotNone(end, report)
        expected = (t1 - t0) / PROBE_INTERVAL
        self.assertGreaterEqual(end[0] - start[0], 0.7 * expected, report)
        self.assertTrue(lags, report)
        self.assertLess(max(lags), 0.5, report)
        self.assertIsNone(self.proc.poll(), self.daemon_log())


class AdminTlsIdle(DaemonCase):
    """HTTPS admin listener: 250 connections from 250 addresses that never send a byte."""

    tls_admin = 'tls_cert_file = "{d}/server.crt"\ntls_key_file = "{d}/server.key"\n'

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def test_idle_tls_connections_hold_no_tls_state(self):
        # Up when the TLS port accepts (a handshake is needed for /healthz; not wanted here).
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        before = self.rss_kib()
        socks = []
        try:
            for i in range(250):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((f"127.40.{i // 200}.{i % 200 + 1}", 0))
                s.settimeout(2)
                s.connect(("127.0.0.1", self.port))
            time.sleep(1.0)  # well inside the 2 s header deadline: all still held
            after = self.rss_kib()
        finally:
            for s in socks:
                s.close()
        # A TLS session with Asio's record buffers is ~90 KiB a connection (main's failoverd grew
        # by 22 MB here); a socket and a coroutine are a few KiB. Allow 8 MiB for 250.
        self.assertLess(after - before, 8 * 1024, f"RSS {before} -> {after} KiB")


if __name__ == "__main__":
    FAILOVERD, FAILOVERCTL = sys.argv[1], sys.argv[2]
    lifecycle_test.FAILOVERD = FAILOVERD
    unittest.main(argv=[sys.argv[0], "-v"])
