#!/usr/bin/env python3
"""Daemon benchmark: the real failoverd with N HTTP endpoints, steady and SIGHUP'd.

World (all on 127.0.0.1): a private nginx answering GET /e/<n> with 200 and logging every
request's time ($msec) and path; failoverd with N endpoints in R regions (path /e/<n> each,
interval 1 s or --interval), one priority service over the first two regions with an exec target
(/bin/true), and the admin API for /readyz and /metrics. First a baseline: failoverd with the same
config shape but no endpoints (or one per region when that does not load), its RSS after it is
ready, one /metrics scrape and a few seconds. Then failoverd at N: after the first full probe round
it scrapes /metrics a few times (timed), measures a steady window, then sends SIGHUP K times (each a
real change: admin.rate_limit_per_second toggles), one every few seconds.

Printed: the steady state (probes/s done against due, failoverd's CPU µs per probe, RSS at N and
at the baseline, and RSS per endpoint as the budget counts it: (RSS at N - RSS at the baseline) / N
more endpoints, metric series and allocator slack included), the /metrics scrape time (median and
max, budget 50 ms at 10,000), then per reload and summarised:
  reload time   from SIGHUP sent to failoverd's "configuration reloaded" log line (its own
                timestamps: "reloading configuration" .. "configuration reloaded" shown too)
  probe gap     the longest time between two consecutive requests for one endpoint's path in
                nginx's log, over the endpoints probed within 3 s of the reload, next to the
                longest gap in steady state (the same measure away from any reload); one
                interval plus jitter is the floor, anything longer is a probe lost to the reload
The budget (README "Performance"): reload <= 200 ms at 10,000 endpoints, no probe gap longer
than one interval (+ the scheduler's 5 % jitter), <= 4 KiB RSS per endpoint at 10,000 and 50,000
(50,000 at --interval 5s: the same 10,000 probes/s). Not a timed test: it prints, and exits 1 only
when failoverd never became ready or never finished a reload within 30 s.
No peer is measured here: HAProxy's reload (a new worker re-resolving and re-checking every
server) is not set up by this program yet.

usage: daemon_bench.py FAILOVERD [--endpoints 10000] [--regions 10] [--interval 1s] [--reloads 5]
                       [--steady-seconds 10] [--scrapes 5] [--keep-log FILE]
Talks only to 127.0.0.1. Every wait is bounded. Stops only the processes it started, by PID.
"""
import argparse
import calendar
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
from lab import wait_until  # noqa: E402  (predicate, timeout, step): the value, or None/False

NGINX = "/usr/sbin/nginx"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def nginx_conf(d, port):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
  log_format t '$msec $uri';
  access_log {d}/access.log t buffer=256k flush=1s;
  keepalive_timeout 5;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location /e/ {{ return 200 "ok\\n"; }}
  }}
}}
"""


def failoverd_conf(d, admin_port, web_port, endpoints, regions, rate_limit, interval="1s"):
    out = [f"""[observer]
id = "bench"
state_dir = "{d}/state"

[admin]
listen = "127.0.0.1:{admin_port}"
rate_limit_per_second = {rate_limit}

[probe_defaults]
interval = "{interval}"
timeout = "500ms"
rise = 2
fall = 3
"""]
    per = endpoints // regions
    n = 0
    for r in range(regions):
        out.append(f"[regions.r{r}]\n")
        count = per if r < regions - 1 else endpoints - per * (regions - 1)
        for _ in range(count):
            out.append(f'[[regions.r{r}.endpoints]]\nname = "e{n}"\nkind = "http"\n'
                       f'url = "http://127.0.0.1:{web_port}/e/{n}"\n')
            n += 1
    out.append("""[services.www]
policy = "priority"
regions = ["r0", "r1"]
failback = "manual"

[services.www.publish]
r0 = ["192.0.2.1"]
r1 = ["192.0.2.2"]

[services.www.target]
kind = "exec"
argv = ["/bin/true"]
""")
    return "".join(out)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def log_ms(line):
    """failoverd's own timestamp of a log line (logfmt ts=...Z), ms since the epoch."""
    m = re.search(r"\bts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z", line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000 + int(m.group(2))


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read()


def ready(port):
    try:
        return http_get(port, "/readyz", 1)[0] == 200
    except OSError:
        return False


def start_failoverd(binary, config, log, admin_port, log_path):
    """failoverd on `config`, waited for until /readyz (the first full probe round): (proc, s)."""
    started = time.monotonic()
    daemon = subprocess.Popen([binary, "--config", config], stdout=log, stderr=subprocess.STDOUT)
    if not wait_until(lambda: ready(admin_port), 60, 0.1):
        print("daemon_bench: failoverd never became ready", file=sys.stderr)
        with open(log_path) as f:
            print(f.read()[-3000:], file=sys.stderr)
        stop(daemon)
        return None, None
    return daemon, time.monotonic() - started


def scrape_times(port, count):
    """Seconds each of `count` GET /metrics took, and the last body's size in bytes."""
    took, size = [], 0
    for _ in range(count):
        t = time.monotonic()
        size = len(http_get(port, "/metrics", 10)[1])
        took.append(time.monotonic() - t)
    return took, size


def baseline(args, d, web_port, interval):
    """RSS (KiB) of failoverd with the config's shape and the fewest endpoints that load (none,
    else one per region), after it is ready, one /metrics scrape and a few seconds: (KiB, count)."""
    admin_port = free_port()
    config = os.path.join(d, "baseline.toml")
    for count in (0, args.regions):
        with open(config, "w") as f:
            f.write(failoverd_conf(d, admin_port, web_port, count, args.regions, 50, interval))
        check = subprocess.run([args.failoverd, "--check-config", config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check.returncode == 0:
            break
    else:
        print("daemon_bench: no baseline config loads", file=sys.stderr)
        return None, None
    log_path = os.path.join(d, "baseline.log")
    with open(log_path, "w") as log:
        daemon, _ = start_failoverd(args.failoverd, config, log, admin_port, log_path)
        if not daemon:
            return None, None
        try:
            scrape_times(admin_port, 1)
            time.sleep(3)
            return rss(daemon.pid), count
        finally:
            stop(daemon)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("failoverd")
    ap.add_argument("--endpoints", type=int, default=10000)
    ap.add_argument("--regions", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0, help="probe interval, seconds")
    ap.add_argument("--reloads", type=int, default=5)
    ap.add_argument("--keep-log", help="copy failoverd's log here")
    ap.add_argument("--steady-seconds", type=float, default=10.0)
    ap.add_argument("--scrapes", type=int, default=5, help="timed GET /metrics at N endpoints")
    args = ap.parse_args()
    if not os.path.exists(NGINX):
        print("daemon_bench: nginx not installed (packaging/install-deps.sh)", file=sys.stderr)
        return 1
    interval = f"{round(args.interval * 1000)}ms"
    with tempfile.TemporaryDirectory(prefix="failoverd-reload-bench-") as d:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.mkdir(os.path.join(d, sub))
        web_port, admin_port = free_port(), free_port()
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(nginx_conf(d, web_port))
        nginx = subprocess.Popen([NGINX, "-c", os.path.join(d, "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = os.path.join(d, "failoverd.toml")
        levels = [50, 51]  # admin.rate_limit_per_second: each reload a real change
        with open(config, "w") as f:
            f.write(failoverd_conf(d, admin_port, web_port, args.endpoints, args.regions, levels[0],
                                   interval))
        log_path = os.path.join(d, "failoverd.log")
        log = open(log_path, "w")
        daemon = None
        try:
            def listening():
                try:
                    socket.create_connection(("127.0.0.1", web_port), 1).close()
                    return True
                except OSError:
                    return False
            if not wait_until(listening, 10):
                print("daemon_bench: nginx did not start", file=sys.stderr)
                return 1
            base_kib, base_count = baseline(args, d, web_port, interval)
            if base_kib is None:
                return 1
            daemon, took = start_failoverd(args.failoverd, config, log, admin_port, log_path)
            if not daemon:
                return 1
            print(f"endpoints {args.endpoints} in {args.regions} regions, interval {interval}; "
                  f"ready (first full round) after {took:.2f}s")
            time.sleep(2)
            scrapes, scrape_bytes = scrape_times(admin_port, args.scrapes)
            # Steady state: failoverd's CPU time (utime + stime) over a window, against the
            # probes nginx logged in it.
            cpu0, wall0 = cpu_seconds(daemon.pid), time.time()
            time.sleep(args.steady_seconds)
            cpu1, wall1 = cpu_seconds(daemon.pid), time.time()
            rss_kib = rss(daemon.pid)
            reloads = []  # (wall time sent, seconds to "configuration reloaded", own ms)
            for i in range(args.reloads):
                with open(config, "w") as f:
                    f.write(failoverd_conf(d, admin_port, web_port, args.endpoints, args.regions,
                                           levels[(i + 1) % 2], interval))
                with open(log_path) as f:
                    done_before = f.read().count("configuration reloaded")
                sent_wall, sent = time.time(), time.monotonic()
                daemon.send_signal(signal.SIGHUP)

                def reloaded():
                    with open(log_path) as f:
                        text = f.read()
                    return text if text.count("configuration reloaded") > done_before else None
                text = wait_until(reloaded, 30, 0.002)
                if not text:
                    print("daemon_bench: a reload did not finish within 30 s", file=sys.stderr)
                    with open(log_path) as f:
                        print(f.read()[-3000:], file=sys.stderr)
                    return 1
                took = time.monotonic() - sent
                lines = text.splitlines()
                begin = [log_ms(x) for x in lines if "reloading configuration" in x][-1]
                end = [log_ms(x) for x in lines if "configuration reloaded" in x][-1]
                own = (end - begin) if begin is not None and end is not None else None
                reloads.append((sent_wall, took, own))
                time.sleep(4)
            time.sleep(1.5)  # nginx flushes its log buffer every second
        finally:
            if daemon:
                stop(daemon)
            stop(nginx)
            log.close()
            if args.keep_log:
                shutil.copyfile(log_path, args.keep_log)
        times = {}
        with open(os.path.join(d, "access.log")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].startswith("/e/"):
                    times.setdefault(parts[1], []).append(float(parts[0]))
        near, steady = 0.0, 0.0
        near_at = None
        for path, ts in times.items():
            ts.sort()
            for a, b in zip(ts, ts[1:]):
                gap = b - a
                close = any(a - 3 <= sent <= b + 3 for sent, _, _ in reloads)
                if close:
                    if gap > near:
                        near, near_at = gap, (path, a, b)
                elif a > (reloads[0][0] if reloads else wall1) - 5:  # steady: the rounds settled
                    steady = max(steady, gap)
        steady_probes = sum(1 for ts in times.values() for t in ts if wall0 <= t < wall1)
        span = wall1 - wall0
        print(f"steady state over {span:.1f}s: {steady_probes / span:.0f} probes/s done of "
              f"{args.endpoints / args.interval:.0f} due, "
              f"{(cpu1 - cpu0) / max(steady_probes, 1) * 1e6:.1f} CPU us/probe "
              f"(failoverd, whole process)")
        per = (rss_kib - base_kib) * 1024 / max(args.endpoints - base_count, 1)
        print(f"RSS {rss_kib / 1024:.1f} MiB at {args.endpoints} endpoints, "
              f"{base_kib / 1024:.1f} MiB at {base_count}: {per:.0f} B per endpoint "
              f"(budget 4096 B; {rss_kib * 1024 / args.endpoints:.0f} B with the base included)")
        scrapes.sort()
        print(f"/metrics scrape: median {statistics.median(scrapes) * 1000:.1f} ms, "
              f"max {scrapes[-1] * 1000:.1f} ms of {len(scrapes)} ({scrape_bytes / 1e6:.1f} MB; "
              f"budget 50 ms at 10,000)")
        print(f"{'reload':>6} {'SIGHUP->reloaded ms':>20} {'failoverd own ms':>17}")
        for i, (_, took, own) in enumerate(reloads):
            print(f"{i + 1:>6} {took * 1000:>20.1f} {own if own is not None else float('nan'):>17.0f}")
        tooks = sorted(t for _, t, _ in reloads)
        if tooks:
            print(f"reload time: median {statistics.median(tooks) * 1000:.1f} ms, "
                  f"max {tooks[-1] * 1000:.1f} ms (budget 200 ms)")
        print(f"longest probe gap of one endpoint: {near * 1000:.0f} ms across a reload, "
              f"{steady * 1000:.0f} ms in steady state (interval {interval}, jitter 5 %)")
        if near_at:
            path, a, b = near_at
            sent = min((r[0] for r in reloads), key=lambda t: abs(t - a))
            print(f"  the longest across a reload: {path}, {a - sent:+.3f}s to {b - sent:+.3f}s "
                  f"from the SIGHUP")
        print(f"requests logged: {sum(len(v) for v in times.values())} "
              f"for {len(times)} endpoints; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
