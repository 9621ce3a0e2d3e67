#!/usr/bin/env python3
"""Peer exchange benchmark: N real failoverd observers on 127.0.0.1 exchanging verdicts.

World: a throwaway CA made here with the openssl CLI and one certificate per observer (SAN
DNS:obs-<i>); N failoverd processes, each with every other one as a peer, cluster
exchange_interval 200 ms (the default here), a handful of tcp endpoints on a local listener
(accepted and closed by this program), and the admin listener for /readyz. Once every observer
is ready (it has heard its peers) and a short warm-up has passed, it measures for --seconds:

  CPU      each observer's user+system time from /proc/PID/stat over the window, as % of one core
  conns    TCP connections the observers' cluster listeners accepted during the window (each one
           a TLS handshake), summed over the cluster and per exchange interval: the kernel's
           PassiveOpens counter (/proc/net/snmp) less the endpoint listener's own accepts. So
           that no other process's connections count, the whole run is in a network namespace
           of its own (unshare -rn, loopback only) when the machine allows it; otherwise it says
           so and the count is an upper bound

The budget (README "Performance"): <= 2 % of one core per observer at 5 observers. Not a timed
test: it prints, and exits 1 only when an observer failed to start, exited, or never became ready.
Several binaries can be given (NAME=PATH), e.g. main's and this branch's, to print them side by
side; every size runs each binary in turn.

usage: peer_bench.py [NAME=]FAILOVERD [[NAME=]FAILOVERD ...] [--observers 3,5,7]
                     [--seconds 20] [--interval 200ms] [--endpoints 4] [--warmup 3]
Talks only to 127.0.0.1. Every wait is bounded. Stops only the processes it started, by PID.
"""
import argparse
import shutil
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")
_handed_out = set()


def free_port():
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def wait_until(predicate, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, names):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=peer bench CA",
            cwd=d)
    for name in names:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
                cwd=d)
        os.chmod(os.path.join(d, name + ".key"), 0o600)


class Sink:
    """A TCP listener on 127.0.0.1 that accepts and closes: the endpoints' target."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.accepts = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
                self.accepts += 1
                conn.close()
            except (socket.timeout, OSError):
                continue

    def close(self):
        self.stopped = True
        self.thread.join(timeout=5)
        self.sock.close()


def config_text(d, name, names, cluster_port, admin_port, interval, endpoints, sink_port):
    peers = "".join(f'\n[[cluster.peers]]\nid = "{p}"\naddress = "127.0.0.1:{cluster_port[p]}"\n'
                    for p in names if p != name)
    regions = ""
    for r in ("east", "west"):
        regions += f"\n[regions.{r}]\n"
        for i in range(endpoints // 2 if r == "east" else endpoints - endpoints // 2):
            regions += (f'[[regions.{r}.endpoints]]\nname = "{r}-{i}"\nkind = "tcp"\n'
                        f'address = "127.0.0.1:{sink_port}"\n')
    return f"""
[observer]
id = "{name}"
state_dir = "{d}/{name}"
log_level = "warning"

[admin]
listen = "127.0.0.1:{admin_port[name]}"

[cluster]
listen = "127.0.0.1:{cluster_port[name]}"
exchange_interval = "{interval}"
verdict_ttl = "5s"
ca_file = "{d}/ca.crt"
cert_file = "{d}/{name}.crt"
key_file = "{d}/{name}.key"
{peers}
[probe_defaults]
interval = "1s"
timeout = "500ms"
{regions}"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def passive_opens():
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Tcp:")]
    return int(lines[1][lines[0].index("PassiveOpens")])


def connections(ports):
    """Connections touching one of `ports` as the server side, as (server port, client ip:port)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, state = parts[1], parts[2], parts[3]
            if state == "0A":  # LISTEN
                continue
            lport = int(local.rsplit(":", 1)[1], 16)
            rport = int(remote.rsplit(":", 1)[1], 16)
            if lport in ports:
                out.add((lport, remote))
            elif rport in ports:
                out.add((rport, local))
    return out


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run(binary, n, args, sink):
    """One cluster of n observers of `binary`: (per-observer CPU %, new connections) or an error."""
    names = [f"obs-{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="failoverd-peer-bench-") as d:
        make_pki(d, names)
        cluster_port = {o: free_port() for o in names}
        admin_port = {o: free_port() for o in names}
        procs = {}
        try:
            for o in names:
                os.mkdir(os.path.join(d, o))
                path = os.path.join(d, o + ".toml")
                with open(path, "w") as f:
                    f.write(config_text(d, o, names, cluster_port, admin_port, args.interval,
                                        args.endpoints, sink.port))
                log = open(os.path.join(d, o + ".log"), "w")
                procs[o] = subprocess.Popen([binary, "--config", path], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                log.close()
            def up():
                if any(p.poll() is not None for p in procs.values()):
                    return "exited"
                return all(ready(admin_port[o]) for o in names)

            if wait_until(up, 30, 0.2) is not True:
                dead = [o for o in names if procs[o].poll() is not None]
                with open(os.path.join(d, names[0] + ".log")) as f:
                    tail = f.read()[-2000:]
                return None, f"not ready within 30 s (exited: {dead}); {names[0]}'s log:\n{tail}"
            time.sleep(args.warmup)
            ports = set(cluster_port.values())
            before = connections(ports)
            seen = set(before)
            opens, sunk = passive_opens(), sink.accepts
            start_cpu = {o: cpu_ticks(procs[o].pid) for o in names}
            started = time.monotonic()
            while time.monotonic() - started < args.seconds:
                time.sleep(0.5)
                seen |= connections(ports)
            elapsed = time.monotonic() - started
            end_cpu = {o: cpu_ticks(procs[o].pid) for o in names}
            opens, sunk = passive_opens() - opens, sink.accepts - sunk
            seen |= connections(ports)
            dead = [o for o in names if procs[o].poll() is not None]
            if dead:
                return None, f"observers exited during the window: {dead}"
            cpu = [100.0 * (end_cpu[o] - start_cpu[o]) / TICKS / elapsed for o in names]
            # The sampled set is a lower bound (a connection reset within 0.5 s is never seen).
            return (cpu, max(opens - sunk, len(seen - before)), elapsed), None
        finally:
            for p in procs.values():
                stop(p)


def parse_ms(text):
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


def in_own_netns():
    """Re-runs this program in a new user+network namespace with loopback up, if it can."""
    if os.environ.get("PEER_BENCH_NETNS") or not shutil.which("unshare") or not shutil.which("ip"):
        return None
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None
    env = {**os.environ, "PEER_BENCH_NETNS": "1"}
    cmd = 'ip link set lo up && exec "$0" "$@"'
    return subprocess.run(["unshare", "-rn", "sh", "-c", cmd, sys.executable,
                           os.path.abspath(__file__), *sys.argv[1:]], env=env).returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+", help="[NAME=]PATH of a failoverd binary")
    ap.add_argument("--observers", default="3,5,7")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", default="200ms", help="cluster exchange_interval")
    ap.add_argument("--endpoints", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--no-netns", action="store_true", help="stay in this network namespace")
    args = ap.parse_args()
    if not args.no_netns:
        code = in_own_netns()
        if code is not None:
            return code
    own = bool(os.environ.get("PEER_BENCH_NETNS"))
    binaries = []
    for b in args.binaries:
        name, _, path = b.rpartition("=")
        binaries.append((name or os.path.basename(os.path.dirname(os.path.abspath(path))) or path,
                         path))
    sizes = [int(x) for x in args.observers.split(",")]
    interval = parse_ms(args.interval)
    load = os.getloadavg()
    print(f"peer exchange bench: exchange_interval {args.interval}, {args.endpoints} tcp endpoints "
          f"(probe interval 1 s), window {args.seconds:g} s after {args.warmup:g} s warm-up; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs; "
          + ("own network namespace" if own else
             "host network namespace: conns may include other processes' connections"))
    print(f"{'binary':<10} {'obs':>4} {'CPU% of a core per observer (mean, max)':>40} "
          f"{'new conns':>10} {'per interval':>13} {'fetches/interval':>17}")
    sink = Sink()
    failed = False
    try:
        for n in sizes:
            for name, path in binaries:
                result, error = run(path, n, args, sink)
                if error:
                    print(f"{name:<10} {n:>4} FAILED: {error}")
                    failed = True
                    continue
                cpu, conns, elapsed = result
                intervals = elapsed / interval
                print(f"{name:<10} {n:>4} {sum(cpu) / n:>31.2f} {max(cpu):>8.2f} {conns:>10} "
                      f"{conns / intervals:>13.2f} {n * (n - 1):>17}", flush=True)
    finally:
        sink.close()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
