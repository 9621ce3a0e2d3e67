// Helpers shared by the probe tests: endpoint builders and "run one probe to completion".
#pragma once

#include <doctest/doctest.h>

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#pragma GCC diagnostic pop
#include <chrono>
#include <optional>
#include <string>

#include "config/config.h"
#include "probe/prober.h"

namespace failoverd::probe::test {

using namespace std::chrono_literals;

inline config::Endpoint http_endpoint(const std::string& url, config::Duration timeout = 1s) {
  config::Endpoint e;
  e.name = core::EndpointId("ep");
  e.kind = url.starts_with("https") ? config::ProbeKind::Https : config::ProbeKind::Http;
  e.http.url = url;
  e.timeout = timeout;
  return e;
}

inline config::Endpoint tcp_endpoint(const std::string& host, std::uint16_t port,
                                     config::Duration timeout = 1s) {
  config::Endpoint e;
  e.name = core::EndpointId("tcp");
  e.kind = config::ProbeKind::Tcp;
  e.tcp.address = {host, port};
  e.timeout = timeout;
  return e;
}

inline std::string local_url(std::uint16_t port, const std::string& path = "/health",
                             const std::string& scheme = "http") {
  return scheme + "://127.0.0.1:" + std::to_string(port) + path;
}

// Runs the io_context until the probe completes (bounded: 30 s of wall time at most).
inline ProbeResult run_probe(boost::asio::io_context& io, Prober& prober,
                             const config::Endpoint& ep) {
  PrepareResult prep = prober.prepare(ep);
  REQUIRE_MESSAGE(prep.spec.has_value(), prep.error);
  std::optional<ProbeResult> got;
  prober.start(*prep.spec, [&](ProbeResult&& r) { got = std::move(r); });
  auto limit = std::chrono::steady_clock::now() + 30s;
  while (!got && std::chrono::steady_clock::now() < limit) io.run_one_for(100ms);
  REQUIRE(got.has_value());
  // Let the servers see the close before the next step.
  io.poll();
  return *got;
}

}  // namespace failoverd::probe::test
