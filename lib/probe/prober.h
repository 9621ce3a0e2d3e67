// The probe engine for http, https, tcp and tls endpoints (dns lives in probe/dns_*).
//
// Shape: one Prober per io_context. `prepare()` turns a config::Endpoint into an immutable
// ProbeSpec once (URL parsed, request bytes built, TLS context shared between endpoints with the
// same TLS settings); `start()` runs one probe of a spec and calls back with a ProbeResult.
// Connection state lives in a small pool sized by the number of probes in flight, not by the
// number of endpoints, so an idle endpoint costs only its ProbeSpec.
//
// Each probe is a hand-written callback state machine on a raw Asio socket (optionally wrapped in
// an asio::ssl::stream), with Beast's HTTP/1.1 response parser fed from a fixed buffer: connect ->
// [TLS handshake] -> write request -> read until the verdict is known -> close with RST.
// Deadlines: `connect_timeout` bounds the TCP connect, `timeout` the whole probe; the header is
// limited to kHeaderLimit bytes and at most `body_limit` body bytes are ever kept.
//
// Redirects (http.follow_redirects): a 301/302/303/307/308 with a Location is followed on a new
// connection, within the same overall deadline, for at most http.max_redirects hops; more hops, or
// a URL seen before in this probe (a loop), is ProtocolError "too many redirects". Absolute
// http(s) URLs, "//host" and relative paths are understood. Only same-scheme redirects are
// followed (http -> https would need a TLS context the spec may not have): another scheme is
// ProtocolError. A redirect to another host is resolved like the spec's own host; for https its
// name becomes the SNI and verified name. A 303 turns the method into GET (HEAD stays HEAD). The
// final response is classified as usual. Without follow_redirects a 3xx is just a status.
//
// Host names: with a Resolver (see the constructor) a spec whose host is a name is resolved at
// the start of every probe, through the resolver's TTL cache (no query while the cache is fresh),
// on the same loop; the lookup counts against `timeout` (it ends as Timeout, "resolve timeout").
// The first address is used, and the resolver lists A records before AAAA: IPv4 is preferred,
// IPv6 is used only when the name has no A record (no fallback to the next address on a failed
// connect). A failed lookup is ResolveError with the resolver's reason. IP literals never touch
// the resolver (the default path is unchanged).
//
// Keep-alive (http.keepalive): the request leaves out "Connection: close", the whole response is
// read (up to body_limit bytes of body, within the deadline) and, when the server allows it, the
// connection is kept idle for the endpoint's next probe (one idle connection per endpoint, nothing
// read from it while idle). The next probe first checks the idle socket without blocking: closed by
// the server, or bytes waiting that nobody asked for, and it is dropped for a fresh connection. A
// reused connection that fails before any response byte (the server closed it just then) is
// retried once on a fresh connection within the same deadline. A reused probe's latency is the
// request/response time only; a TLS one reports the certificate days seen at its handshake. Redirect
// hops never keep their connections. Default off: a health check should see what a new client sees.
//
// Threading: everything runs on the io_context's (single) thread; nothing blocks.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "probe/body_regex.h"
#include "probe/result.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::probe {

class Resolver;

// Largest HTTP response header (status line + fields) accepted; larger is TooLarge.
inline constexpr std::size_t kHeaderLimit = 8 * 1024;

// An opaque, shared OpenSSL client context (one per distinct TLS setting).
struct TlsClientContext;

// Everything one endpoint's probes need, computed once by Prober::prepare(). Immutable; it must
// outlive every probe started with it.
struct ProbeSpec {
  core::EndpointId endpoint;
  config::ProbeKind kind = config::ProbeKind::Http;
  std::string host;  // as written in the URL/address, without IPv6 brackets
  std::uint16_t port = 0;
  // The address connected to. nullopt when `host` is a name: each probe then resolves it with the
  // Prober's Resolver; without one the probe ends with ResolveError.
  std::optional<boost::asio::ip::address> address;
  std::string request;  // http(s): the whole request; tcp: the bytes to send (may be empty)
  std::string expect;   // http(s): body substring; tcp: expected reply substring
  std::shared_ptr<const BodyRegex> body_regex;  // http(s): optional, RE2 (probe/body_regex.h)
  std::vector<config::StatusRange> expect_status;
  std::size_t body_limit = 64 * 1024;  // http(s) body window; tcp reply window
  bool head = false;                   // HEAD request: the response has no body
  bool reset_after_connect = true;     // tcp connect-only: SYN, SYN-ACK, RST
  core::Duration timeout{};
  core::Duration connect_timeout{};
  core::Duration cert_expiry_warning{};
  std::string tls_name;  // SNI and the verified name (or IP) for https/tls
  bool tls_name_is_ip = false;
  bool verify = true;
  std::shared_ptr<TlsClientContext> tls;  // https/tls only
  // http(s) with follow_redirects only: what a redirect hop needs to rebuild the request.
  bool follow_redirects = false;
  std::uint32_t max_redirects = 0;
  std::string method;
  std::string target;          // the request target of `request`
  std::string host_header;     // the Host value of `request`
  std::string request_fields;  // `request` after its Host line, through the final empty line
  bool keepalive = false;      // http(s): keep the connection for the next probe (see above)
};

// prepare()'s answer: a spec, or why the endpoint cannot be probed (bad URL, unreadable CA...).
struct PrepareResult {
  std::optional<ProbeSpec> spec;
  std::string error;
};

// Counters for tests and metrics. `peak_buffered_bytes` is the most response bytes any single
// probe held at once (read buffer + body window): it proves the body limit is enforced.
struct ProberStats {
  std::uint64_t started = 0;
  std::uint64_t completed = 0;
  std::size_t in_flight = 0;
  std::size_t pooled_connections = 0;  // connection objects allocated (in use + free)
  std::size_t peak_buffered_bytes = 0;
  std::uint64_t reused = 0;         // probes sent on a kept-alive connection
  std::size_t idle_connections = 0;  // kept-alive connections waiting for their next probe
};

class Prober {
 public:
  // Called exactly once per start(), on the io_context thread, never from inside start().
  using Completion = std::function<void(ProbeResult&&)>;

  // `resolver` (optional, not owned, must outlive the Prober and run on `io`) resolves host
  // names; nullptr: only IP literals can be probed.
  explicit Prober(boost::asio::io_context& io, Resolver* resolver = nullptr);
  // Closes in-flight connections; their completions are never called.
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Builds the spec of an http/https/tcp/tls endpoint. Never throws.
  PrepareResult prepare(const config::Endpoint& endpoint);

  // Starts one probe of `spec` (which must stay alive until the completion runs).
  void start(const ProbeSpec& spec, Completion done);

  ProberStats stats() const;

  struct Impl;  // implementation detail (public only so the .cc's helpers can name it)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::probe
