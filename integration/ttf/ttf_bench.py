#!/usr/bin/env python3
"""Time-to-failover benchmark: failoverd next to PowerDNS 4.7 Lua `ifurlup` and gdnsd 3.8
`http_status` + `simplefo`, measured in the same run on the same two loopback "regions".

World (loopback only; every process started here is stopped by its PID; every wait is bounded):
  - two regions, each an nginx answering GET /health with 200: primary 127.0.0.21:PORT,
    standby 127.0.0.22:PORT (the same port);
  - failoverd: three observers (quorum 2, mutual TLS between them, a throwaway CA made with the
    openssl CLI) writing www.fo.ttf.test. to a BIND9 by RFC 2136 with TSIG and the CAS fence
    (_failoverd.www.fo.ttf.test. TXT); the measured answer is BIND's;
  - PowerDNS (gsqlite3) with `www.pdns.ttf.test. LUA A "ifurlup(...)"`;
  - gdnsd with `www.gdnsd.ttf.test. DYNA simplefo!www` and an `http_status` service type.
  Each DNS server is authoritative for its own zone on its own 127.0.0.1 port. All three probe
  the same two nginx endpoints.

Faults, applied to the primary's address:port with an nftables table of this program's own
(output hook: loopback traffic passes it), then healed before the next run:
  refuse  `ip daddr 127.0.0.21 tcp dport PORT reject with tcp reset` (connections refused)
  drop    `ip daddr 127.0.0.21 tcp dport PORT drop` (probes time out)
The fault's time is taken just before `nft` is called. A poller thread per system sends a raw
UDP DNS query every 10 ms; the switch time is from the fault to the first answer holding only
the standby. After the heal the failback time is measured the same way. A flap test then turns
the fault on and off (down/up seconds) for a while and counts each system's answer changes.

Benchmarks are not timed tests: nothing here asserts a time. It exits 1 when a system never
failed over (or never failed back) within a bounded time, 77 when not root (nftables).

usage: ttf_bench.py [--failoverd PATH] [--failoverctl PATH] [--runs 20] [--intervals 1s,200ms]
                    [--failures refuse,drop] [--fall 3] [--rise 2] [--fo-timeout-ratio 1]
                    [--flap-seconds 30] [--flap-down 3] [--flap-up 3] [--keep-logs DIR]
"""
import argparse
import base64
import json
import math
import os
import random
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PRIMARY = "127.0.0.21"
STANDBY = "127.0.0.22"
OBSERVERS = ["obs-a", "obs-b", "obs-c"]
TOKEN = "ttf-bench-token-0123456789abcdef"
SYSTEMS = ["failoverd", "PowerDNS", "gdnsd"]
POLL_STEP = 0.010


def log(msg):
    print(f"[ttf {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_both():
    """A port free for both TCP and UDP on 127.0.0.1 (DNS servers listen on both)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def free_port_on(addresses):
    """A TCP port free on every address in `addresses`."""
    for _ in range(50):
        port = free_port()
        try:
            socks = []
            for a in addresses:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def run(*cmd, cwd=None, timeout=60):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


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


# --- DNS ----------------------------------------------------------------------------------------
def dns_query(name):
    qid = random.randrange(65536)
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)  # no RD: ask the authority itself
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return qid, header + qname + b"\x00" + struct.pack("!HH", 1, 1)


def skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def parse_a_answer(msg, qid):
    """(rcode, sorted tuple of A addresses) or None when the message is not our answer."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        return None
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(msg, i)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[i:i + 4]))
        i += rdlen
    return flags & 0xF, tuple(sorted(addrs))


class Poller(threading.Thread):
    """Queries one authoritative server for one name every 10 ms and records each change of
    answer as (monotonic time, answer). An answer is a tuple of addresses; "timeout" and
    "rcode=N" are recorded as such."""

    def __init__(self, system, port, name):
        super().__init__(daemon=True, name="poll-" + system)
        self.system, self.port, self.name = system, port, name
        self.lock = threading.Lock()
        self.changes = []
        self.current = None
        self.queries = 0
        self.empty = 0  # NOERROR with no address: never acceptable
        self.stop_flag = threading.Event()

    def run(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", self.port))
        try:
            while not self.stop_flag.is_set():
                start = time.monotonic()
                answer = self.ask(sock)
                now = time.monotonic()
                with self.lock:
                    self.queries += 1
                    if answer == ():
                        self.empty += 1
                    if answer != self.current:
                        self.current = answer
                        self.changes.append((now, answer))
                rest = POLL_STEP - (time.monotonic() - start)
                if rest > 0:
                    time.sleep(rest)
        finally:
            sock.close()

    def ask(self, sock):
        qid, q = dns_query(self.name)
        try:
            sock.send(q)
        except OSError:
            return "timeout"
        deadline = time.monotonic() + 0.2
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                return "timeout"
            try:
                msg = sock.recv(4096)
            except OSError:
                return "timeout"
            parsed = parse_a_answer(msg, qid)
            if parsed is None:
                continue
            rcode, addrs = parsed
            return addrs if rcode == 0 else f"rcode={rcode}"

    def answer(self):
        with self.lock:
            return self.current

    def first_since(self, since, wanted):
        """The time of the first change to `wanted` at or after `since`, or None."""
        with self.lock:
            for t, a in self.changes:
                if t >= since and a == wanted:
                    return t
        return None

    def changes_between(self, start, end):
        """Answer changes between two times, ignoring query timeouts."""
        with self.lock:
            before = [a for t, a in self.changes if t < start and a != "timeout"]
            window = [a for t, a in self.changes if start <= t <= end and a != "timeout"]
        last = before[-1] if before else None
        n = 0
        for a in window:
            if a != last:
                n += 1
                last = a
        return n


# --- the world ----------------------------------------------------------------------------------
class World:
    def __init__(self, args):
        self.args = args
        self.keep = args.keep_logs
        self.tmp = tempfile.TemporaryDirectory(prefix="failoverd-ttf-")
        self.dir = self.tmp.name
        self.procs = {}  # name -> Popen
        self.logs = {}
        self.nft_table = f"failoverd_ttf_{os.getpid()}"
        self.nft_ready = False
        self.fault_on = False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def start(self, name, cmd, **kw):
        logf = open(self.path(name + ".log"), "w")
        self.logs[name] = logf
        self.procs[name] = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, **kw)
        return self.procs[name]

    def read_log(self, name, tail=3000):
        try:
            with open(self.path(name + ".log")) as f:
                return f.read()[-tail:]
        except OSError:
            return ""

    def stop(self, names):
        for n in names:
            p = self.procs.get(n)
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for n in names:
            p = self.procs.pop(n, None)
            if p is None:
                continue
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
            f = self.logs.pop(n, None)
            if f:
                f.close()

    def check_alive(self):
        for n, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{n} exited with {p.returncode}:\n{self.read_log(n)}")

    def close(self):
        self.stop(list(self.procs))
        if self.nft_ready:
            subprocess.run(["nft", "delete", "table", "inet", self.nft_table],
                           capture_output=True, timeout=10)
            self.nft_ready = False
        if self.keep:
            import shutil
            dest = os.path.join(self.keep, "ttf-" + time.strftime("%Y%m%d-%H%M%S"))

            def not_regular(d, names):  # sockets, and the sqlite database
                return [n for n in names if n.endswith(".db") or not (
                    os.path.isdir(os.path.join(d, n)) or os.path.isfile(os.path.join(d, n)))]
            shutil.copytree(self.dir, dest, ignore=not_regular, dirs_exist_ok=True)
            log(f"logs kept in {dest}")
        self.tmp.cleanup()

    # nftables: one table of our own, one chain; a fault is one rule, the heal flushes the chain.
    def nft_setup(self):
        run("nft", "add", "table", "inet", self.nft_table)
        self.nft_ready = True
        run("nft", "add", "chain", "inet", self.nft_table, "out",
            "{ type filter hook output priority 0 ; policy accept ; }")

    def fault(self, kind):
        verdict = ["reject", "with", "tcp", "reset"] if kind == "refuse" else ["drop"]
        t = time.monotonic()
        run("nft", "add", "rule", "inet", self.nft_table, "out", "ip", "daddr", PRIMARY,
            "tcp", "dport", str(self.web_port), *verdict)
        self.fault_on = True
        return t

    def heal(self):
        t = time.monotonic()
        run("nft", "flush", "chain", "inet", self.nft_table, "out")
        self.fault_on = False
        return t

    # regions -------------------------------------------------------------------------------
    def start_regions(self):
        self.web_port = free_port_on([PRIMARY, STANDBY])
        for name, addr in (("primary", PRIMARY), ("standby", STANDBY)):
            d = self.path("nginx-" + name)
            os.makedirs(os.path.join(d, "logs"))
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  server {{
    listen {addr}:{self.web_port};
    location /health {{ default_type text/plain; return 200 "{name} ok\\n"; }}
  }}
}}
""")
            self.start("nginx-" + name, ["/usr/sbin/nginx", "-c", os.path.join(d, "nginx.conf"),
                                         "-p", d])
        for addr in (PRIMARY, STANDBY):
            url = f"http://{addr}:{self.web_port}/health"
            if not wait_until(lambda: http_ok(url), 20, 0.1):
                raise RuntimeError(f"nginx at {url} never answered")

    def make_certs(self):
        d = self.path("pki")
        os.mkdir(d)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
            "/CN=ttf bench CA", cwd=d)
        for obs in OBSERVERS:
            with open(os.path.join(d, obs + ".ext"), "w") as f:
                f.write(f"subjectAltName=DNS:{obs},IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n")
            run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", obs + ".key", "-out", obs + ".csr", "-subj", "/CN=" + obs, cwd=d)
            run("openssl", "x509", "-req", "-in", obs + ".csr", "-CA", "ca.crt", "-CAkey",
                "ca.key", "-CAcreateserial", "-out", obs + ".crt", "-days", "2", "-extfile",
                obs + ".ext", cwd=d)
            os.chmod(os.path.join(d, obs + ".key"), 0o600)
        with open(self.path("admin.token"), "w") as f:
            f.write("bench:" + TOKEN + "\n")
        os.chmod(self.path("admin.token"), 0o600)


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


# --- the systems under test ---------------------------------------------------------------------
class Settings:
    """What each system runs with at one requested probe interval."""

    def __init__(self, interval, args):
        self.interval = interval
        self.fall, self.rise = args.fall, args.rise
        # failoverd: any interval; timeout may not exceed it. A tick that comes while the last
        # probe is still in flight is skipped, so with timeout == interval a blackholed endpoint
        # is probed every 2 intervals: --fo-timeout-ratio below 1 avoids that.
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

    def describe(self):
        i = fmt_duration(self.interval)
        return [
            f"requested: interval {i}, fall {self.fall}, rise {self.rise}",
            f"  failoverd: 3 observers, quorum 2, interval {fmt_duration(self.fo_interval)}, "
            f"timeout {fmt_duration(self.fo_timeout)}, fall {self.fall}, rise {self.rise}, "
            f"exchange_interval {fmt_duration(self.fo_exchange)}, verdict_ttl "
            f"{fmt_duration(self.fo_verdict_ttl)}, failback auto, failback_delay "
            f"{fmt_duration(self.fo_failback_delay)}, hold_down {fmt_duration(self.fo_hold_down)}, "
            f"flip_budget 1000/1m; RFC 2136 + TSIG to BIND9, CAS on the fence",
            f"  PowerDNS 4.7: lua-health-checks-interval={self.pdns_interval} (whole seconds, "
            f"min 1{'; requested ' + i + ' not possible' if self.pdns_interval != self.interval else ''}), "
            f"ifurlup timeout={self.pdns_timeout} s (whole seconds), down after "
            f"{self.pdns_fall} failure (4.7 has no minimumFailures; fall {self.fall} not possible), "
            f"up after {self.pdns_rise} success; lua-health-checks-expire-delay=3600, caches off",
            f"  gdnsd 3.8: http_status interval={self.gd_interval} (whole seconds, timeout >= 1 "
            f"and < interval, so min 2{'; requested ' + i + ' not possible' if self.gd_interval != self.interval else ''}), "
            f"timeout={self.gd_timeout}, down_thresh={self.gd_down_thresh}, "
            f"ok_thresh={self.gd_ok_thresh}, up_thresh={self.gd_up_thresh}; simplefo primary/secondary",
        ]


class Systems:
    """BIND9 + three failoverd observers, PowerDNS, gdnsd, for one set of Settings."""

    def __init__(self, world, settings, args, tag):
        self.w, self.s, self.args, self.tag = world, settings, args, tag
        self.names = []
        self.pollers = {}

    def p(self, *parts):
        return self.w.path(self.tag, *parts)

    def start(self):
        os.makedirs(self.p())
        self.start_bind()
        self.start_failoverd()
        self.start_pdns()
        self.start_gdnsd()
        self.pollers = {
            "failoverd": Poller("failoverd", self.bind_port, "www.fo.ttf.test."),
            "PowerDNS": Poller("PowerDNS", self.pdns_port, "www.pdns.ttf.test."),
            "gdnsd": Poller("gdnsd", self.gdnsd_port, "www.gdnsd.ttf.test."),
        }
        for poller in self.pollers.values():
            poller.start()
        self.wait_ready()

    def stop(self):
        for poller in self.pollers.values():
            poller.stop_flag.set()
        for poller in self.pollers.values():
            poller.join(timeout=5)
        self.w.stop(self.names)

    def start_proc(self, name, cmd, **kw):
        full = f"{self.tag}-{name}"
        self.names.append(full)
        return self.w.start(full, cmd, **kw)

    # BIND + failoverd ----------------------------------------------------------------------
    def start_bind(self):
        d = self.p("bind")
        os.mkdir(d)
        self.bind_port = free_port_both()
        secret = base64.b64encode(os.urandom(32)).decode()
        self.tsig_file = self.p("tsig.key")
        with open(self.tsig_file, "w") as f:
            f.write(secret + "\n")
        os.chmod(self.tsig_file, 0o600)
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write(f"""options {{
  directory "{d}"; pid-file "{d}/named.pid";
  listen-on port {self.bind_port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  recursion no; allow-transfer {{ none; }};
}};
key "ttf-key." {{ algorithm hmac-sha256; secret "{secret}"; }};
zone "fo.ttf.test." {{ type primary; file "{d}/fo.ttf.test.zone"; allow-update {{ key "ttf-key."; }}; }};
""")
        with open(os.path.join(d, "fo.ttf.test.zone"), "w") as f:
            f.write(f"""$TTL 5
@ IN SOA ns.fo.ttf.test. hostmaster.fo.ttf.test. ( 1 60 60 3600 5 )
@ IN NS ns.fo.ttf.test.
ns IN A 127.0.0.1
www IN A {PRIMARY}
_failoverd.www IN TXT "gen=1 writer=bootstrap"
""")
        self.start_proc("named", ["/usr/sbin/named", "-g", "-c", os.path.join(d, "named.conf")])

    def start_failoverd(self):
        s = self.s
        self.admin_port = {o: free_port() for o in OBSERVERS}
        cluster_port = {o: free_port() for o in OBSERVERS}
        pki = self.w.path("pki")
        for obs in OBSERVERS:
            peers = "".join(
                f'\n[[cluster.peers]]\nid = "{q}"\naddress = "127.0.0.1:{cluster_port[q]}"\n'
                for q in OBSERVERS if q != obs)
            config = f"""[observer]
id = "{obs}"
state_dir = "{self.p(obs)}"

[admin]
listen = "127.0.0.1:{self.admin_port[obs]}"
token_file = "{self.w.path('admin.token')}"

[cluster]
listen = "127.0.0.1:{cluster_port[obs]}"
quorum = 2
exchange_interval = "{fmt_duration(s.fo_exchange)}"
verdict_ttl = "{fmt_duration(s.fo_verdict_ttl)}"
ca_file = "{pki}/ca.crt"
cert_file = "{pki}/{obs}.crt"
key_file = "{pki}/{obs}.key"
{peers}
[probe_defaults]
interval = "{fmt_duration(s.fo_interval)}"
timeout = "{fmt_duration(s.fo_timeout)}"
rise = {s.rise}
fall = {s.fall}

[regions.primary]
[[regions.primary.endpoints]]
name = "primary-web"
kind = "http"
url = "http://{PRIMARY}:{self.w.web_port}/health"

[regions.standby]
[[regions.standby.endpoints]]
name = "standby-web"
kind = "http"
url = "http://{STANDBY}:{self.w.web_port}/health"

[services.www]
policy = "priority"
regions = ["primary", "standby"]
failback = "auto"
failback_delay = "{fmt_duration(s.fo_failback_delay)}"
hold_down = "{fmt_duration(s.fo_hold_down)}"
flip_budget = 1000
flip_window = "1m"
reconcile_interval = "1s"

[services.www.publish]
primary = ["{PRIMARY}"]
standby = ["{STANDBY}"]

[services.www.target]
kind = "rfc2136"
server = "127.0.0.1:{self.bind_port}"
zone = "fo.ttf.test."
name = "www.fo.ttf.test."
ttl = 5
tsig_key_name = "ttf-key."
tsig_secret_file = "{self.tsig_file}"
"""
            os.mkdir(self.p(obs))
            conf = self.p(obs + ".toml")
            with open(conf, "w") as f:
                f.write(config)
            check = subprocess.run([self.args.failoverd, "--check-config", conf],
                                   capture_output=True, text=True, timeout=30)
            if check.returncode != 0:
                raise RuntimeError(f"failoverd --check-config {conf}:\n{check.stderr}")
        # BIND first: the observers read the live RRset and fence from it.
        if not wait_until(lambda: self.soa_ok(self.bind_port, "fo.ttf.test."), 20, 0.1):
            raise RuntimeError("BIND never answered:\n" + self.w.read_log(f"{self.tag}-named"))
        for obs in OBSERVERS:
            self.start_proc(obs, [self.args.failoverd, "--config", self.p(obs + ".toml")])

    def ctl(self, obs, *args):
        r = subprocess.run([self.args.failoverctl, "--admin",
                            f"127.0.0.1:{self.admin_port[obs]}", "--json", *args],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, FAILOVERD_TOKEN=TOKEN))
        return json.loads(r.stdout) if r.returncode == 0 else None

    def failoverd_both_up(self):
        for obs in OBSERVERS:
            why = self.ctl(obs, "why", "www")
            if not why:
                return False
            if any(r["confirmed"] != "up" for r in why["regions"]):
                return False
        return True

    @staticmethod
    def soa_ok(port, zone):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.5)
                qid, q = dns_query(zone)
                q = q[:-4] + struct.pack("!HH", 6, 1)
                sock.sendto(q, ("127.0.0.1", port))
                msg = sock.recv(4096)
                return len(msg) >= 12 and struct.unpack("!H", msg[:2])[0] == qid and \
                    msg[3] & 0xF == 0 and struct.unpack("!H", msg[6:8])[0] >= 1
        except OSError:
            return False

    # PowerDNS -------------------------------------------------------------------------------
    def start_pdns(self):
        s = self.s
        d = self.p("pdns")
        os.mkdir(d)
        self.pdns_port = free_port_both()
        db = os.path.join(d, "pdns.db")
        with open("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql") as f:
            schema = f.read()
        con = sqlite3.connect(db)
        con.executescript(schema)
        con.execute("INSERT INTO domains (id, name, type) VALUES (1, 'pdns.ttf.test', 'NATIVE')")
        lua = (f"A \"ifurlup('http://www.pdns.ttf.test:{self.w.web_port}/health', "
               f"{{{{'{PRIMARY}'}}, {{'{STANDBY}'}}}}, {{timeout='{s.pdns_timeout}'}})\"")
        rows = [
            ("pdns.ttf.test", "SOA", "ns.pdns.ttf.test. hostmaster.pdns.ttf.test. 1 60 60 3600 5"),
            ("pdns.ttf.test", "NS", "ns.pdns.ttf.test."),
            ("ns.pdns.ttf.test", "A", "127.0.0.1"),
            ("www.pdns.ttf.test", "LUA", lua),
        ]
        con.executemany("INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled, "
                        "auth) VALUES (1, ?, ?, ?, 5, 0, 0, 1)", rows)
        con.commit()
        con.close()
        open(os.path.join(d, "pdns.conf"), "w").close()
        self.pdns_flags = [
            f"--config-dir={d}", f"--socket-dir={d}", "--guardian=no", "--daemon=no",
            "--disable-syslog=yes", "--write-pid=no", "--launch=gsqlite3",
            f"--gsqlite3-database={db}", "--local-address=127.0.0.1",
            f"--local-port={self.pdns_port}", "--enable-lua-records=yes",
            f"--lua-health-checks-interval={s.pdns_interval}",
            "--lua-health-checks-expire-delay=3600",
            "--cache-ttl=0", "--query-cache-ttl=0", "--negquery-cache-ttl=0",
            "--zone-cache-refresh-interval=0", "--loglevel=6",
        ]
        self.start_proc("pdns", ["/usr/sbin/pdns_server", *self.pdns_flags])

    # gdnsd ----------------------------------------------------------------------------------
    def start_gdnsd(self):
        s = self.s
        d = self.p("gdnsd")
        os.makedirs(os.path.join(d, "zones"))
        self.gdnsd_port = free_port_both()
        with open(os.path.join(d, "config"), "w") as f:
            f.write(f"""options => {{
  listen => [ 127.0.0.1:{self.gdnsd_port} ]
  run_dir => {d}/run
  state_dir => {d}/state
  zones_rfc1035_auto => false
}}
service_types => {{
  ttf_http => {{
    plugin => http_status
    port => {self.w.web_port}
    url_path => /health
    vhost => www.gdnsd.ttf.test
    ok_codes => [ 200 ]
    interval => {s.gd_interval}
    timeout => {s.gd_timeout}
    down_thresh => {s.gd_down_thresh}
    ok_thresh => {s.gd_ok_thresh}
    up_thresh => {s.gd_up_thresh}
  }}
}}
plugins => {{
  simplefo => {{
    www => {{
      service_types => [ ttf_http ]
      primary => {PRIMARY}
      secondary => {STANDBY}
    }}
  }}
}}
""")
        with open(os.path.join(d, "zones", "gdnsd.ttf.test"), "w") as f:
            f.write("""$TTL 5
@ SOA ns.gdnsd.ttf.test. hostmaster.gdnsd.ttf.test. 1 60 60 3600 5
@ NS ns.gdnsd.ttf.test.
ns A 127.0.0.1
www 5/5 DYNA simplefo!www
""")
        check = subprocess.run(["/usr/sbin/gdnsd", "-c", d, "checkconf"], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"gdnsd checkconf:\n{check.stdout}{check.stderr}")
        self.gdnsd_dir = d
        self.start_proc("gdnsd", ["/usr/sbin/gdnsd", "-c", d, "start"])

    # readiness ------------------------------------------------------------------------------
    def wait_ready(self):
        deadline = 60
        ok = wait_until(self.failoverd_both_up, deadline, 0.2)
        if not ok:
            self.w.check_alive()
            raise RuntimeError("failoverd never confirmed both regions up:\n" +
                               json.dumps(self.ctl("obs-a", "why", "www")) + "\n" +
                               self.w.read_log(f"{self.tag}-obs-a"))
        self.wait_all((PRIMARY,), deadline, "answer the primary at start")

    def wait_all(self, wanted, timeout, what):
        ok = wait_until(lambda: all(p.answer() == wanted for p in self.pollers.values()),
                        timeout, 0.02)
        if not ok:
            self.w.check_alive()
            state = {n: p.answer() for n, p in self.pollers.items()}
            raise RuntimeError(f"not every system did {what} within {timeout:.0f} s: {state}")

    def bound(self):
        """How long any system may take to fail over before it counts as never: several times
        the slowest system's detection time, plus slack for a loaded machine."""
        s = self.s
        slowest = max(s.fall * (s.fo_interval + s.fo_timeout),
                      s.pdns_fall * (s.pdns_interval + s.pdns_timeout),
                      s.gd_down_thresh * (s.gd_interval + s.gd_timeout))
        return 3 * slowest + 10


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


def run_case(world, systems, failure, runs, rng):
    """`runs` faults of one kind; returns {system: [switch s]}, {system: [failback s]}."""
    s = systems.s
    switch = {n: [] for n in SYSTEMS}
    back = {n: [] for n in SYSTEMS}
    bound = systems.bound()
    back_bound = bound + s.fo_hold_down + s.fo_failback_delay + 30
    for i in range(runs):
        systems.wait_all((PRIMARY,), back_bound, "answer the primary before a run")
        # failoverd holds every flip for hold_down; start after it, at a random phase.
        time.sleep(s.fo_hold_down + rng.uniform(0, max(s.gd_interval, s.pdns_interval)))
        t0 = world.fault(failure)
        wait_until(lambda: all(p.answer() == (STANDBY,) for p in systems.pollers.values()),
                   bound, 0.02)
        got = {n: systems.pollers[n].first_since(t0, (STANDBY,)) for n in SYSTEMS}
        for n in SYSTEMS:
            switch[n].append(None if got[n] is None else got[n] - t0)
        t1 = world.heal()
        ok = wait_until(lambda: all(p.answer() == (PRIMARY,) for p in systems.pollers.values()),
                        back_bound, 0.02)
        for n in SYSTEMS:
            tb = systems.pollers[n].first_since(t1, (PRIMARY,))
            back[n].append(None if tb is None else tb - t1)
        line = "  ".join(
            f"{n} {'never' if switch[n][-1] is None else f'{switch[n][-1] * 1000:.0f}ms'}"
            f"/{'never' if back[n][-1] is None else f'{back[n][-1] * 1000:.0f}ms'}"
            for n in SYSTEMS)
        log(f"{failure} @ {fmt_duration(s.interval)} run {i + 1}/{runs}: switch/failback {line}")
        if not ok:
            world.check_alive()
            raise RuntimeError(f"a system never failed back within {back_bound:.0f} s: " +
                               str({n: p.answer() for n, p in systems.pollers.items()}))
    return switch, back


def run_flap(world, systems, seconds, down, up):
    """The primary refuses for `down` s, then serves for `up` s, for `seconds`; returns each
    system's answer changes from the first fault until all answer the primary again."""
    s = systems.s
    systems.wait_all((PRIMARY,), 120, "answer the primary before the flap test")
    time.sleep(s.fo_hold_down)
    start = time.monotonic()
    cycles = 0
    while time.monotonic() - start < seconds:
        world.fault("refuse")
        time.sleep(down)
        world.heal()
        cycles += 1
        time.sleep(up)
    ok = wait_until(lambda: all(p.answer() == (PRIMARY,) for p in systems.pollers.values()),
                    systems.bound() + s.fo_hold_down + s.fo_failback_delay + 30, 0.02)
    end = time.monotonic()
    if not ok:
        raise RuntimeError("a system never came back to the primary after the flap test")
    return cycles, {n: systems.pollers[n].changes_between(start, end) for n in SYSTEMS}, end - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    default_build = os.path.join(here, "..", "..", "build", "release", "daemon")
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
    ap.add_argument("--keep-logs", default=None, help="copy the world's logs under this dir")
    args = ap.parse_args()

    intervals = [parse_duration(x) for x in args.intervals.split(",") if x.strip()]
    failures = [x.strip() for x in args.failures.split(",") if x.strip()]
    for f in failures:
        if f not in ("refuse", "drop"):
            ap.error(f"unknown failure {f!r}: refuse or drop")
    if os.geteuid() != 0:
        print("ttf_bench: needs root (nftables rules for the faults): skipped", file=sys.stderr)
        return 77
    for tool in ("/usr/sbin/nginx", "/usr/sbin/named", "/usr/sbin/pdns_server",
                 "/usr/sbin/gdnsd", "/usr/sbin/nft", args.failoverd, args.failoverctl):
        if not os.access(tool, os.X_OK):
            print(f"ttf_bench: {tool} is missing (packaging/install-deps.sh installs the servers)",
                  file=sys.stderr)
            return 1
    rng = random.Random(args.seed)

    world = World(args)
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    results = []  # (settings, failure, switch, back)
    flaps = []    # (settings, cycles, changes, seconds)
    failed = False
    try:
        world.nft_setup()
        world.make_certs()
        world.start_regions()
        for k, interval in enumerate(intervals):
            settings = Settings(interval, args)
            systems = Systems(world, settings, args, f"i{k}")
            log(f"starting the systems for interval {fmt_duration(interval)}")
            try:
                systems.start()
                for failure in failures:
                    switch, back = run_case(world, systems, failure, args.runs, rng)
                    results.append((settings, failure, switch, back))
                    if any(x is None for v in switch.values() for x in v):
                        failed = True
                if args.flap_seconds > 0:
                    cycles, changes, secs = run_flap(world, systems, args.flap_seconds,
                                                     args.flap_down, args.flap_up)
                    flaps.append((settings, cycles, changes, secs))
                empties = {n: p.empty for n, p in systems.pollers.items()}
                queries = {n: p.queries for n, p in systems.pollers.items()}
                fence = subprocess.run(["dig", "+short", "@127.0.0.1", "-p",
                                        str(systems.bind_port), "_failoverd.www.fo.ttf.test.",
                                        "TXT"], capture_output=True, text=True, timeout=10)
                settings.empties, settings.queries = empties, queries
                settings.fence = fence.stdout.strip()
            finally:
                if world.fault_on:
                    world.heal()
                systems.stop()
    except KeyboardInterrupt:
        log("interrupted")
        failed = True
    except Exception as e:  # report what was measured so far, then fail
        log(f"error: {e}")
        failed = True
    finally:
        world.close()

    report(results, flaps, args)
    return 1 if failed else 0


def report(results, flaps, args):
    out = []
    out.append("")
    out.append("# Time to failover, loopback, measured in one run")
    out.append(f"runs per case: {args.runs}; fault at t=0 (just before `nft` adds the rule); "
               "switch = first authoritative answer holding only the standby (UDP poll every "
               "10 ms); failback = from the heal to the first answer holding only the primary")
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
                   f"changes until all answer the primary again ({secs:.1f} s)")
        out.append("")
        out.append("| system | answer changes |")
        out.append("| --- | --- |")
        for n in SYSTEMS:
            out.append(f"| {n} | {changes[n]} |")
    for s in seen:
        if hasattr(s, "empties"):
            out.append("")
            out.append(f"interval {fmt_duration(s.interval)}: empty answers seen "
                       f"{s.empties} of {s.queries} queries; failoverd fence at the end: "
                       f"{s.fence}")
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
