// The benchmark's floor: a minimal single-threaded epoll client written C-style, with no
// framework at all. Per probe: non-blocking socket, TCP_QUICKACK off (the same handshake style
// as failoverd and HAProxy), connect; http: write GET, read until the header is complete, close
// with RST; tcp: close with RST as soon as the connect completes (half-open).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace failoverd::bench {

struct FloorResult {
  std::uint64_t probes = 0;  // completed inside the measured window
  std::uint64_t ok = 0;
  std::uint64_t cpu_us = 0;  // user+sys of this process inside the window
  std::uint64_t user_us = 0;
  std::int64_t p99_lateness_us = 0;
};

// Probes `endpoints` paths (/e0../eN-1) on 127.0.0.1:port, each every `interval`, evenly spread;
// runs warmup + window, measures the window only.
FloorResult run_floor(bool http, std::uint16_t port, int endpoints,
                      std::chrono::milliseconds interval, std::chrono::milliseconds warmup,
                      std::chrono::milliseconds window);

}  // namespace failoverd::bench
