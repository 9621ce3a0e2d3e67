#!/usr/bin/env python3
"""The real failoverd binary as a process: command line, start-up, SIGHUP reload (good and bad
config), SIGTERM, exit codes, the systemd notify protocol (READY/RELOADING/STOPPING/WATCHDOG), and
the admin listener over HTTPS with client certificates, driven by the real failoverctl.

usage: lifecycle_test.py PATH/TO/failoverd REPO_ROOT PATH/TO/failoverctl
Talks only to 127.0.0.1. Every wait is bounded. Stops only the processes it started, by PID.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

FAILOVERD = None
REPO = None
FAILOVERCTL = None


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from kit import free_port, wait_until  # noqa: E402


def config_text(admin_port, state_dir, observer="lifecycle"):
    return f"""
[observer]
id = "{observer}"
state_dir = "{state_dir}"

[admin]
listen = "127.0.0.1:{admin_port}"

[regions.east]
[[regions.east.endpoints]]
name = "east-1"
kind = "tcp"
address = "127.0.0.1:9"
"""


def http_get(port, path="/healthz", timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


class Daemon:
    """A failoverd process whose stderr is collected into a file."""

    def __init__(self, config_path, env=None, extra=()):
        self.log_path = config_path + ".log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([FAILOVERD, "--config", config_path, *extra], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, needle, timeout=10.0):
        return wait_until(lambda: needle in self.text(), timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class CommandLine(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([FAILOVERD, *args], capture_output=True, text=True, timeout=30)

    def test_version_and_help_exit_zero(self):
        r = self.run_cli("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^failoverd \d+\.\d+\.\d+")
        r = self.run_cli("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout)

    def test_unknown_argument_is_a_usage_error(self):
        r = self.run_cli("--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument '--bogus'", r.stderr)

    def test_check_config_exits_zero_for_every_shipped_example(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name in sorted(os.listdir(os.path.join(REPO, "config"))):
                if not name.endswith(".toml") or name.startswith("scenario-"):
                    continue
                # Secret files are shipped without their 0600 mode (git keeps only +x).
                for f in os.listdir(os.path.join(REPO, "config")):
                    if f.endswith(".key") or f.endswith(".token"):
                        os.chmod(os.path.join(REPO, "config", f), 0o600)
                with self.subTest(config=name):
                    r = self.run_cli("--check-config", os.path.join(REPO, "config", name))
                    with open(os.path.join(REPO, "config", name)) as f:
                        names_etc = "/etc/failoverd/" in f.read()
                    if names_etc:
                        # Host examples name secrets under /etc/failoverd; only syntax and
                        # everything but those files can pass here.
                        for line in r.stderr.splitlines():
                            if line.endswith("error") or line.endswith("errors"):
                                continue
                            self.assertIn("/etc/failoverd/", line)
                    else:
                        self.assertEqual(r.returncode, 0, r.stderr)

    def test_shipped_alert_rules_pass_promtool(self):
        r = subprocess.run(["promtool", "check", "rules", os.path.join(REPO, "config", "alerts.yml")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_check_config_names_file_line_column_and_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write(config_text(free_port(), tmp).replace('kind = "tcp"', 'kind = "tcp"\nintervall = "1s"'))
            r = self.run_cli("--check-config", path)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, rf"{path}:\d+:\d+: regions\.east\.endpoints\[0\]\.intervall: ")
            self.assertIn("1 error", r.stderr)

    def test_a_corrupt_state_file_is_set_aside_not_fatal(self):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            path = os.path.join(tmp, "failoverd.toml")
            with open(path, "w") as f:
                f.write(config_text(port, tmp))
            with open(os.path.join(tmp, "state.json"), "w") as f:
                f.write("{not json")
            d = Daemon(path)
            try:
                self.assertTrue(d.wait_log("admin listening"), d.text())
                self.assertIn("state file unusable", d.text())
                self.assertTrue(os.path.exists(os.path.join(tmp, "state.json.corrupt")))
                self.assertEqual(http_get(port)[0], 200)
            finally:
                d.stop()

    def test_start_with_invalid_config_exits_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write("[observer\n")
            r = subprocess.run([FAILOVERD, "--config", path], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot start: invalid configuration", r.stderr)


class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.tmp.name, "failoverd.toml")
        self.port = free_port()
        with open(self.config, "w") as f:
            f.write(config_text(self.port, self.tmp.name))
        self.notify_path = os.path.join(self.tmp.name, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.2)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        self.daemon = Daemon(self.config, env)
        self.addCleanup(self.cleanup)
        self.messages = []

    def cleanup(self):
        self.daemon.stop()
        self.notify.close()
        self.tmp.cleanup()

    def drain_notify(self, want, timeout=10.0):
        """Collects sd_notify datagrams until one contains `want`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except socket.timeout:
                pass
            if any(want in m for m in self.messages):
                return True
        return False

    def healthy(self, port):
        try:
            return http_get(port)[0] == 200
        except OSError:
            return False

    def test_start_serves_healthz_and_notifies_ready(self):
        self.assertTrue(self.daemon.wait_log("admin listening"), self.daemon.text())
        self.assertIn(f"address=127.0.0.1:{self.port}", self.daemon.text())
        self.assertEqual(http_get(self.port), (200, "ok\n"))
        self.assertTrue(self.drain_notify("READY=1"), self.messages)
        self.assertTrue(self.drain_notify("WATCHDOG=1"), self.messages)

    def test_metrics_pass_promtool(self):
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        # After a probe round the endpoint's histogram and result counters exist.
        self.assertTrue(wait_until(
            lambda: "failoverd_probe_results_total{" in http_get(self.port, "/metrics")[1], 10))
        status, body = http_get(self.port, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('failoverd_probe_results_total{endpoint="east-1",kind="tcp",reason="refused",region="east"}', body)
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_sighup_with_a_good_config_moves_the_listener(self):
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        new_port = free_port()
        with open(self.config, "w") as f:
            f.write(config_text(new_port, self.tmp.name))
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("configuration reloaded"), self.daemon.text())
        self.assertTrue(wait_until(lambda: self.healthy(new_port)))
        self.assertTrue(wait_until(lambda: not self.healthy(self.port)))
        self.assertTrue(self.drain_notify("RELOADING=1"), self.messages)
        self.assertIsNone(self.daemon.proc.poll())

    def test_log_format_from_the_command_line_survives_a_reload(self):
        self.daemon.stop()
        self.daemon = Daemon(self.config, extra=("--log-format", "json"))
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("configuration reloaded"), self.daemon.text())
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.proc.wait(timeout=10), 0)
        lines = [line for line in self.daemon.text().splitlines() if line.strip()]
        reloaded = [i for i, line in enumerate(lines) if "configuration reloaded" in line][0]
        self.assertGreater(len(lines) - reloaded, 1)  # the reload and the stop, at least
        for line in lines[reloaded:]:
            self.assertTrue(line.startswith("{"), line)
            self.assertIn("msg", json.loads(line))

    def test_sighup_with_a_bad_config_keeps_the_old_one_running(self):
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        with open(self.config, "w") as f:
            f.write(config_text(free_port(), self.tmp.name) + "\n[services.www]\npolicy = \"sideways\"\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("reload rejected"), self.daemon.text())
        self.assertIn("services.www.policy", self.daemon.text())
        self.assertTrue(self.healthy(self.port))
        self.assertIsNone(self.daemon.proc.poll())

    def test_sighup_that_cannot_bind_the_new_address_keeps_the_old_one(self):
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        self.addCleanup(blocker.close)
        with open(self.config, "w") as f:
            f.write(config_text(blocker.getsockname()[1], self.tmp.name))
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("reload rejected"), self.daemon.text())
        self.assertIn("Address already in use", self.daemon.text())
        self.assertTrue(self.healthy(self.port))

    def test_sigterm_stops_gracefully_with_exit_zero(self):
        self.assertTrue(wait_until(lambda: self.healthy(self.port)), self.daemon.text())
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.proc.wait(timeout=10), 0)
        self.assertIn("msg=stopped", self.daemon.text())
        self.assertTrue(self.drain_notify("STOPPING=1"), self.messages)


class HostileState(unittest.TestCase):
    """What an operator or another local user can put in the daemon's way: a reload that is
    rejected late, a state file that is not this observer's or not a file, an oversized reason,
    a reason with terminal escapes. Each is refused with a reason and loses no hold."""

    TOKEN = "old-operator-token-0123456789"
    NEW_TOKEN = "new-operator-token-9876543210"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.d = self.tmp.name
        self.state = os.path.join(self.d, "state")
        self.port = free_port()
        self.config = os.path.join(self.d, "failoverd.toml")
        self.write_tokens("tokens", self.TOKEN)
        self.write_config(self.service_config(self.port, "tokens"))

    def write_tokens(self, name, token):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write(f"ops:{token}\n")
        os.chmod(path, 0o600)

    def service_config(self, port, tokens, extra=""):
        return config_text(port, self.state).replace("[admin]\n", f"""[admin]
token_file = "{self.d}/{tokens}"
""") + """
[services.lb]
regions = ["east"]
[services.lb.publish]
east = ["be1"]
[services.lb.target]
kind = "haproxy"
address = "127.0.0.1:9"
backend = "app"
""" + extra

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def start(self):
        daemon = Daemon(self.config)
        self.addCleanup(daemon.stop)
        self.assertTrue(daemon.wait_log("admin listening"), daemon.text())
        return daemon

    def ctl(self, token, *args):
        return subprocess.run([FAILOVERCTL, "--admin", f"http://127.0.0.1:{self.port}", *args],
                              capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, FAILOVERD_TOKEN=token))

    def check_config(self):
        return subprocess.run([FAILOVERD, "--check-config", self.config], capture_output=True,
                              text=True, timeout=30)

    def start_fails(self, needle):
        # Start-up refuses at once: bounded, and never a hang.
        r = subprocess.run([FAILOVERD, "--config", self.config], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(needle.replace('"', '\\"'), r.stderr)  # the log quotes it

    def unbindable_cluster(self):
        """A valid [cluster] table whose listener cannot bind (a port held here), so that a
        reload to it is rejected late: after the new tokens and state file were read."""
        make_ca(self.d, "ca")
        issue(self.d, "ca", "lifecycle", "DNS:lifecycle", "serverAuth,clientAuth")
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        self.addCleanup(blocker.close)
        return f"""
[cluster]
listen = "127.0.0.1:{blocker.getsockname()[1]}"
ca_file = "{self.d}/ca.crt"
cert_file = "{self.d}/lifecycle.crt"
key_file = "{self.d}/lifecycle.key"
[[cluster.peers]]
id = "peer-b"
address = "127.0.0.1:{free_port()}"
"""

    def test_a_reload_rejected_after_the_tokens_were_read_keeps_the_old_tokens(self):
        daemon = self.start()
        self.assertEqual(self.ctl(self.TOKEN, "status").returncode, 0)
        # The new config is valid and names a new token file, but its cluster listener cannot
        # bind (the port is held here), so the engine cannot start: the reload is rejected late.
        self.write_tokens("tokens-new", self.NEW_TOKEN)
        self.write_config(self.service_config(self.port, "tokens-new", self.unbindable_cluster()))
        daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(daemon.wait_log("reload rejected"), daemon.text())
        self.assertIn("cluster listener", daemon.text())
        old, new = self.ctl(self.TOKEN, "status"), self.ctl(self.NEW_TOKEN, "status")
        self.assertEqual(old.returncode, 0, old.stderr)   # all or nothing: the old token works
        self.assertNotEqual(new.returncode, 0, new.stdout)  # and the new one does not
        self.assertIn("HTTP 401", new.stderr)

    def test_a_reload_rejected_late_keeps_the_holds_of_services_it_would_drop(self):
        daemon = self.start()
        r = self.ctl(self.TOKEN, "freeze", "lb", "--reason", "hold this")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Valid, without service lb, and its cluster listener cannot bind: rejected late, after
        # the new engine had read the state file.
        self.write_config(config_text(self.port, self.state).replace("[admin]\n", f"""[admin]
token_file = "{self.d}/tokens"
""") + self.unbindable_cluster())
        daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(daemon.wait_log("reload rejected"), daemon.text())
        r = self.ctl(self.TOKEN, "--json", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        lb = [s for s in json.loads(r.stdout)["services"] if s["name"] == "lb"]
        self.assertTrue(lb and lb[0]["frozen"], r.stdout)
        # And on disk: a restart with the good config still has the freeze.
        daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.proc.wait(timeout=10), 0)
        self.write_config(self.service_config(self.port, "tokens"))
        self.start()
        r = self.ctl(self.TOKEN, "--json", "status")
        lb = [s for s in json.loads(r.stdout)["services"] if s["name"] == "lb"]
        self.assertTrue(lb and lb[0]["frozen"], r.stdout)

    def test_a_fifo_at_the_state_file_is_refused_at_once_not_a_hang(self):
        os.makedirs(self.state, mode=0o700)
        os.mkfifo(os.path.join(self.state, "state.json"), 0o600)
        r = self.check_config()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("observer.state_dir: " + os.path.join(self.state, "state.json") +
                      " is not a regular file", r.stderr)
        self.start_fails("is not a regular file")

    def test_a_state_file_of_another_observer_or_version_is_refused_not_applied(self):
        os.makedirs(self.state, mode=0o700)
        path = os.path.join(self.state, "state.json")
        for observer, version, needle in (
                ("obs-elsewhere", 1, 'written by observer "obs-elsewhere"'),
                ("lifecycle", 9, "state file version 9 is not one this failoverd reads")):
            with self.subTest(observer=observer, version=version):
                with open(path, "w") as f:
                    json.dump({"version": version, "observer": observer, "journal": [],
                               "next_journal_id": 1,
                               "services": {"lb": {"frozen": True, "frozen_reason": "theirs",
                                                   "last_known_good": []}}}, f)
                r = self.check_config()
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(needle, r.stderr)
                self.start_fails(needle)
                self.assertTrue(os.path.exists(path))  # kept for the operator, not set aside

    def test_a_state_dir_others_can_write_is_refused_by_check_config_and_start(self):
        os.makedirs(self.state)
        os.chmod(self.state, 0o777)
        r = self.check_config()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r":\d+:\d+: observer\.state_dir: state_dir .* has mode 0777")
        self.start_fails("writable by others")

    def test_an_oversized_reason_is_refused_and_a_freeze_survives_a_restart(self):
        daemon = self.start()
        r = self.ctl(self.TOKEN, "freeze", "lb", "--reason", "x" * 2000)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("reason is longer than 1024 bytes", r.stderr)
        reason = "incident 42: " + "y" * 1000
        r = self.ctl(self.TOKEN, "freeze", "lb", "--reason", reason)
        self.assertEqual(r.returncode, 0, r.stderr)
        daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.proc.wait(timeout=10), 0)
        self.assertLess(os.path.getsize(os.path.join(self.state, "state.json")), 64 * 1024)
        self.start()
        r = self.ctl(self.TOKEN, "--json", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        lb = [s for s in json.loads(r.stdout)["services"] if s["name"] == "lb"][0]
        self.assertTrue(lb["frozen"], lb)

    def test_failoverctl_prints_operator_text_escaped(self):
        self.start()
        hostile = "ok\x1b[2J\x1b]0;owned\x07\nFAKE 999 line\r"
        r = self.ctl(self.TOKEN, "freeze", "lb", "--reason", hostile)
        self.assertEqual(r.returncode, 0, r.stderr)
        for args in (("events",), ("status",)):
            with self.subTest(command=args):
                r = self.ctl(self.TOKEN, *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("\x1b", r.stdout)
                self.assertNotIn("\x07", r.stdout)
                self.assertNotIn("\r", r.stdout)
                self.assertFalse(any(line.startswith("FAKE") for line in r.stdout.splitlines()),
                                 r.stdout)
        self.assertIn("ok\\u001b[2J", self.ctl(self.TOKEN, "events").stdout)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name,
            cwd=d)


def issue(d, ca, name, san, usage):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext", cwd=d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


class Tilt(unittest.TestCase):
    """An event-loop stall (the process stopped for a while, as a VM pause or a swap storm
    would) puts the observer in TILT; `failoverd_tilt` says so, which the shipped FailoverdTilt
    alert reads."""

    def test_a_stall_sets_failoverd_tilt_until_tilt_period_ends(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        port = free_port()
        config = os.path.join(tmp.name, "failoverd.toml")
        with open(config, "w") as f:
            f.write(config_text(port, tmp.name).replace("[observer]\n", """[observer]
max_loop_lag = "200ms"
tilt_period = "3s"
""") + """
[services.lb]
regions = ["east"]
[services.lb.publish]
east = ["be1"]
[services.lb.target]
kind = "haproxy"
address = "127.0.0.1:9"
backend = "app"
""")
        daemon = Daemon(config)
        self.addCleanup(daemon.stop)
        self.assertTrue(daemon.wait_log("admin listening"), daemon.text())

        def tilt():
            for line in http_get(port, "/metrics")[1].splitlines():
                if line.startswith("failoverd_tilt "):
                    return float(line.split()[1])
            return None
        self.assertTrue(wait_until(lambda: tilt() == 0.0, 10), daemon.text())
        daemon.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        daemon.proc.send_signal(signal.SIGCONT)
        self.assertTrue(wait_until(lambda: tilt() == 1.0, 5), daemon.text())
        # tilt_period later the observer acts again, and the gauge says so.
        self.assertTrue(wait_until(lambda: tilt() == 0.0, 10), daemon.text())


class AdminTls(unittest.TestCase):
    """admin.tls_cert_file/tls_key_file/client_ca_file: HTTPS only, client certificates from the
    configured CA only, bearer tokens on top; failoverctl --cacert/--cert/--key."""

    TOKEN = "s3cret-admin-token-0123456789"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        d = self.d = self.tmp.name
        make_ca(d, "ca")
        make_ca(d, "other-ca")
        issue(d, "ca", "server", "IP:127.0.0.1,DNS:localhost", "serverAuth")
        issue(d, "ca", "ops", "DNS:ops", "clientAuth")
        issue(d, "other-ca", "stranger", "DNS:ops", "clientAuth")
        with open(os.path.join(d, "tokens"), "w") as f:
            f.write(f"ops:{self.TOKEN}\n")
        os.chmod(os.path.join(d, "tokens"), 0o600)
        self.port = free_port()
        self.config = os.path.join(d, "failoverd.toml")
        text = config_text(self.port, d).replace(
            "[admin]\n", f"""[admin]
token_file = "{d}/tokens"
tls_cert_file = "{d}/server.crt"
tls_key_file = "{d}/server.key"
client_ca_file = "{d}/ca.crt"
""")
        with open(self.config, "w") as f:
            f.write(text)
        self.daemon = Daemon(self.config)
        self.addCleanup(self.daemon.stop)
        self.assertTrue(self.daemon.wait_log("admin listening"), self.daemon.text())

    def ctl(self, *args):
        return subprocess.run([FAILOVERCTL, "--admin", f"https://127.0.0.1:{self.port}", "--json",
                               *args], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, FAILOVERD_TOKEN=self.TOKEN))

    def path(self, name):
        return os.path.join(self.d, name)

    def test_failoverctl_with_a_client_certificate_from_the_ca_is_served(self):
        r = self.ctl("--cacert", self.path("ca.crt"), "--cert", self.path("ops.crt"),
                     "--key", self.path("ops.key"), "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("services", json.loads(r.stdout))

    def test_no_certificate_or_another_cas_is_refused_at_the_handshake(self):
        r = self.ctl("--cacert", self.path("ca.crt"), "status")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("cannot reach failoverd", r.stderr)
        r = self.ctl("--cacert", self.path("ca.crt"), "--cert", self.path("stranger.crt"),
                     "--key", self.path("stranger.key"), "status")
        self.assertEqual(r.returncode, 3, r.stderr)
        # Plain HTTP gets no HTTP answer at all.
        with self.assertRaises(OSError):
            http_get(self.port)
        # The daemon is still there for the right client.
        r = self.ctl("--cacert", self.path("ca.crt"), "--cert", self.path("ops.crt"),
                     "--key", self.path("ops.key"), "status")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_failoverctl_verifies_the_servers_certificate(self):
        r = self.ctl("--cacert", self.path("other-ca.crt"), "--cert", self.path("ops.crt"),
                     "--key", self.path("ops.key"), "status")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("certificate verify failed", r.stderr)

    def test_the_token_still_applies_over_mtls(self):
        r = subprocess.run([FAILOVERCTL, "--admin", f"https://127.0.0.1:{self.port}",
                            "--cacert", self.path("ca.crt"), "--cert", self.path("ops.crt"),
                            "--key", self.path("ops.key"), "status"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, FAILOVERD_TOKEN="wrong-token-wrong-token"))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("HTTP 401", r.stderr)

    def served_certificate(self):
        ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
        ctx.load_cert_chain(self.path("ops.crt"), self.path("ops.key"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.getpeercert(binary_form=True)

    def test_sighup_picks_up_a_renewed_certificate_at_the_same_path(self):
        before = self.served_certificate()
        issue(self.d, "ca", "server", "IP:127.0.0.1,DNS:localhost", "serverAuth")
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("configuration reloaded"), self.daemon.text())
        after = None
        for _ in range(100):
            try:
                after = self.served_certificate()
                break
            except OSError:
                time.sleep(0.05)
        self.assertIsNotNone(after)
        self.assertNotEqual(before, after)
        with open(self.path("server.crt")) as f:
            self.assertEqual(after, ssl.PEM_cert_to_DER_cert(f.read()))


if __name__ == "__main__":
    FAILOVERD, REPO, FAILOVERCTL = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=[sys.argv[0], "-v"])
