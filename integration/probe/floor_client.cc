#include "floor_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace failoverd::bench {

namespace {

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t tv_us(const timeval& tv) {
  return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(tv.tv_usec);
}

struct Slot {
  int fd = -1;
  std::int64_t due = 0;
  std::int64_t started = 0;
  std::uint32_t got = 0;
  bool sent = false;
};

void close_rst(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

}  // namespace

FloorResult run_floor(bool http, std::uint16_t port, int n, std::chrono::milliseconds interval,
                      std::chrono::milliseconds warmup, std::chrono::milliseconds window) {
  FloorResult out;
  const std::int64_t inter = std::chrono::nanoseconds(interval).count();
  std::vector<Slot> slots(static_cast<std::size_t>(n));
  std::vector<std::string> requests(static_cast<std::size_t>(n));
  std::int64_t t0 = now_ns();
  for (int i = 0; i < n; ++i) {
    slots[static_cast<std::size_t>(i)].due = t0 + inter * i / std::max(n, 1);
    requests[static_cast<std::size_t>(i)] = "GET /e" + std::to_string(i) +
                                            " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                            "Connection: close\r\n\r\n";
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::int64_t measure_from = t0 + std::chrono::nanoseconds(warmup).count();
  std::int64_t end = measure_from + std::chrono::nanoseconds(window).count();
  bool measuring = false;
  rusage ru0{};
  std::vector<std::int64_t> lateness;
  lateness.reserve(static_cast<std::size_t>(n) * 20);
  // Due times in a simple ring: endpoints are fired in index order each interval.
  std::size_t next = 0;
  epoll_event events[256];
  char buf[4096];

  auto finish = [&](Slot& s, bool ok) {
    close_rst(s.fd);
    s.fd = -1;
    if (measuring) {
      ++out.probes;
      if (ok) ++out.ok;
    }
  };

  for (;;) {
    std::int64_t now = now_ns();
    if (!measuring && now >= measure_from) {
      measuring = true;
      getrusage(RUSAGE_SELF, &ru0);
    }
    if (now >= end) break;
    // Fire everything due.
    for (std::size_t fired = 0; n > 0 && fired < slots.size(); ++fired) {
      Slot& s = slots[next];
      if (s.due > now) break;
      if (measuring) lateness.push_back(now - s.due);
      s.due += inter;
      std::size_t idx = next;
      next = (next + 1) % slots.size();
      if (s.fd >= 0) {
        if (now - s.started > 2'000'000'000) finish(s, false);  // 2 s timeout
        else continue;  // still in flight: skip this round
      }
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      int zero = 0;
      setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
      s.fd = fd;
      s.started = now;
      s.got = 0;
      s.sent = false;
      int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      if (rc != 0 && errno != EINPROGRESS) {
        finish(s, false);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
      ev.data.u64 = idx;
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::int64_t wait_ns = slots.empty() ? end - now : slots[next].due - now_ns();
    int timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>((wait_ns + 999'999) / 1'000'000);
    int k = epoll_wait(ep, events, 256, timeout_ms);
    for (int e = 0; e < k; ++e) {
      Slot& s = slots[events[e].data.u64];
      if (s.fd < 0) continue;
      if (events[e].events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || !http) {
          finish(s, false);
          continue;
        }
      }
      if (!http) {
        if (events[e].events & EPOLLOUT) finish(s, true);
        continue;
      }
      if (!s.sent && (events[e].events & EPOLLOUT)) {
        const std::string& r = requests[events[e].data.u64];
        if (write(s.fd, r.data(), r.size()) != static_cast<ssize_t>(r.size())) {
          finish(s, false);
          continue;
        }
        s.sent = true;
      }
      if (events[e].events & EPOLLIN) {
        for (;;) {
          ssize_t got = read(s.fd, buf, sizeof buf);
          if (got > 0) {
            // Done once the header is complete (the same point where failoverd decides a
            // probe without a body check).
            if (memmem(buf, static_cast<std::size_t>(got), "\r\n\r\n", 4) != nullptr) {
              finish(s, std::memcmp(buf, "HTTP/1.1 200", 12) == 0);
              break;
            }
            s.got += static_cast<std::uint32_t>(got);
            continue;
          }
          if (got == 0) finish(s, false);
          break;
        }
      }
    }
  }
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  out.user_us = tv_us(ru1.ru_utime) - tv_us(ru0.ru_utime);
  out.cpu_us = out.user_us + tv_us(ru1.ru_stime) - tv_us(ru0.ru_stime);
  for (auto& s : slots) {
    if (s.fd >= 0) close_rst(s.fd);
  }
  close(ep);
  if (!lateness.empty()) {
    std::size_t at = lateness.size() * 99 / 100;
    std::nth_element(lateness.begin(), lateness.begin() + static_cast<std::ptrdiff_t>(at),
                     lateness.end());
    out.p99_lateness_us = lateness[at] / 1000;
  }
  return out;
}

}  // namespace failoverd::bench
