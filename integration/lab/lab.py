#!/usr/bin/env python3
"""The multi-region fault lab: a world of network namespaces running the real failoverd.

  core     a bridge (br0) every other namespace is joined to by a veth pair; no address
  r1..r3   regions: two nginx endpoints each, 10.77.R.11 and 10.77.R.12, GET /healthz -> 200
  o1..o3   observers obs-a..obs-c at 10.77.10.1..3: failoverd with mutual TLS between them
           (a throwaway CA made with the openssl CLI), admin API on 127.0.0.1:8649 inside each
  dns      BIND9 at 10.77.53.1:53, primary for lab.test. with a TSIG key (hmac-sha256); the
           service www.lab.test. A with its fence _failoverd.www.lab.test. TXT. With
           dns_delay=(lo, hi), a relay (delay_relay.py) at 10.77.53.1:5300 in front of it
           delays each reply by lo..hi seconds, and the observers' target is the relay
  client   10.77.99.1: where the watcher (watcher.py) asks the DNS server every 10 ms

Every namespace name starts with a per-run prefix (flab<8 hex>-), so parallel runs and
leftovers never collide; nothing is added to the root namespace (veth pairs are created inside
`core` with their peer placed straight into the other namespace). Faults: cut(a, b) drops (or
rejects) packets with nftables inside the namespaces; close_port(node, port) makes a node's TCP
port time out (or refuse) for every client alike; stop/kill/SIGSTOP of processes by PID;
failpoints (FAILOVERD_FAILPOINT in one observer's environment) stop or kill an observer at an
exact step of its write; nsupdate with the lab's key edits the zone by hand.

As a library: Lab(failoverd, failoverctl).up() ... .down() (also run at exit). Hooks for other
programs built on it (the time-to-failover bench): config= and service= override the observers'
config, extra_nodes= adds namespaces on the bridge, start() runs a server in one, Watcher()
watches any DNS server from the client namespace.
As a tool (root):
  lab.py up [--build build/release] [--detach]   build the world; Ctrl-C (or `down`) removes it
  lab.py down --prefix PREFIX                    remove a (leftover) world: its processes, by
                                                 PID from `ip netns pids`, and its namespaces
  lab.py list                                    lab namespaces present on this host
Every wait is bounded in count and time. Python 3 stdlib only.
"""
import argparse
import atexit
import base64
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REGIONS = ["r1", "r2", "r3"]
OBSERVERS = {"o1": "obs-a", "o2": "obs-b", "o3": "obs-c"}
TOKEN = "lab-admin-token-0123456789abcdef"
ZONE = "lab.test."
NAME = "www.lab.test."
FENCE = "_failoverd.www.lab.test."
TSIG_KEY = "lab-key."
DNS_ADDR = "10.77.53.1"
RELAY_PORT = 5300  # delay_relay.py, with Lab(dns_delay=...)
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLIENT_ADDR = "10.77.99.1"


def region_addrs(region):
    r = int(region[1:])
    return [f"10.77.{r}.11", f"10.77.{r}.12"]


def observer_addr(node):
    return f"10.77.10.{int(node[1:])}"


def node_addrs(node):
    """The addresses a node of the world owns (on its eth0)."""
    if node in REGIONS:
        return region_addrs(node)
    if node in OBSERVERS:
        return [observer_addr(node)]
    if node == "dns":
        return [DNS_ADDR]
    if node == "client":
        return [CLIENT_ADDR]
    raise ValueError("unknown node " + node)


NODES = REGIONS + list(OBSERVERS) + ["dns", "client"]


def run(*cmd, check=True, timeout=30, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def wait_until(predicate, timeout, step=0.05):
    """Calls predicate until it is truthy or `timeout` seconds have passed; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def lab_namespaces(prefix=""):
    out = run("ip", "netns", "list").stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith("flab") and n.startswith(prefix)]


def remove_world(prefix):
    """Kills every process inside the namespaces of `prefix` (by PID) and deletes them.
    Only namespaces named PREFIX-... are touched. Returns the namespaces removed."""
    if not prefix.startswith("flab") or len(prefix) < 8:
        raise ValueError("not a lab prefix: " + prefix)
    gone = []
    for ns in lab_namespaces(prefix + "-"):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [int(p) for p in run("ip", "netns", "pids", ns, check=False).stdout.split()]
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if not wait_until(lambda: not run("ip", "netns", "pids", ns, check=False).stdout.strip(),
                              5, 0.05):
                continue
            break
        run("ip", "netns", "del", ns, check=False)
        gone.append(ns)
    for d in glob.glob(os.path.join(tempfile.gettempdir(), f"failoverd-{prefix}-*")):
        shutil.rmtree(d, ignore_errors=True)
    return gone


class Lab:
    """One world. Options change the observers' config (see observer_config) and the world:
      service          overrides of [services.www]
      config           overrides of other tables: {"probe_defaults": {"interval": "1s"},
                       "cluster": {...}, "observer": {...}, "admin": {...}}
      extra_nodes      {name: [addresses]}: namespaces joined to the bridge like the others, for
                       servers a caller starts there itself (lab.start(name, node, cmd)); they
                       are removed with the world
      observer_env     {node: {VAR: value}} extra environment of an observer, e.g.
                       {"o1": {"FAILOVERD_FAILPOINT": "after_send:kill"}} (actuate/failpoint.h)
      observer_secret  "wrong": observers sign with a TSIG secret BIND does not know (A4)
      update_key       "other": BIND lets only another key update the zone, the observers' key
                       may still query it (A4: REFUSED)
      clock_off        {node: offset}: that observer's wall clock runs off by offset ("+10m"),
                       libfaketime reading it from a file at every call (set_clock() changes it
                       while it runs); its monotonic clock is left alone. Such an observer need
                       not read the target before the world counts as up.
      dns_delay        (lo, hi): the observers' target is a relay in the dns namespace that
                       delays every reply of BIND's by uniform(lo, hi) seconds (UDP and TCP);
                       the watcher, dig and nsupdate still talk to BIND directly"""

    def __init__(self, failoverd, failoverctl, prefix=None, service=None, keep_dir=None,
                 quiet=False, config=None, extra_nodes=None, observer_env=None,
                 observer_secret=None, update_key=None, clock_off=None, dns_delay=None):
        self.failoverd = os.path.abspath(failoverd)
        self.failoverctl = os.path.abspath(failoverctl)
        self.prefix = prefix or "flab" + os.urandom(4).hex()
        self.service_opts = dict(service or {})
        self.config_opts = {k: dict(v) for k, v in (config or {}).items()}
        self.extra_nodes = {k: list(v) for k, v in (extra_nodes or {}).items()}
        for node in self.extra_nodes:
            if node in NODES or node == "core":
                raise ValueError("extra node clashes with the world's: " + node)
        self.keep_dir = keep_dir
        self.quiet = quiet
        self.observer_env = dict(observer_env or {})
        self.observer_secret = observer_secret
        self.update_key = update_key
        self.clock_off = dict(clock_off or {})
        self.dns_delay = tuple(dns_delay) if dns_delay else None
        self.dir = tempfile.mkdtemp(prefix=f"failoverd-{self.prefix}-")
        os.chmod(self.dir, 0o755)
        self.procs = {}  # name -> Popen (only processes this Lab started)
        self.handles = {}  # node -> [(chain, rule handle)] of the lab table, for heal()
        self.tables = set()
        self.created = []
        self.t0 = time.monotonic()
        self.timeline = []
        self.watcher = None
        self.down_done = False
        atexit.register(self.down)

    # --- naming and bookkeeping ------------------------------------------------------------
    def ns(self, node):
        return f"{self.prefix}-{node}"

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def nodes(self):
        return NODES + list(self.extra_nodes)

    def addrs(self, node):
        """The addresses a node owns, extra nodes included."""
        if node in self.extra_nodes:
            return self.extra_nodes[node]
        return node_addrs(node)

    def mark(self, event):
        """Adds an event to the timeline (seconds since the world was built)."""
        self.timeline.append((time.monotonic(), event))
        if not self.quiet:
            print(f"  [{time.monotonic() - self.t0:7.3f}s] {event}", file=sys.stderr, flush=True)

    def log(self, name):
        try:
            with open(self.path(name + ".log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # --- building ---------------------------------------------------------------------------
    def up(self):
        try:
            self._network()
            self._certs()
            self._bind()
            for region in REGIONS:
                self.start_region(region)
            self._observers()
            self.wait_ready()
            self.t0 = time.monotonic()
            self.mark("world up: prefix " + self.prefix)
        except BaseException:
            self.down()
            raise
        return self

    def _network(self):
        for node in ["core"] + self.nodes():
            run("ip", "netns", "add", self.ns(node))
            self.created.append(self.ns(node))
            run("ip", "-n", self.ns(node), "link", "set", "lo", "up")
        core = self.ns("core")
        run("ip", "-n", core, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", core, "link", "set", "br0", "up")
        for node in self.nodes():
            veth = "v-" + node
            run("ip", "-n", core, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                "netns", self.ns(node))
            run("ip", "-n", core, "link", "set", veth, "master", "br0", "up")
            for addr in self.addrs(node):
                run("ip", "-n", self.ns(node), "addr", "add", addr + "/16", "dev", "eth0")
            run("ip", "-n", self.ns(node), "link", "set", "eth0", "up")

    def _certs(self):
        d = self.path("pki")
        os.mkdir(d)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
            "/CN=failoverd lab CA " + self.prefix, cwd=d)
        for node, obs in OBSERVERS.items():
            with open(os.path.join(d, obs + ".ext"), "w") as f:
                f.write(f"subjectAltName=DNS:{obs},IP:{observer_addr(node)}\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n")
            run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", obs + ".key", "-out", obs + ".csr", "-subj", "/CN=" + obs,
                cwd=d)
            run("openssl", "x509", "-req", "-in", obs + ".csr", "-CA", "ca.crt", "-CAkey",
                "ca.key", "-CAcreateserial", "-out", obs + ".crt", "-days", "2", "-extfile",
                obs + ".ext", cwd=d)
            os.chmod(os.path.join(d, obs + ".key"), 0o600)

    def start(self, name, node, cmd, env=None):
        """Starts cmd inside node's namespace (ip netns exec execs it: the PID is cmd's), with
        `env` added to this process's environment."""
        log = open(self.path(name + ".log"), "a")
        try:
            self.procs[name] = subprocess.Popen(["ip", "netns", "exec", self.ns(node), *cmd],
                                                stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True,
                                                env={**os.environ, **env} if env else None)
        finally:
            log.close()
        return self.procs[name]

    def _bind(self):
        d = self.path("bind")
        os.mkdir(d)
        self.secret = base64.b64encode(os.urandom(32)).decode()
        with open(self.path("tsig.key"), "w") as f:
            f.write(self.secret + "\n")
        os.chmod(self.path("tsig.key"), 0o600)
        with open(self.path("nsupdate.key"), "w") as f:  # the operator's key, for nsupdate -k
            f.write(f'key "{TSIG_KEY}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n')
        os.chmod(self.path("nsupdate.key"), 0o600)
        # The observers' copy: the real secret, or one BIND has never seen (observer_secret).
        with open(self.path("observer-tsig.key"), "w") as f:
            f.write((base64.b64encode(os.urandom(32)).decode() if self.observer_secret == "wrong"
                     else self.secret) + "\n")
        os.chmod(self.path("observer-tsig.key"), 0o600)
        other = base64.b64encode(os.urandom(32)).decode()
        updater = "lab-other-key." if self.update_key == "other" else TSIG_KEY
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write(f"""options {{
  directory "{d}"; pid-file "{d}/named.pid";
  listen-on port 53 {{ {DNS_ADDR}; 127.0.0.1; }}; listen-on-v6 {{ none; }};
  recursion no; allow-transfer {{ none; }};
}};
key "{TSIG_KEY}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};
key "lab-other-key." {{ algorithm hmac-sha256; secret "{other}"; }};
zone "{ZONE}" {{ type primary; file "{d}/lab.test.zone"; allow-update {{ key "{updater}"; }}; }};
""")
        a, b = region_addrs(self.service_regions()[0])
        with open(os.path.join(d, "lab.test.zone"), "w") as f:
            f.write(f"""$TTL 5
@ IN SOA ns.lab.test. hostmaster.lab.test. ( 1 60 60 3600 5 )
@ IN NS ns.lab.test.
ns IN A {DNS_ADDR}
www IN A {a}
www IN A {b}
_failoverd.www IN TXT "gen=1 writer=bootstrap"
""")
        self.start("named", "dns", ["/usr/sbin/named", "-g", "-c", os.path.join(d, "named.conf")])
        if not wait_until(lambda: self.dig("lab.test.", "SOA"), 20, 0.1):
            raise RuntimeError("BIND did not answer\n" + self.log("named"))
        if self.dns_delay:
            lo, hi = self.dns_delay
            self.start("relay", "dns", [sys.executable, os.path.join(HERE, "delay_relay.py"),
                                        f"{DNS_ADDR}:{RELAY_PORT}", f"{DNS_ADDR}:53",
                                        str(lo), str(hi)])
            if not wait_until(lambda: "relaying" in self.log("relay"), 10, 0.05):
                raise RuntimeError("the delay relay did not start\n" + self.log("relay"))

    def target_server(self):
        """host:port of the observers' rfc2136 target: BIND, or the delay relay before it."""
        return f"{DNS_ADDR}:{RELAY_PORT if self.dns_delay else 53}"

    def start_region(self, region, which=(0, 1)):
        """Starts the region's nginx endpoints (one process each, master_process off)."""
        for i in which:
            addr = region_addrs(region)[i]
            name = f"nginx-{region}-{i}"
            d = self.path(name)
            os.makedirs(os.path.join(d, "logs"), exist_ok=True)
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(f"""daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  server {{ listen {addr}:80; location /healthz {{ default_type text/plain; return 200 "{region} {addr} ok\\n"; }} }}
}}
""")
            self.start(name, region, ["/usr/sbin/nginx", "-c", os.path.join(d, "nginx.conf"),
                                      "-p", d])
        for i in which:
            addr = region_addrs(region)[i]
            ok = wait_until(lambda: run("ip", "netns", "exec", self.ns(region), "curl", "-sf",
                                        "-m", "1", f"http://{addr}/healthz",
                                        check=False).returncode == 0, 10, 0.05)
            if not ok:
                raise RuntimeError(f"nginx {region} {addr} not serving\n"
                                   + self.log(f"nginx-{region}-{i}"))

    def service_regions(self):
        return self.service_opts.get("regions", REGIONS)

    def observer_config(self, node):
        obs = OBSERVERS[node]
        peers = "".join(f'\n[[cluster.peers]]\nid = "{OBSERVERS[p]}"\n'
                        f'address = "{observer_addr(p)}:8650"\n'
                        for p in OBSERVERS if p != node)
        regions = ""
        for region in REGIONS:
            regions += f"\n[regions.{region}]\n"
            for i, addr in enumerate(region_addrs(region)):
                regions += (f'[[regions.{region}.endpoints]]\nname = "{region}-web-{i}"\n'
                            f'kind = "http"\nurl = "http://{addr}/healthz"\n')
        svc = {"policy": "priority", "regions": self.service_regions(), "mode": "auto",
               "failback": "manual", "hold_down": "30s", "min_targets": 2,
               "reconcile_interval": "1s", "max_decision_age": "10s"}
        svc.update({k: v for k, v in self.service_opts.items()})
        publish = "".join(f"{r} = {json.dumps(region_addrs(r))}\n" for r in REGIONS
                          if r in svc["regions"])
        pki = self.path("pki")
        observer = self._table_keys("observer", {
            "id": obs, "state_dir": self.path(obs), "log_level": "debug"})
        cluster = self._table_keys("cluster", {
            "listen": f"{observer_addr(node)}:8650", "exchange_interval": "200ms",
            "verdict_ttl": "1s", "ca_file": f"{pki}/ca.crt", "cert_file": f"{pki}/{obs}.crt",
            "key_file": f"{pki}/{obs}.key"})
        probe = self._table_keys("probe_defaults", {
            "interval": "200ms", "timeout": "150ms", "connect_timeout": "150ms", "rise": 2,
            "fall": 3})
        admin = self._table_keys("admin", {
            "listen": "127.0.0.1:8649", "token_file": self.path("admin.token")})
        service = "".join(f"{k} = {json.dumps(v)}\n" for k, v in svc.items())
        return f"""# failoverd lab observer {obs} (namespace {self.ns(node)})
[observer]
{observer}
[admin]
{admin}
[cluster]
{cluster}{peers}
[probe_defaults]
{probe}
# This observer's own view of the network: the DNS server must answer.
[[control]]
name = "ctl-dns"
kind = "dns"
server = "{DNS_ADDR}:53"
query_name = "{ZONE}"
query_type = "SOA"
{regions}
[services.www]
{service}
[services.www.publish]
{publish}
[services.www.target]
kind = "rfc2136"
server = "{self.target_server()}"
zone = "{ZONE}"
name = "{NAME}"
ttl = 5
tsig_key_name = "{TSIG_KEY}"
tsig_secret_file = "{self.path('observer-tsig.key')}"
"""

    def _table_keys(self, table, defaults):
        """The key = value lines of one table: the lab's defaults, then the caller's
        overrides (Lab(config={table: {...}}))."""
        keys = dict(defaults)
        keys.update(self.config_opts.get(table, {}))
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())

    def _observers(self):
        with open(self.path("admin.token"), "w") as f:
            f.write("lab:" + TOKEN + "\n")
        os.chmod(self.path("admin.token"), 0o600)
        for node, obs in OBSERVERS.items():
            os.mkdir(self.path(obs))
            with open(self.path(obs + ".toml"), "w") as f:
                f.write(self.observer_config(node))
            check = run(self.failoverd, "--check-config", self.path(obs + ".toml"), check=False)
            if check.returncode != 0:
                raise RuntimeError(f"{obs}.toml rejected:\n{check.stdout}{check.stderr}")
        for node in OBSERVERS:
            self.start_observer(node)

    def start_observer(self, node, env=None):
        """Starts (or restarts) an observer; `env` (default: its observer_env) is added to its
        environment, so {} starts it with no failpoint armed."""
        obs = OBSERVERS[node]
        env = dict(self.observer_env.get(node) or {}) if env is None else env
        if node in self.clock_off:
            clock = self.path(f"faketime-{obs}")
            if not os.path.exists(clock):
                self.set_clock(node, self.clock_off[node])
            env = {**(env or {}), "LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": clock,
                   "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        return self.start(obs, node, [self.failoverd, "--config", self.path(obs + ".toml")], env)

    def wait_ready(self, timeout=40):
        """Every observer: every region confirmed up, every peer seen, the live target read."""
        def ready(node):
            why = self.ctl(node, "why", "www")
            status = self.ctl(node, "status")
            if not why or not status:
                return False
            regions_up = all(r["confirmed"] == "up" for r in why["regions"])
            peers_seen = all((p["last_seen_seconds_ago"] is not None
                              and p["last_seen_seconds_ago"] < 1.0) for p in status["peers"])
            svc = next(s for s in status["services"] if s["name"] == "www")
            # With a wrong TSIG secret the target can never be read: up and probing is all.
            read = (self.observer_secret == "wrong" or node in self.clock_off
                    or (svc["generation"] or 0) >= 1)
            return regions_up and peers_seen and read
        for node in OBSERVERS:
            if not wait_until(lambda: ready(node), timeout, 0.1):
                raise RuntimeError(f"{OBSERVERS[node]} not ready: {self.ctl(node, 'why', 'www')}"
                                   f"\n{self.log(OBSERVERS[node])[-4000:]}")

    # --- tearing down -----------------------------------------------------------------------
    def stop(self, name, sig=signal.SIGTERM, timeout=10):
        """Stops one process this Lab started, by PID; SIGKILL when it outlives `timeout`."""
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)

    def down(self):
        if self.down_done:
            return
        self.down_done = True
        if self.watcher:
            self.watcher.stop()
        for name in list(self.procs):
            try:
                self.stop(name, signal.SIGTERM, timeout=5)
            except Exception as e:  # keep going: the namespaces must go
                print(f"lab: stopping {name}: {e}", file=sys.stderr)
        for ns in reversed(self.created):
            run("ip", "netns", "del", ns, check=False)
        self.created = []
        if self.keep_dir:
            dest = self.keep_dir
            shutil.copytree(self.dir, dest, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.key", "tsig.key", "admin.token"))
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- looking at it ----------------------------------------------------------------------
    def nsexec(self, node, *cmd, timeout=10):
        return run("ip", "netns", "exec", self.ns(node), *cmd, check=False, timeout=timeout)

    def dig(self, name, rtype):
        r = self.nsexec("client", "dig", "+short", "+time=1", "+tries=1", "@" + DNS_ADDR, name,
                        rtype)
        return sorted(line for line in r.stdout.splitlines() if line.strip())

    def answer(self):
        return self.dig(NAME, "A")

    def fence(self):
        """(generation, writer) of the live fence, read from the client namespace."""
        texts = self.dig(FENCE, "TXT")
        gen = writer = None
        for t in texts:
            for field in t.strip('"').split():
                if field.startswith("gen="):
                    gen = int(field[4:])
                elif field.startswith("writer="):
                    writer = field[7:]
        return gen, writer

    def approved_updates(self):
        """UPDATEs BIND accepted (one log line per signed, approved update)."""
        return self.log("named").count(f'signer "{TSIG_KEY.rstrip(".")}" approved')

    def named_log_count(self, *texts):
        """How many lines of BIND's log contain every one of `texts`."""
        return sum(1 for line in self.log("named").splitlines() if all(t in line for t in texts))

    def accepted_updates(self):
        """UPDATEs BIND applied: approved (signed, allowed) minus those it then turned down
        (a failed prerequisite: a compare-and-swap that lost)."""
        return self.approved_updates() - self.named_log_count("update unsuccessful")

    def nsupdate(self, *commands):
        """A hand edit: nsupdate with the lab's TSIG key, from the dns namespace. Returns the
        exit code (stderr goes to the timeline when it fails)."""
        script = f"server {DNS_ADDR}\nzone {ZONE}\n" + "".join(c + "\n" for c in commands) + "send\n"
        r = run("ip", "netns", "exec", self.ns("dns"), "nsupdate", "-t", "3", "-k",
                self.path("nsupdate.key"), check=False, input=script)
        self.mark(f"nsupdate: {'; '.join(commands)} (exit {r.returncode}"
                  + (f": {r.stderr.strip()}" if r.returncode else "") + ")")
        return r.returncode

    def proc_state(self, name):
        """The state letter (R, S, T, ...) of a process this Lab started, from /proc; None once
        it has exited (exit_code() tells how)."""
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return None
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return None

    def exit_code(self, name):
        """The returncode of a process this Lab started (-9: SIGKILL), None while it runs."""
        p = self.procs.get(name)
        return None if p is None else p.poll()

    def ctl(self, node, *args):
        r = self.ctl_raw(node, "--json", *args)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def ctl_raw(self, node, *args, token=TOKEN):
        return run("ip", "netns", "exec", self.ns(node), "env", "FAILOVERD_TOKEN=" + token,
                   self.failoverctl, "--admin", "127.0.0.1:8649", *args, check=False, timeout=10)

    def region_row(self, node, region):
        why = self.ctl(node, "why", "www")
        if not why:
            return None
        return next((r for r in why["regions"] if r["name"] == region), None)

    def service(self, node):
        status = self.ctl(node, "status")
        return next(s for s in status["services"] if s["name"] == "www") if status else None

    def metrics(self, node):
        """Parsed /metrics of an observer: {(name, frozenset(labels)): value}."""
        r = self.nsexec(node, "curl", "-sf", "-m", "3", "http://127.0.0.1:8649/metrics")
        out = {}
        for line in r.stdout.splitlines():
            if not line or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            pairs = []
            for part in labels.rstrip("}").split(","):
                if "=" in part:
                    k, _, v = part.partition("=")
                    pairs.append((k.strip(), v.strip().strip('"')))
            try:
                out[(name, frozenset(pairs))] = float(value)
            except ValueError:
                pass
        return out

    def metric(self, node, name, **labels):
        """Sum of a metric over the series that carry the given labels."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.metrics(node).items() if n == name and want <= ls)

    def events(self, node, limit=200):
        r = self.ctl(node, "events", "--limit", str(limit))
        return r["events"] if r else []

    # --- faults -----------------------------------------------------------------------------
    def _table(self, node):
        ns = self.ns(node)
        if ns not in self.tables:
            run("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "lab")
            run("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "lab", "out",
                "{ type filter hook output priority 0 ; policy accept ; }")
            run("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "lab", "in",
                "{ type filter hook input priority 0 ; policy accept ; }")
            # blip(): addresses added with a timeout; the kernel ends the cut on time.
            run("ip", "netns", "exec", ns, "nft", "add", "set", "inet", "lab", "blip",
                "{ type ipv4_addr ; flags timeout ; }")
            run("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "lab", "out", "ip",
                "daddr", "@blip", "drop")
            self.tables.add(ns)

    @staticmethod
    def _verdicts(mode):
        """The rule tails for a cut. reject: TCP gets a reset (a locally generated ICMP error
        does not reach the local socket, a reset does), anything else ICMP port unreachable."""
        if mode == "drop":
            return [["drop"]]
        if mode == "reject":
            return [["meta", "l4proto", "tcp", "reject", "with", "tcp", "reset"],
                    ["reject", "with", "icmpx", "type", "port-unreachable"]]
        raise ValueError("mode is drop or reject: " + mode)

    def _add_rule(self, node, chain, *rule):
        """Appends one rule to the lab table's chain ("out" or "in") in node's namespace,
        remembered for heal(); returns its handle. (nft --echo may print more lines after the
        rule, e.g. "# new generation ...".)"""
        self._table(node)
        r = run("ip", "netns", "exec", self.ns(node), "nft", "--echo", "--handle", "add", "rule",
                "inet", "lab", chain, *rule)
        m = re.search(r"# handle (\d+)", r.stdout)
        if not m:
            raise RuntimeError(f"nft printed no rule handle: {r.stdout!r}")
        self.handles.setdefault(node, []).append((chain, m.group(1)))
        return m.group(1)

    def cut(self, a, b, mode="drop", both=True):
        """Cuts traffic from node a to node(s) b (and back, when `both`), with nftables rules in
        the senders' output hooks. drop: silent (timeouts); reject: refused (TCP reset)."""
        targets = [b] if isinstance(b, str) else list(b)
        senders = {a: targets}
        if both:
            for t in targets:
                senders.setdefault(t, []).append(a)
        for src, dsts in senders.items():
            addrs = "{ " + ", ".join(x for d in dsts for x in self.addrs(d)) + " }"
            for tail in self._verdicts(mode):
                self._add_rule(src, "out", "ip", "daddr", addrs, *tail)
        self.mark(f"cut {a} {'<->' if both else '->'} {','.join(targets)} ({mode})")

    def close_port(self, node, port, mode="drop"):
        """The node's TCP port stops working for every client alike: a rule in node's input
        hook drops what arrives for it (connections and requests time out) or, with "reject",
        answers it with a TCP reset (connection refused). heal([node]) lifts it. Returns the
        monotonic time just before the rule was added."""
        if mode not in ("drop", "reject"):
            raise ValueError("mode is drop or reject: " + mode)
        tail = ["drop"] if mode == "drop" else ["reject", "with", "tcp", "reset"]
        t = time.monotonic()
        self._add_rule(node, "in", "tcp", "dport", str(port), *tail)
        self.mark(f"close {node} tcp port {port} ({mode})")
        return t

    def blip(self, src, dsts, seconds):
        """Drops src -> dsts for `seconds`: the addresses go into an nftables set with a
        timeout, so the kernel ends the cut on time however slow the machine is. Returns
        (start, end) on the monotonic clock; the start is known to within the nft call."""
        self._table(src)
        ms = int(seconds * 1000)
        elements = "{ " + ", ".join(f"{x} timeout {ms}ms" for d in dsts
                                    for x in self.addrs(d)) + " }"
        t0 = time.monotonic()
        run("ip", "netns", "exec", self.ns(src), "nft", "add", "element", "inet", "lab", "blip",
            elements)
        t1 = time.monotonic()
        self.timeline.append((t1, f"cut {src} -> {','.join(dsts)} (drop) for {ms} ms "
                                  f"(started within {t1 - t0:.3f}s before)"))
        self.timeline.append((t1 + seconds, f"cut {src} -> {','.join(dsts)} expired"))
        return t0, t1 + seconds

    def add_rule(self, node, *expr):
        """Appends one rule to node's output chain (removed by heal(), like a cut); returns its
        handle for counter()."""
        return self._add_rule(node, "out", *expr)

    def counter(self, node, handle):
        """Packets counted so far by the rule `handle` of node's output chain (0 when gone)."""
        r = run("ip", "netns", "exec", self.ns(node), "nft", "--handle", "list", "chain", "inet",
                "lab", "out", check=False)
        for line in r.stdout.splitlines():
            if line.rstrip().endswith(f"# handle {handle}") and "packets" in line:
                return int(line.split("packets", 1)[1].split()[0])
        return 0

    def drop_update_replies(self, nodes):
        """BIND's replies to UPDATEs from `nodes` (observers) are dropped, nothing else: the rule
        matches TCP from port 53 whose DNS header (after the 2-byte length) has QR set and opcode
        UPDATE (5): first flags byte & 0xf8 == 0xa8. Returns the rule's handle (it counts)."""
        addrs = "{ " + ", ".join(observer_addr(n) for n in nodes) + " }"
        handle = self.add_rule("dns", "ip", "daddr", addrs, "tcp", "sport", "53", "@ih,32,8",
                               "&", "0xf8", "==", "0xa8", "counter", "drop")
        self.mark(f"dns -> {','.join(nodes)}: UPDATE replies dropped")
        return handle

    def heal(self, nodes=None):
        """Removes every cut whose sender is in `nodes` (all when None)."""
        for src in list(self.handles):
            if nodes is not None and src not in nodes:
                continue
            for chain, handle in self.handles.pop(src):
                run("ip", "netns", "exec", self.ns(src), "nft", "delete", "rule", "inet", "lab",
                    chain, "handle", handle)
        self.mark("heal " + ("all" if nodes is None else ",".join(nodes)))

    def set_clock(self, node, offset):
        """Sets how far an observer started with clock_off runs off ("+10m", "+0"); it reads
        the file at every clock call (FAKETIME_NO_CACHE)."""
        path = self.path(f"faketime-{OBSERVERS[node]}")
        with open(path + ".new", "w") as f:
            f.write(offset + "\n")
        os.replace(path + ".new", path)
        self.mark(f"{OBSERVERS[node]}'s wall clock set to {offset}")

    def pause(self, name):
        """SIGSTOP to a process this Lab started (resume() sends SIGCONT)."""
        os.kill(self.procs[name].pid, signal.SIGSTOP)
        self.mark(f"SIGSTOP {name}")

    def resume(self, name):
        os.kill(self.procs[name].pid, signal.SIGCONT)
        self.mark(f"SIGCONT {name}")

    def region_down(self, region, sig=signal.SIGKILL):
        for i in (0, 1):
            self.stop(f"nginx-{region}-{i}", sig)
        self.mark(f"region {region} down (nginx killed)")

    def region_up(self, region):
        self.start_region(region)
        self.mark(f"region {region} up (nginx started)")

    # --- the watcher ------------------------------------------------------------------------
    def watch(self):
        self.watcher = Watcher(self)
        return self.watcher

    def print_timeline(self, title):
        rows = list(self.timeline)
        if self.watcher:
            rows += self.watcher.transitions()
        rows.sort(key=lambda r: r[0])
        print(f"\ntimeline: {title}", file=sys.stderr)
        for t, event in rows:
            print(f"  {t - self.t0:8.3f}s  {event}", file=sys.stderr)
        sys.stderr.flush()


class Watcher:
    """watcher.py in the client namespace, asking `server` (address:port) for `name` A and
    `fence` TXT (None: no fence query) every 10 ms; samples() reads what it wrote so far.
    Started by lab.watch() for BIND and the service; a caller may start more, each with its
    own process name."""

    def __init__(self, lab, name="watcher", server=DNS_ADDR + ":53", qname=NAME, fence=FENCE):
        self.lab, self.name = lab, name
        self.out = lab.path(name + ".jsonl")
        self.rows, self.offset = [], 0
        self.proc = lab.start(name, "client", [
            sys.executable, os.path.join(HERE, "watcher.py"), server, qname, fence or "-",
            self.out, "--interval", "0.01"])
        if not wait_until(lambda: any(s["a"] for s in self.samples()), 10, 0.05):
            raise RuntimeError(f"{name} got no answer\n" + lab.log(name))

    def stop(self):
        self.lab.stop(self.name, signal.SIGTERM, timeout=5)

    def samples(self):
        """Every sample so far, oldest first (the list is kept and grows: do not change it).
        Only the lines written since the last call are read."""
        try:
            with open(self.out, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.rows
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        for line in data[:end].splitlines():
            self.rows.append(json.loads(line))
        self.offset += end
        return self.rows

    def transitions(self):
        rows, last = [], None
        for s in self.samples():
            if s["err"]:
                continue
            key = (tuple(s["a"]), s["gen"], s["writer"])
            if key != last:
                rows.append((s["t"], f"dns answer {','.join(s['a']) or 'EMPTY'} "
                                     f"fence gen={s['gen']} writer={s['writer']}"))
                last = key
        return rows

    def answers(self):
        """Distinct successive answers, in order."""
        out = []
        for s in self.samples():
            if s["a"] is not None and (not out or out[-1] != s["a"]):
                out.append(s["a"])
        return out

    def violations(self, publish, excused=()):
        """The invariants over every sample so far: never empty, generation never decreasing,
        at most one region active (every answer within one region's published set).
        excused: (start, end, what) windows, what "empty" or "no fence", in which that one
        problem is the scenario's own doing (a hand edit) and is not reported."""
        def excuse(t, what):
            return any(a <= t <= b and w == what for a, b, w in excused)
        problems, gen = [], None
        for s in self.samples():
            if s["err"]:
                continue
            if not s["a"]:
                if not excuse(s["t"], "empty"):
                    problems.append(f"t={s['t']}: empty answer (rcode {s['rcode']})")
                continue
            owners = [r for r, addrs in publish.items() if set(s["a"]) <= set(addrs)]
            if len(owners) != 1:
                problems.append(f"t={s['t']}: answer {s['a']} is not one region's set")
            if s["gen"] is None:
                if not excuse(s["t"], "no fence"):
                    problems.append(f"t={s['t']}: no fence")
            elif gen is not None and s["gen"] < gen:
                problems.append(f"t={s['t']}: fence generation went {gen} -> {s['gen']}")
            else:
                gen = s["gen"]
        return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("--build", default=os.path.join(HERE, "..", "..", "build", "release"))
    u.add_argument("--detach", action="store_true", help="leave it running; remove with down")
    d = sub.add_parser("down")
    d.add_argument("--prefix", required=True)
    sub.add_parser("list")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab.py: run as root (network namespaces, nftables)")
    if args.cmd == "list":
        for ns in lab_namespaces():
            print(ns)
        return
    if args.cmd == "down":
        gone = remove_world(args.prefix)
        print(f"removed {len(gone)} namespaces: {' '.join(gone)}")
        return
    build = os.path.abspath(args.build)
    for prog in ("failoverd", "failoverctl"):
        if not os.access(os.path.join(build, "daemon", prog), os.X_OK):
            sys.exit(f"lab.py: no {build}/daemon/{prog}; build first or pass --build DIR")
    lab = Lab(os.path.join(build, "daemon", "failoverd"),
              os.path.join(build, "daemon", "failoverctl"))
    lab.up()
    print(f"lab {lab.prefix} up; files in {lab.dir}")
    for node in NODES:
        print(f"  {lab.ns(node):24} {' '.join(node_addrs(node))}")
    print(f"  try: ip netns exec {lab.ns('o1')} env FAILOVERD_TOKEN={TOKEN} "
          f"{lab.failoverctl} why www")
    print(f"       ip netns exec {lab.ns('client')} dig @{DNS_ADDR} {NAME} A")
    if args.detach:
        atexit.unregister(lab.down)
        print(f"detached; remove with: {sys.argv[0]} down --prefix {lab.prefix}")
        return
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("Ctrl-C removes it")
    while not stop:
        time.sleep(0.2)
    lab.down()


if __name__ == "__main__":
    main()
