#!/usr/bin/env python3
"""An exec-target service with the real failoverd binary: every write runs the hook.

One observer, two regions whose endpoints are TCP listeners this test owns (east on 127.0.0.2,
west on 127.0.0.3), one service with failback = "auto" and an exec target: a shell script that
appends its environment (one line per run) to a file. Closing east's listener makes the service
fail over to west, reopening it brings the service back: three times, and the hook has run
exactly six times, each with the plan's environment. Then, with failoverctl: a manual failover
and failback, a restore (FAILOVERD_SERVICE set there too), and a hook that exits non-zero: a
refused write, with an alert in the log, the journal and the write counter.

usage: exec_failover_test.py PATH/TO/failoverd PATH/TO/failoverctl
Talks only to 127.0.0.0/8. Every wait is bounded. Stops only the processes it started, by PID.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

FAILOVERD = None
FAILOVERCTL = None
TOKEN = "exec-test-token-0123456789"
FIELDS = ("SERVICE", "GENERATION", "BASE_GENERATION", "ACTIVE_REGIONS", "MEMBERS", "TRIGGER",
          "WRITER", "REASON")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from kit import Listener, free_port, stop_process, wait_until  # noqa: E402

class ExecWorld(unittest.TestCase):
    """One failoverd with the exec-target service www over east and west (see the top)."""
    probe_defaults = """interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2"""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.runs_path = os.path.join(d, "runs.txt")
        cls.fail_path = os.path.join(d, "fail")
        cls.east, cls.west = Listener("127.0.0.2"), Listener("127.0.0.3")
        cls.admin_port = free_port()
        hook = os.path.join(d, "hook.sh")
        fmt = "\\t".join(f"{f}=%s" for f in FIELDS)
        args = " ".join(f'"$FAILOVERD_{f}"' for f in FIELDS)
        with open(hook, "w") as f:
            f.write(f"""#!/bin/sh
printf '{fmt}\\n' {args} >> '{cls.runs_path}'
if [ -e '{cls.fail_path}' ]; then echo 'load balancer said no' >&2; exit 3; fi
""")
        os.chmod(hook, 0o755)
        tokens = os.path.join(d, "tokens")
        with open(tokens, "w") as f:
            f.write(f"ops:{TOKEN}\n")
        os.chmod(tokens, 0o600)
        config = os.path.join(d, "failoverd.toml")
        with open(config, "w") as f:
            f.write(f"""
[observer]
id = "obs-x"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{cls.admin_port}"
token_file = "{tokens}"

[probe_defaults]
{cls.probe_defaults}

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

    def runs(self):
        """The hook's runs so far, each a dict of its FAILOVERD_* variables."""
        try:
            with open(self.runs_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [dict(field.split("=", 1) for field in line.split("\t")) for line in lines]

    def metrics(self):
        """{(name, labels as a sorted tuple): value} of failoverd's own series."""
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

    def confirmed(self, region):
        return self.metrics().get(("failoverd_region_confirmed_state", (("region", region),)))

    def generation(self):
        return self.metrics().get(("failoverd_service_generation", (("service", "www"),)))

    def ctl(self, *args):
        return subprocess.run([FAILOVERCTL, "--admin", f"http://127.0.0.1:{self.admin_port}",
                               *args], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, FAILOVERD_TOKEN=TOKEN))

    def wait_runs(self, n, timeout=15):
        """Until the hook has run n times and the service's generation is n (the write is live)."""
        ok = wait_until(lambda: len(self.runs()) >= n and self.generation() == n, timeout)
        self.assertTrue(ok, (self.runs(), self.generation(), self.text()[-4000:]))

    def check_run(self, run, generation, region, member, trigger):
        self.assertEqual(run["SERVICE"], "www", run)
        self.assertEqual(run["GENERATION"], str(generation), run)
        self.assertEqual(run["BASE_GENERATION"], str(generation - 1), run)
        self.assertEqual(run["ACTIVE_REGIONS"], region, run)
        self.assertEqual(run["MEMBERS"], f"{member}=1", run)
        self.assertEqual(run["TRIGGER"], trigger, run)
        self.assertEqual(run["WRITER"], "obs-x", run)
        self.assertTrue(run["REASON"], run)


class ExecFailover(ExecWorld):
    def test_every_write_runs_the_hook(self):
        UP, DOWN = 1, 3
        self.assertTrue(wait_until(lambda: self.confirmed("east") == UP and
                                   self.confirmed("west") == UP and self.generation() == 0, 15),
                        self.text())
        self.assertEqual(self.runs(), [])  # the initial set (east) is not written

        # Three times: east down -> west; east back -> east (failback auto).
        for i in range(3):
            with self.subTest(round=i + 1):
                self.east.close()
                self.wait_runs(2 * i + 1)
                self.check_run(self.runs()[2 * i], 2 * i + 1, "west", "192.0.2.2", "automatic")
                self.assertIn("east", self.runs()[2 * i]["REASON"])
                self.east.open()
                self.wait_runs(2 * i + 2)
                self.check_run(self.runs()[2 * i + 1], 2 * i + 2, "east", "192.0.2.1", "automatic")
        time.sleep(1.5)  # a reconcile interval and more: nothing else runs the hook
        self.assertEqual(len(self.runs()), 6, self.runs())
        self.assertEqual(self.generation(), 6)

        # An operator's move and the way back.
        r = self.ctl("failover", "www", "--to", "west", "--reason", "maintenance")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_runs(7)
        self.check_run(self.runs()[6], 7, "west", "192.0.2.2", "manual")
        r = self.ctl("failback", "www")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_runs(8)
        self.check_run(self.runs()[7], 8, "east", "192.0.2.1", "manual")

        # A restore is a plan the reconciler makes itself: it names the service as well.
        r = self.ctl("restore", "www")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_runs(9)
        run = self.runs()[8]
        self.assertEqual((run["SERVICE"], run["GENERATION"], run["MEMBERS"], run["TRIGGER"]),
                         ("www", "9", "192.0.2.1=1", "restore"), run)

        # A hook that fails: a refused write, alerted, journaled and counted.
        with open(self.fail_path, "w"):
            pass
        r = self.ctl("failover", "www", "--to", "west", "--reason", "hook test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        refused = ("failoverd_actuator_writes_total",
                   (("rcode", "3"), ("service", "www"), ("status", "refused"), ("target", "exec")))
        self.assertTrue(wait_until(lambda: self.metrics().get(refused) == 1, 15), self.metrics())
        self.assertEqual(len(self.runs()), 10)
        self.assertEqual(self.runs()[9]["GENERATION"], "10")
        self.assertTrue(wait_until(lambda: "event=refused" in self.text(), 5), self.text())
        self.assertRegex(self.text(), r'level=error msg="actuator alert" service=www '
                                      r'event=refused generation=10 detail="exit 3; '
                                      r'stderr: load balancer said no"')
        r = self.ctl("events", "--limit", "50")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("actuator_refused", r.stdout)
        self.assertIn("load balancer said no", r.stdout)
        self.assertEqual(self.generation(), 9)  # still east, as the hook left it
        applied = ("failoverd_actuator_writes_total",
                   (("rcode", "0"), ("service", "www"), ("status", "applied"), ("target", "exec")))
        self.assertEqual(self.metrics().get(applied), 9)


class ReloadKeepsTheTarget(ExecWorld):
    """A hook cannot be read back, so the observer's own record of what it last wrote (its
    local fence) is all it knows of the target: a SIGHUP after a failover keeps it. The
    failback after the reload is then the next generation, with its hook run, and no write
    conflicts with a fence the reload forgot."""

    def test_a_reload_after_a_failover_keeps_the_local_fence(self):
        UP = 1
        self.assertTrue(wait_until(lambda: self.confirmed("east") == UP and
                                   self.confirmed("west") == UP, 15), self.text())
        self.east.close()
        self.wait_runs(1)
        self.check_run(self.runs()[0], 1, "west", "192.0.2.2", "automatic")
        reload(self)
        time.sleep(1.5)  # a reconcile interval and more: the reload writes nothing
        self.assertEqual(len(self.runs()), 1, self.runs())
        self.assertEqual(self.generation(), 1, self.text()[-3000:])
        self.east.open()
        self.wait_runs(2)
        self.check_run(self.runs()[1], 2, "east", "192.0.2.1", "automatic")
        self.assertNotIn("conflict", self.text().lower(), self.text()[-3000:])


def reload(test):
    """Rewrites the config with a real change nothing the service depends on (the log level),
    sends SIGHUP and waits for the reload to be logged."""
    reloads = test.text().count("configuration reloaded")
    with open(test.config_path) as f:
        text = f.read()
    if 'log_level = "debug"' in text:
        text = text.replace('log_level = "debug"', 'log_level = "info"')
    else:
        text = text.replace('id = "obs-x"', 'id = "obs-x"\nlog_level = "debug"', 1)
    with open(test.config_path, "w") as f:
        f.write(text)
    test.proc.send_signal(signal.SIGHUP)
    test.assertTrue(wait_until(
        lambda: test.text().count("configuration reloaded") == reloads + 1, 5), test.text())


class ReloadKeepsCounters(ExecWorld):
    """A SIGHUP in the middle of east's failing streak keeps the streak: with fall = 3, the
    failover comes after exactly three failed probes of east, two before the reload and one
    after (a reload that started east's health over would need three more)."""
    probe_defaults = """interval = "2s"
timeout = "500ms"
rise = 1
fall = 3"""

    def failures(self):
        return sum(v for (name, labels), v in self.metrics().items()
                   if name == "failoverd_probe_results_total"
                   and ("endpoint", "east-tcp") in labels and ("reason", "ok") not in labels)

    def test_a_reload_keeps_the_fall_count(self):
        UP = 1
        self.assertTrue(wait_until(lambda: self.confirmed("east") == UP and
                                   self.confirmed("west") == UP, 15), self.text())
        before = self.failures()
        self.east.close()
        self.assertTrue(wait_until(lambda: self.failures() == before + 2, 10),
                        (self.failures(), self.text()[-3000:]))
        reload(self)
        self.assertEqual(self.failures(), before + 2, "a probe ran during the reload")
        self.wait_runs(1, timeout=10)
        self.check_run(self.runs()[0], 1, "west", "192.0.2.2", "automatic")
        self.assertEqual(self.failures(), before + 3, self.text()[-3000:])


if __name__ == "__main__":
    FAILOVERD, FAILOVERCTL = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
