// The probe benchmark: failoverd's Scheduler+Prober vs HAProxy 2.6 health checks vs a minimal
// epoll client (the floor), all probing the same private nginx on loopback, in the same run.
//
//   failoverd_probe_bench --endpoints 10000 --seconds 10 --interval-ms 1000 --mode both
//
// For each mode (http: fresh connection + GET + read header + RST; tcp: half-open connect + RST)
// it prints, per prober: probes/s, CPU µs per probe (user+sys of the probing process over the
// measured window, which starts one interval after start so the spread-out first round is not
// counted), user µs per probe, RSS per endpoint (RSS with N endpoints minus RSS with 0, / N) and
// p99 scheduling lateness. Each prober runs alone (separate process, sequentially) so they do not
// compete for the two cores; nginx is shared. Timing figures are printed, never asserted.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#pragma GCC diagnostic pop
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "floor_client.h"
#include "nginx.h"
#include "probe/scheduler.h"
#include "support/test_ca.h"

using namespace failoverd;
using namespace std::chrono_literals;
using failoverd::testing::Nginx;
using failoverd::testing::NginxOptions;
using failoverd::testing::TempDir;

namespace {

struct Args {
  int endpoints = 1000;
  int seconds = 10;
  int interval_ms = 1000;
  std::string mode = "both";
  bool haproxy = true;
  bool floor = true;
};

struct Row {
  std::string who;
  double probes_per_s = 0;
  double cpu_us = 0;
  double user_us = 0;
  double rss_per_endpoint = -1;  // bytes
  double p99_lateness_ms = -1;
  double ok_fraction = -1;
  std::string note;
};

// What a child process reports back through a pipe.
struct ChildReport {
  std::uint64_t probes = 0;
  std::uint64_t ok = 0;
  std::uint64_t cpu_us = 0;
  std::uint64_t user_us = 0;
  std::uint64_t rss_kib = 0;
  std::int64_t p99_lateness_us = 0;
};

std::uint64_t tv_us(const timeval& tv) {
  return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(tv.tv_usec);
}

std::uint64_t self_rss_kib() { return failoverd::testing::process_rss_kib(::getpid()); }

template <typename F>
ChildReport in_child(F f) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ChildReport r = f();
    ssize_t w = ::write(fds[1], &r, sizeof r);
    ::_exit(w == sizeof r ? 0 : 1);
  }
  ::close(fds[1]);
  ChildReport r;
  ssize_t got = ::read(fds[0], &r, sizeof r);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  if (got != sizeof r) std::fprintf(stderr, "child failed\n");
  return r;
}

std::vector<config::Endpoint> make_endpoints(bool http, std::uint16_t port, int n,
                                             std::chrono::milliseconds interval) {
  std::vector<config::Endpoint> eps;
  eps.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    config::Endpoint ep;
    ep.name = core::EndpointId("e" + std::to_string(i));
    ep.interval = interval;
    ep.timeout = 2s;
    if (http) {
      ep.kind = config::ProbeKind::Http;
      ep.http.url = "http://127.0.0.1:" + std::to_string(port) + "/e" + std::to_string(i);
    } else {
      ep.kind = config::ProbeKind::Tcp;
      ep.tcp.address = {"127.0.0.1", port};
    }
    eps.push_back(std::move(ep));
  }
  return eps;
}

ChildReport run_failoverd(bool http, std::uint16_t port, int n, std::chrono::milliseconds interval,
                          std::chrono::milliseconds window) {
  // The daemon runs one single-threaded loop: no locking inside Asio (see the report).
  boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
  std::uint64_t probes = 0, ok = 0;
  bool measuring = false;
  {
    // The endpoints exist as config (as in the daemon) for the whole run.
    auto eps = make_endpoints(http, port, n, interval);
    probe::SchedulerOptions opts;
    probe::Scheduler sched(io, eps, opts, [&](const probe::ProbeResult& r) {
      if (!measuring) return;
      ++probes;
      if (r.outcome.ok()) ++ok;
    });
    sched.start();
    io.run_for(interval);  // the first, spread-out round
    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    sched.reset_lateness();
    measuring = true;
    io.run_for(window);
    rusage ru1{};
    getrusage(RUSAGE_SELF, &ru1);
    ChildReport r;
    r.probes = probes;
    r.ok = ok;
    r.user_us = tv_us(ru1.ru_utime) - tv_us(ru0.ru_utime);
    r.cpu_us = r.user_us + tv_us(ru1.ru_stime) - tv_us(ru0.ru_stime);
    r.rss_kib = self_rss_kib();
    r.p99_lateness_us =
        std::chrono::duration_cast<std::chrono::microseconds>(sched.lateness().p99).count();
    sched.stop();
    return r;
  }
}

// HAProxy 2.6 with N servers checked every `interval`, one thread.
struct HaproxyRun {
  std::uint64_t cpu_us = 0;
  std::uint64_t rss_kib = 0;
  std::uint64_t nginx_requests = 0;
};

HaproxyRun run_haproxy(const std::string& dir, bool http, std::uint16_t port, int n,
                       std::chrono::milliseconds interval, std::chrono::milliseconds window,
                       const Nginx& nginx) {
  std::string conf = dir + "/haproxy-" + std::to_string(n) + ".cfg";
  {
    std::ofstream c(conf);
    c << "global\n  nbthread 1\n  maxconn 4000\n  log stderr local0 emerg\n"
      << "defaults\n  mode " << (http ? "http" : "tcp")
      << "\n  timeout connect 2s\n  timeout check 2s\n  timeout client 5s\n  timeout server 5s\n"
      << "frontend fe\n  bind 127.0.0.1:" << failoverd::testing::free_port()
      << "\n  default_backend checked\n"
      << "backend checked\n";
    if (http) c << "  option httpchk GET /health\n";
    for (int i = 0; i < n; ++i) {
      c << "  server s" << i << " 127.0.0.1:" << port << " check inter " << interval.count()
        << "\n";
    }
  }
  std::string out = dir + "/haproxy.out";
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen(out.c_str(), "w", stdout);
    std::freopen(out.c_str(), "a", stderr);
    ::execl("/usr/sbin/haproxy", "haproxy", "-f", conf.c_str(), "-db",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Let it parse the config and run its spread-out first round.
  std::this_thread::sleep_for(interval + 500ms);
  HaproxyRun r;
  std::uint64_t cpu0 = failoverd::testing::process_cpu_us(pid);
  std::uint64_t req0 = nginx.requests();
  std::this_thread::sleep_for(window);
  r.cpu_us = failoverd::testing::process_cpu_us(pid) - cpu0;
  r.nginx_requests = nginx.requests() - req0 - 1;  // minus our own stub_status request
  r.rss_kib = failoverd::testing::process_rss_kib(pid);
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::waitpid(pid, nullptr, WNOHANG) != pid; ++i) {
    std::this_thread::sleep_for(50ms);
    if (i == 99) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  return r;
}

void print(const char* mode, int n, int interval_ms, int seconds, const std::vector<Row>& rows) {
  std::printf("\n== %s probes: %d endpoints, interval %d ms, measured %d s ==\n", mode, n,
              interval_ms, seconds);
  std::printf("%-24s %10s %12s %12s %14s %14s %8s  %s\n", "prober", "probes/s", "cpu us/probe",
              "user us/prb", "RSS B/endpoint", "p99 late ms", "ok %", "note");
  for (const auto& r : rows) {
    char rss[32], late[32], okf[32], user[32];
    std::snprintf(user, sizeof user, r.user_us < 0 ? "n/a" : "%.1f", r.user_us);
    std::snprintf(rss, sizeof rss, r.rss_per_endpoint < 0 ? "n/a" : "%.0f", r.rss_per_endpoint);
    std::snprintf(late, sizeof late, r.p99_lateness_ms < 0 ? "n/a" : "%.2f", r.p99_lateness_ms);
    std::snprintf(okf, sizeof okf, r.ok_fraction < 0 ? "n/a" : "%.1f", r.ok_fraction * 100);
    std::printf("%-24s %10.0f %12.1f %12s %14s %14s %8s  %s\n", r.who.c_str(), r.probes_per_s,
                r.cpu_us, user, rss, late, okf, r.note.c_str());
  }
  std::fflush(stdout);
}

void usage() {
  std::fprintf(stderr,
               "usage: failoverd_probe_bench [--endpoints N] [--seconds T] [--interval-ms I]\n"
               "                             [--mode http|tcp|both] [--no-haproxy] [--no-floor]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--endpoints") a.endpoints = std::stoi(value());
    else if (k == "--seconds") a.seconds = std::stoi(value());
    else if (k == "--interval-ms") a.interval_ms = std::stoi(value());
    else if (k == "--mode") a.mode = value();
    else if (k == "--no-haproxy") a.haproxy = false;
    else if (k == "--no-floor") a.floor = false;
    else {
      usage();
      return 2;
    }
  }
  if (a.endpoints < 1 || a.seconds < 1 || a.interval_ms < 1) {
    usage();
    return 2;
  }
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  ::signal(SIGPIPE, SIG_IGN);

  TempDir dir("failoverd-bench");
  if (std::getenv("FAILOVERD_BENCH_KEEP")) std::printf("work dir %s\n", dir.path().c_str());
  NginxOptions no;
  no.prefix = dir.path();
  no.worker_connections = 16384;
  Nginx nginx(no);
  const std::uint16_t port = nginx.http_port();
  const auto interval = std::chrono::milliseconds(a.interval_ms);
  const auto window = std::chrono::seconds(a.seconds);
  std::printf("failoverd probe benchmark: nginx pid %d on 127.0.0.1:%u, %u cores online\n",
              static_cast<int>(nginx.pid()), port, std::thread::hardware_concurrency());

  for (bool http : {true, false}) {
    if (a.mode == "http" && !http) continue;
    if (a.mode == "tcp" && http) continue;
    std::vector<Row> rows;
    const double secs = static_cast<double>(a.seconds);

    ChildReport zero = in_child([&] { return run_failoverd(http, port, 0, interval, 1s); });
    ChildReport fo = in_child([&] { return run_failoverd(http, port, a.endpoints, interval, window); });
    Row r;
    r.who = "failoverd";
    r.probes_per_s = static_cast<double>(fo.probes) / secs;
    r.cpu_us = fo.probes ? static_cast<double>(fo.cpu_us) / static_cast<double>(fo.probes) : 0;
    r.user_us = fo.probes ? static_cast<double>(fo.user_us) / static_cast<double>(fo.probes) : 0;
    r.rss_per_endpoint =
        (static_cast<double>(fo.rss_kib) - static_cast<double>(zero.rss_kib)) * 1024.0 /
        a.endpoints;
    r.p99_lateness_ms = static_cast<double>(fo.p99_lateness_us) / 1000.0;
    r.ok_fraction = fo.probes ? static_cast<double>(fo.ok) / static_cast<double>(fo.probes) : 0;
    r.note = "RSS " + std::to_string(fo.rss_kib) + " KiB (0 endpoints: " +
             std::to_string(zero.rss_kib) + " KiB)";
    rows.push_back(r);

    ChildReport fl;
    if (a.floor) fl = in_child([&] {
      auto f = bench::run_floor(http, port, a.endpoints, interval, interval, window);
      ChildReport c;
      c.probes = f.probes;
      c.ok = f.ok;
      c.cpu_us = f.cpu_us;
      c.user_us = f.user_us;
      c.p99_lateness_us = f.p99_lateness_us;
      return c;
    });
    Row f;
    f.who = "floor (epoll C client)";
    f.probes_per_s = static_cast<double>(fl.probes) / secs;
    f.cpu_us = fl.probes ? static_cast<double>(fl.cpu_us) / static_cast<double>(fl.probes) : 0;
    f.user_us = fl.probes ? static_cast<double>(fl.user_us) / static_cast<double>(fl.probes) : 0;
    f.p99_lateness_ms = static_cast<double>(fl.p99_lateness_us) / 1000.0;
    f.ok_fraction = fl.probes ? static_cast<double>(fl.ok) / static_cast<double>(fl.probes) : 0;
    rows.push_back(f);

    if (a.haproxy) {
      HaproxyRun h0 = run_haproxy(dir.path(), http, port, 1, interval, 1s, nginx);
      HaproxyRun h = run_haproxy(dir.path(), http, port, a.endpoints, interval, window, nginx);
      Row hr;
      hr.who = "haproxy 2.6 checks";
      // http: checks counted by nginx; tcp (half-open) checks never reach nginx: nominal rate.
      double checks = http ? static_cast<double>(h.nginx_requests)
                           : secs * a.endpoints * 1000.0 / a.interval_ms;
      hr.probes_per_s = checks / secs;
      hr.cpu_us = checks > 0 ? static_cast<double>(h.cpu_us) / checks : 0;
      hr.user_us = -1;  // /proc gives utime+stime; the split is not reported for HAProxy
      hr.rss_per_endpoint =
          (static_cast<double>(h.rss_kib) - static_cast<double>(h0.rss_kib)) * 1024.0 /
          a.endpoints;
      hr.note = std::string(http ? "checks counted by nginx" : "nominal check rate") + ", RSS " +
                std::to_string(h.rss_kib) + " KiB";
      rows.push_back(hr);
    }
    print(http ? "HTTP" : "TCP", a.endpoints, a.interval_ms, a.seconds, rows);
    const Row& us = rows[0];
    const Row& floor = rows[1];
    std::printf("ratios: failoverd/floor cpu %.2f", floor.cpu_us > 0 ? us.cpu_us / floor.cpu_us : 0);
    if (rows.size() > 2 && rows[2].cpu_us > 0) {
      std::printf(", failoverd/haproxy cpu %.2f", us.cpu_us / rows[2].cpu_us);
    }
    std::printf("\n");
  }
  return 0;
}
