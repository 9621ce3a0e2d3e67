#!/usr/bin/env python3
"""Time-to-failover benchmark, in the namespace lab: failoverd next to PowerDNS 4.7 Lua `ifurlup`
and gdnsd 3.8 `http_status` + metafo, measured in the same run against the same region endpoints.

The world is integration/lab/lab.py's (network namespaces joined by a bridge in `core`), built
anew for each probe interval and removed after it (processes by PID, then the namespaces):
  r1, r2, r3  regions: nginx at 10.77.R.11 and 10.77.R.12, GET /healthz -> 200. The service is
              r1 (primary) then r2 (standby); an answer holds both addresses of one region.
  o1..o3      three failoverd observers (quorum 2, mutual TLS) writing www.lab.test. to BIND9 in
              `dns` (10.77.53.1) by RFC 2136 with TSIG and the CAS fence
  pdns        PowerDNS (gsqlite3) at 10.77.54.1: www.pdns.lab.test. LUA A "ifurlup(...)" over
              {r1's two addresses}, {r2's two addresses}, selector all
  gdnsd       gdnsd at 10.77.55.1: www.gdnsd.lab.test. DYNA metafo!www, datacenters r1 then r2
              (each a multifo of its two addresses), an http_status service type
  client      three watchers (lab/watcher.py), one per authoritative server, each asking every
              10 ms over the bridge: the answer as a client sees it
The observers, PowerDNS and gdnsd each probe the regions' nginx across the bridge from their own
namespace; nothing runs in the root namespace but this script.

Faults hit the primary region, inside its namespace (an nftables rule in r1's input hook), so
every system's probes meet the same fault; the heal removes the rule:
  refuse  `tcp dport 80 reject with tcp reset` (connections refused)
  drop    `tcp dport 80 drop` (probes time out)
The fault's time is taken just before `nft` is called. The switch time runs from the fault to
the first answer holding only the standby's addresses; after the heal the failback time runs to
the first answer holding only the primary's. A flap test then turns the refuse fault on and off
(down/up seconds) for a while and counts each system's answer changes.

Benchmarks are not timed tests: nothing here asserts a time. It exits 1 when a system never
failed over (or never failed back) within a bounded time, 77 when not root (namespaces).

usage: ttf_bench.py [--failoverd PATH] [--failoverctl PATH] [--runs 20] [--intervals 1s,200ms]
                    [--failures refuse,drop] [--fall 3] [--rise 2] [--fo-timeout-ratio 1]
                    [--flap-seconds 30] [--flap-down 3] [--flap-up 3] [--keep-logs DIR]
"""
import argparse
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import lab as labmod  # noqa: E402
from lab import Lab, Watcher, region_addrs, wait_until  # noqa: E402

PRIMARY_REGION, STANDBY_REGION = "r1", "r2"
PRIMARY = tuple(region_addrs(PRIMARY_REGION))
STANDBY = tuple(region_addrs(STANDBY_REGION))
WEB_PORT = 80
PDNS_ADDR, GDNSD_ADDR = "10.77.54.1", "10.77.55.1"
PDNS_NAME, GDNSD_NAME = "www.pdns.lab.test.", "www.gdnsd.lab.test."
SYSTEMS = ["failoverd", "PowerDNS", "gdnsd"]


def log(msg):
    print(f"[ttf {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_duration(text):
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000.0
    if text.endswith("s"):
        return float(text[:-1])
    return float(text)


def fmt_duration(seconds):
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# --- the settings -------------------------------------------------------------------------------
class Settings:
    """What each system runs with at one requested probe interval."""

    def __init__(self, interval, args):
        self.interval = interval
        self.fall, self.rise = args.fall, args.rise
        # failoverd: any interval; timeout may not exceed it (and is at most 1 s, like the peers').
        self.fo_interval = interval
        self.fo_timeout = min(1.0, round(interval * args.fo_timeout_ratio, 3))
        self.fo_failback_delay = parse_duration(args.failback_delay)
        self.fo_hold_down = parse_duration(args.hold_down)
        self.fo_exchange = 0.2
        self.fo_verdict_ttl = 1.0
        # PowerDNS 4.7: lua-health-checks-interval is whole seconds (>= 1); ifurlup's timeout is
        # whole seconds (0 would mean no timeout at all for curl); one failed check marks an
        # address down and one good check marks it up (4.7 has no minimumFailures option).
        self.pdns_interval = max(1, math.ceil(interval))
        self.pdns_timeout = 1
        self.pdns_fall = 1
        self.pdns_rise = 1
        # gdnsd 3.8: interval and timeout are whole seconds, timeout >= 1 and < interval, so the
        # shortest interval is 2 s.
        self.gd_interval = max(2, math.ceil(interval))
        self.gd_timeout = 1
        self.gd_down_thresh = args.fall
        self.gd_ok_thresh = 1  # one success resets the failure count: `fall` in a row
        self.gd_up_thresh = args.rise

    def lab_config(self):
        """Lab(config=...): failoverd's probe and cluster settings."""
        timeout = fmt_duration(self.fo_timeout)
        return {
            "observer": {"log_level": "info"},
            "cluster": {"quorum": 2, "exchange_interval": fmt_duration(self.fo_exchange),
                        "verdict_ttl": fmt_duration(self.fo_verdict_ttl)},
            "probe_defaults": {"interval": fmt_duration(self.fo_interval), "timeout": timeout,
                               "connect_timeout": timeout, "rise": self.rise,
                               "fall": self.fall},
        }

    def lab_service(self):
        """Lab(service=...): the service fails over r1 -> r2 and back on its own."""
        return {"regions": [PRIMARY_REGION, STANDBY_REGION], "failback": "auto",
                "failback_delay": fmt_duration(self.fo_failback_delay),
                "hold_down": fmt_duration(self.fo_hold_down), "flip_budget": 1000,
                "flip_window": "1m"}

    def budget(self):
        """failoverd's detection budget: fall x interval + one exchange + 100 ms."""
        return self.fall * self.fo_interval + self.fo_exchange + 0.1

    def describe(self):
        i = fmt_duration(self.interval)
        return [
            f"requested: interval {i}, fall {self.fall}, rise {self.rise}",
            f"  failoverd: 3 observers, quorum 2, interval {fmt_duration(self.fo_interval)}, "
            f"timeout {fmt_duration(self.fo_timeout)}, fall {self.fall}, rise {self.rise}, "
            f"exchange_interval {fmt_duration(self.fo_exchange)}, verdict_ttl "
            f"{fmt_duration(self.fo_verdict_ttl)}, failback auto, failback_delay "
            f"{fmt_duration(self.fo_failback_delay)}, hold_down {fmt_duration(self.fo_hold_down)}, "
            f"flip_budget 1000/1m; RFC 2136 + TSIG to BIND9, CAS on the fence "
            f"(detection budget: fall x interval + exchange + 100 ms = "
            f"{self.budget() * 1000:.0f} ms at p99)",
            f"  PowerDNS 4.7: lua-health-checks-interval={self.pdns_interval} (whole seconds, "
            f"min 1{'; requested ' + i + ' not possible' if self.pdns_interval != self.interval else ''}), "
            f"ifurlup timeout={self.pdns_timeout} s (whole seconds), down after "
            f"{self.pdns_fall} failure (4.7 has no minimumFailures; fall {self.fall} not possible), "
            f"up after {self.pdns_rise} success; selector all; lua-health-checks-expire-delay=3600, "
            f"caches off",
            f"  gdnsd 3.8: http_status interval={self.gd_interval} (whole seconds, timeout >= 1 "
            f"and < interval, so min 2{'; requested ' + i + ' not possible' if self.gd_interval != self.interval else ''}), "
            f"timeout={self.gd_timeout}, down_thresh={self.gd_down_thresh}, "
            f"ok_thresh={self.gd_ok_thresh}, up_thresh={self.gd_up_thresh}; metafo r1 then r2, "
            f"each a multifo of the region's two addresses",
        ]

    def bound(self):
        """How long any system may take to fail over before it counts as never: several times
        the slowest system's detection time, plus slack for a loaded machine."""
        slowest = max(self.fall * (self.fo_interval + self.fo_timeout),
                      self.pdns_fall * (self.pdns_interval + self.pdns_timeout),
                      self.gd_down_thresh * (self.gd_interval + self.gd_timeout))
        return 3 * slowest + 10

    def back_bound(self):
        return self.bound() + self.fo_hold_down + self.fo_failback_delay + 30


# --- what the client sees -----------------------------------------------------------------------
class Answers:
    """One system's answers as the client namespace sees them: a lab Watcher on its server,
    read as the successive changes of answer. An answer is a sorted tuple of addresses, or
    "rcode=N"; queries that got no answer (timeouts) are left out."""

    def __init__(self, watcher):
        self.watcher = watcher
        self.seen = 0
        self.changes = []  # (monotonic time of the query, answer)
        self.current = None
        self.queries = 0
        self.empty = 0  # NOERROR with no address: never acceptable

    def update(self):
        rows = self.watcher.samples()
        for s in rows[self.seen:]:
            self.queries += 1
            if s["err"]:
                continue
            answer = tuple(s["a"]) if s["rcode"] == 0 else f"rcode={s['rcode']}"
            if answer == ():
                self.empty += 1
            if answer != self.current:
                self.current = answer
                self.changes.append((s["t"], answer))
        self.seen = len(rows)

    def answer(self):
        self.update()
        return self.current

    def first_since(self, since, wanted):
        """The time of the first change to `wanted` at or after `since`, or None."""
        self.update()
        return next((t for t, a in self.changes if t >= since and a == wanted), None)

    def changes_between(self, start, end):
        """How many times the answer changed between two times."""
        self.update()
        return sum(1 for t, _ in self.changes if start <= t <= end)


# --- the world ----------------------------------------------------------------------------------
class World:
    """One lab for one Settings: the lab's regions, observers and BIND, plus PowerDNS and gdnsd
    in namespaces of their own, and a watcher per system in the client namespace."""

    def __init__(self, args, settings, keep_dir):
        self.args, self.s = args, settings
        self.lab = Lab(args.failoverd, args.failoverctl, quiet=True, keep_dir=keep_dir,
                       config=settings.lab_config(), service=settings.lab_service(),
                       extra_nodes={"pdns": [PDNS_ADDR], "gdnsd": [GDNSD_ADDR]})
        self.answers = {}
        self.fault_on = False

    def up(self):
        self.lab.up()
        self.start_pdns()
        self.start_gdnsd()
        servers = {"failoverd": (labmod.DNS_ADDR, labmod.NAME, labmod.FENCE),
                   "PowerDNS": (PDNS_ADDR, PDNS_NAME, None),
                   "gdnsd": (GDNSD_ADDR, GDNSD_NAME, None)}
        for system, (addr, qname, fence) in servers.items():
            watcher = Watcher(self.lab, "watch-" + system, addr + ":53", qname, fence)
            self.answers[system] = Answers(watcher)
        self.wait_all(PRIMARY, 60, "answer the primary at start")

    def down(self):
        if self.fault_on:
            self.heal()
        self.lab.down()

    def fault(self, kind):
        """Applies the fault to the primary region; returns the time just before."""
        t = self.lab.close_port(PRIMARY_REGION, WEB_PORT,
                                "reject" if kind == "refuse" else "drop")
        self.fault_on = True
        return t

    def heal(self):
        t = time.monotonic()
        self.lab.heal([PRIMARY_REGION])
        self.fault_on = False
        return t

    def all_answer(self, wanted):
        return all(a.answer() == wanted for a in self.answers.values())

    def wait_all(self, wanted, timeout, what):
        if not wait_until(lambda: self.all_answer(wanted), timeout, 0.02):
            self.check_alive()
            state = {n: a.answer() for n, a in self.answers.items()}
            raise RuntimeError(f"not every system did {what} within {timeout:.0f} s: {state}")

    def check_alive(self):
        for name, p in self.lab.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}:\n"
                                   f"{self.lab.log(name)[-3000:]}")

    # PowerDNS -------------------------------------------------------------------------------
    def start_pdns(self):
        s = self.s
        d = self.lab.path("pdns")
        os.mkdir(d)
        db = os.path.join(d, "pdns.db")
        with open("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql") as f:
            schema = f.read()
        groups = ", ".join("{" + ", ".join(f"'{a}'" for a in g) + "}" for g in (PRIMARY, STANDBY))
        lua = (f"A \"ifurlup('http://{PDNS_NAME.rstrip('.')}/healthz', {{{groups}}}, "
               f"{{timeout='{s.pdns_timeout}', selector='all'}})\"")
        zone = PDNS_NAME.split(".", 1)[1].rstrip(".")
        rows = [
            (zone, "SOA", f"ns.{zone}. hostmaster.{zone}. 1 60 60 3600 5"),
            (zone, "NS", f"ns.{zone}."),
            ("ns." + zone, "A", PDNS_ADDR),
            (PDNS_NAME.rstrip("."), "LUA", lua),
        ]
        con = sqlite3.connect(db)
        try:
            con.executescript(schema)
            con.execute("INSERT INTO domains (id, name, type) VALUES (1, ?, 'NATIVE')", (zone,))
            con.executemany("INSERT INTO records (domain_id, name, type, content, ttl, prio, "
                            "disabled, auth) VALUES (1, ?, ?, ?, 5, 0, 0, 1)", rows)
            con.commit()
        finally:
            con.close()
        open(os.path.join(d, "pdns.conf"), "w").close()
        self.lab.start("pdns", "pdns", [
            "/usr/sbin/pdns_server", f"--config-dir={d}", f"--socket-dir={d}", "--guardian=no",
            "--daemon=no", "--disable-syslog=yes", "--write-pid=no", "--launch=gsqlite3",
            f"--gsqlite3-database={db}", f"--local-address={PDNS_ADDR}", "--local-port=53",
            "--enable-lua-records=yes", f"--lua-health-checks-interval={s.pdns_interval}",
            "--lua-health-checks-expire-delay=3600", "--cache-ttl=0", "--query-cache-ttl=0",
            "--negquery-cache-ttl=0", "--zone-cache-refresh-interval=0", "--loglevel=6"])

    # gdnsd ----------------------------------------------------------------------------------
    def start_gdnsd(self):
        s = self.s
        d = self.lab.path("gdnsd")
        os.makedirs(os.path.join(d, "zones"))
        zone = GDNSD_NAME.split(".", 1)[1].rstrip(".")
        dcmap = "\n".join(
            f"        {r} => {{ " + ", ".join(f"lb{i} => {a}" for i, a in enumerate(addrs))
            + " }" for r, addrs in ((PRIMARY_REGION, PRIMARY), (STANDBY_REGION, STANDBY)))
        with open(os.path.join(d, "config"), "w") as f:
            f.write(f"""options => {{
  listen => [ {GDNSD_ADDR}:53 ]
  run_dir => {d}/run
  state_dir => {d}/state
}}
service_types => {{
  lab_http => {{
    plugin => http_status
    port => {WEB_PORT}
    url_path => /healthz
    vhost => {GDNSD_NAME.rstrip('.')}
    ok_codes => [ 200 ]
    interval => {s.gd_interval}
    timeout => {s.gd_timeout}
    down_thresh => {s.gd_down_thresh}
    ok_thresh => {s.gd_ok_thresh}
    up_thresh => {s.gd_up_thresh}
  }}
}}
plugins => {{
  metafo => {{
    resources => {{
      www => {{
        service_types => [ lab_http ]
        datacenters => [ {PRIMARY_REGION}, {STANDBY_REGION} ]
        dcmap => {{
{dcmap}
        }}
      }}
    }}
  }}
}}
""")
        with open(os.path.join(d, "zones", zone), "w") as f:
            f.write(f"""$TTL 5
@ SOA ns.{zone}. hostmaster.{zone}. 1 60 60 3600 5
@ NS ns.{zone}.
ns A {GDNSD_ADDR}
www 5/5 DYNA metafo!www
""")
        check = subprocess.run(["/usr/sbin/gdnsd", "-c", d, "checkconf"], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"gdnsd checkconf:\n{check.stdout}{check.stderr}")
        self.lab.start("gdnsd", "gdnsd", ["/usr/sbin/gdnsd", "-c", d, "start"])


# --- measuring ----------------------------------------------------------------------------------
def percentile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats_ms(values):
    ok = [x for x in values if x is not None]
    if not ok:
        return "never"
    cells = [percentile(ok, 0.5), percentile(ok, 0.9), percentile(ok, 0.99), max(ok)]
    text = " / ".join(f"{c * 1000:.0f}" for c in cells)
    missing = len(values) - len(ok)
    return text + (f" ({missing} never)" if missing else "")


def fmt_ms(seconds):
    return "never" if seconds is None else f"{seconds * 1000:.0f}ms"


def run_case(world, failure, runs, rng):
    """`runs` faults of one kind; returns {system: [switch s]}, {system: [failback s]}."""
    s = world.s
    switch = {n: [] for n in SYSTEMS}
    back = {n: [] for n in SYSTEMS}
    for i in range(runs):
        world.wait_all(PRIMARY, s.back_bound(), "answer the primary before a run")
        # failoverd holds every flip for hold_down; start after it, at a random phase.
        time.sleep(s.fo_hold_down + rng.uniform(0, max(s.gd_interval, s.pdns_interval)))
        t0 = world.fault(failure)
        wait_until(lambda: world.all_answer(STANDBY), s.bound(), 0.02)
        t1 = world.heal()
        for n, answers in world.answers.items():
            t = answers.first_since(t0, STANDBY)
            switch[n].append(None if t is None or t > t1 else t - t0)
        ok = wait_until(lambda: world.all_answer(PRIMARY), s.back_bound(), 0.02)
        for n, answers in world.answers.items():
            t = answers.first_since(t1, PRIMARY)
            back[n].append(None if t is None else t - t1)
        line = "  ".join(f"{n} {fmt_ms(switch[n][-1])}/{fmt_ms(back[n][-1])}" for n in SYSTEMS)
        log(f"{failure} @ {fmt_duration(s.interval)} run {i + 1}/{runs}: switch/failback {line}")
        if not ok:
            world.check_alive()
            raise RuntimeError(f"a system never failed back within {s.back_bound():.0f} s: " +
                               str({n: a.answer() for n, a in world.answers.items()}))
    return switch, back


def run_flap(world, seconds, down, up):
    """The primary refuses for `down` s, then serves for `up` s, for `seconds`; returns the
    cycles, each system's answer changes from the first fault until all answer the primary
    again, and how long that was."""
    s = world.s
    world.wait_all(PRIMARY, s.back_bound(), "answer the primary before the flap test")
    time.sleep(s.fo_hold_down)
    start = time.monotonic()
    cycles = 0
    while time.monotonic() - start < seconds:
        world.fault("refuse")
        time.sleep(down)
        world.heal()
        cycles += 1
        time.sleep(up)
    ok = wait_until(lambda: world.all_answer(PRIMARY), s.back_bound(), 0.02)
    end = time.monotonic()
    if not ok:
        raise RuntimeError("a system never came back to the primary after the flap test")
    changes = {n: a.changes_between(start, end) for n, a in world.answers.items()}
    return cycles, changes, end - start


def measure(world, args, failures, rng, results, flaps):
    """Every failure case and the flap test in one world; adds to results and flaps. Returns
    True when some system never failed over in some run."""
    never = False
    for failure in failures:
        switch, back = run_case(world, failure, args.runs, rng)
        results.append((world.s, failure, switch, back))
        never |= any(x is None for v in switch.values() for x in v)
    if args.flap_seconds > 0:
        flaps.append((world.s, *run_flap(world, args.flap_seconds, args.flap_down,
                                         args.flap_up)))
    world.s.empties = {n: a.empty for n, a in world.answers.items()}
    world.s.queries = {n: a.queries for n, a in world.answers.items()}
    world.s.fence = world.lab.fence()
    return never


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_build = os.path.join(HERE, "..", "..", "build", "release", "daemon")
    ap.add_argument("--failoverd", default=os.path.join(default_build, "failoverd"))
    ap.add_argument("--failoverctl", default=os.path.join(default_build, "failoverctl"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--intervals", default="1s,200ms")
    ap.add_argument("--failures", default="refuse,drop")
    ap.add_argument("--fall", type=int, default=3)
    ap.add_argument("--rise", type=int, default=2)
    ap.add_argument("--failback-delay", default="1s", help="failoverd's, auto failback")
    ap.add_argument("--hold-down", default="1s", help="failoverd's")
    ap.add_argument("--fo-timeout-ratio", type=float, default=1.0,
                    help="failoverd's probe timeout = min(1 s, ratio x interval); default 1")
    ap.add_argument("--flap-seconds", type=float, default=30)
    ap.add_argument("--flap-down", type=float, default=3)
    ap.add_argument("--flap-up", type=float, default=3)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep-logs", default=None,
                    help="copy each world's logs (keys left out) under this dir")
    args = ap.parse_args()

    intervals = [parse_duration(x) for x in args.intervals.split(",") if x.strip()]
    failures = [x.strip() for x in args.failures.split(",") if x.strip()]
    for f in failures:
        if f not in ("refuse", "drop"):
            ap.error(f"unknown failure {f!r}: refuse or drop")
    if os.geteuid() != 0:
        print("ttf_bench: needs root (network namespaces, nftables): skipped", file=sys.stderr)
        return 77
    for tool in ("/usr/sbin/nginx", "/usr/sbin/named", "/usr/sbin/pdns_server",
                 "/usr/sbin/gdnsd", "/usr/sbin/nft", args.failoverd, args.failoverctl):
        if not os.access(tool, os.X_OK):
            print(f"ttf_bench: {tool} is missing (packaging/install-deps.sh installs the servers)",
                  file=sys.stderr)
            return 1
    rng = random.Random(args.seed)

    def on_signal(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    results = []  # (settings, failure, switch, back)
    flaps = []    # (settings, cycles, changes, seconds)
    failed = False
    for k, interval in enumerate(intervals):
        settings = Settings(interval, args)
        keep = os.path.join(args.keep_logs, f"interval-{fmt_duration(interval)}") \
            if args.keep_logs else None
        world = World(args, settings, keep)
        try:
            log(f"building the lab {world.lab.prefix} for interval {fmt_duration(interval)}")
            world.up()
            failed |= measure(world, args, failures, rng, results, flaps)
        except KeyboardInterrupt:
            log("interrupted")
            failed = True
            break
        except Exception as e:  # report what was measured so far, then fail
            log(f"error: {e}")
            failed = True
            break
        finally:
            world.down()
            left = labmod.lab_namespaces(world.lab.prefix)
            if left:
                log(f"namespaces left behind: {left}")
            if keep:
                log(f"logs kept in {keep}")
    report(results, flaps, args, time.monotonic() - started)
    return 1 if failed else 0


def report(results, flaps, args, seconds):
    out = ["", "# Time to failover, in the namespace lab, measured in one run", "",
           f"runs per case: {args.runs}; the fault is an nftables rule in the primary region's "
           f"namespace (input, tcp dport {WEB_PORT}) that every system's probes meet; t=0 just "
           "before `nft` adds it; switch = first answer holding only the standby's addresses, "
           "as the client namespace sees it (one watcher per authoritative server, every 10 ms); "
           "failback = from the heal to the first answer holding only the primary's"]
    seen = []
    for s, *_ in results:
        if s not in seen:
            seen.append(s)
    for s in seen:
        out.append("")
        out.extend(s.describe())
    for s, failure, switch, back in results:
        out.append("")
        out.append(f"## {failure}, interval {fmt_duration(s.interval)}, fall {s.fall} "
                   f"(n = {len(switch['failoverd'])})")
        out.append("")
        out.append("| system | effective interval / fall | switch p50 / p90 / p99 / max (ms) "
                   "| failback p50 / p90 / p99 / max (ms) |")
        out.append("| --- | --- | --- | --- |")
        eff = {"failoverd": f"{fmt_duration(s.fo_interval)} / {s.fall}",
               "PowerDNS": f"{s.pdns_interval}s / {s.pdns_fall}",
               "gdnsd": f"{s.gd_interval}s / {s.gd_down_thresh}"}
        for n in SYSTEMS:
            out.append(f"| {n} | {eff[n]} | {stats_ms(switch[n])} | {stats_ms(back[n])} |")
    for s, cycles, changes, secs in flaps:
        out.append("")
        out.append(f"## flap, interval {fmt_duration(s.interval)}: primary refuses "
                   f"{args.flap_down:g} s / serves {args.flap_up:g} s, {cycles} cycles; answer "
                   f"changes until all answer the primary again ({secs:.1f} s; a change to an "
                   "answer holding one of a region's two addresses counts too)")
        out.append("")
        out.append("| system | answer changes |")
        out.append("| --- | --- |")
        for n in SYSTEMS:
            out.append(f"| {n} | {changes[n]} |")
    for s in seen:
        if hasattr(s, "empties"):
            gen, writer = s.fence
            out.append("")
            seen_empty = ", ".join(f"{n} {s.empties[n]} of {s.queries[n]}" for n in SYSTEMS)
            out.append(f"interval {fmt_duration(s.interval)}: empty answers among the queries: "
                       f"{seen_empty}; failoverd fence at the end: gen={gen} writer={writer}")
    out.append("")
    out.append(f"wall time: {seconds:.0f} s")
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
