// The oracle listener: a read-only HTTP(S) listener of its own ([oracle] listen, separate from
// the admin API) that outside health checkers (managed DNS, load balancers) read to learn which
// region should take a service's traffic. The answers are oracle/decision.h's.
//
// Contract:
// - Serves GET and HEAD /v1/oracle/<service>/<path-secret>/<region>: 200 or 503 with a small
//   text/plain body (well under 5,120 bytes), Cache-Control: no-store. Every other method is
//   405; an unknown service, a wrong secret and an unknown region are the same 404.
// - Answers from a snapshot the engine pushes (publish(), called from the engine's decision
//   hook on the io_context's thread), never by polling: an answer reflects a decision as soon as
//   the engine has published it, on the same event-loop turn.
// - Hardened for the internet (admin/http_server.h underneath, with its own options): header
//   bytes bounded (4 KiB), no request body, the TLS handshake and whole header within
//   request_timeout of the accept (an absolute deadline: slowloris cannot extend it), at most
//   max_connections open and max_connections_per_source per client IP (a new one evicts the
//   oldest, so a flood of idle connections cannot lock checkers out), and a token bucket per
//   client IP (rate_limit_per_source per second, rate_limit_burst deep) over which requests get
//   429. The bucket table is bounded (65,536 sources; full buckets are dropped first).
// - Never logs or answers a secret: request paths are logged (debug level) with the secret
//   component redacted; answers hold only the service, region, active set, generation, state.
// - Counts every request by status in failoverd_oracle_requests_total.
// - start() raises the open-files soft limit up to the hard limit when max_connections needs it,
//   and refuses to start when even the hard limit is too small.
//
// Beast and Asio stay in oracle_server.cc; this header only forward-declares the io_context.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"
#include "oracle/decision.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::oracle {

class OracleServer {
 public:
  // `secret`: the path_secret_file's line (read by the caller).
  OracleServer(boost::asio::io_context& io, const config::Oracle& config, std::string secret,
               metrics::Metrics& metrics);
  ~OracleServer();
  OracleServer(const OracleServer&) = delete;
  OracleServer& operator=(const OracleServer&) = delete;

  // Binds and starts accepting; an error text instead of throwing (nothing listens then).
  std::optional<std::string> start();
  void stop();  // idempotent
  std::string local_address() const;
  std::size_t open_connections() const;

  // The engine's decisions for every service with a write target; replaces the snapshot (a
  // service absent from `decisions` is 404 from now on). Call on the io_context's thread.
  void publish(std::vector<ServiceDecision> decisions);

  // Reads a path_secret_file (the loader's rules: one line, at least 16 characters).
  static std::optional<std::string> read_secret(const std::string& file, std::string& out);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::oracle
