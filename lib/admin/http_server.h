// A small HTTP/1.1 server (Beast) for the admin listener: /healthz, /readyz, /metrics, /v1/...
//
// Hardening (Beast examples' model): one coroutine per connection on the io_context's thread, a
// deadline before every read and write, header and body size limits, a cap on open connections.
// Requests and responses are plain structs so Beast stays out of every header that includes this.
//
// Slow and idle clients cannot lock operators out:
// - the whole request header (and, with TLS, the handshake before it) must arrive within
//   header_timeout of the accept, or of the previous response on a kept-alive connection; the
//   deadline is absolute, so a client trickling one byte at a time cannot extend it. An idle
//   kept-alive connection is closed at the same deadline.
// - each client address holds at most max_connections_per_client connections, the listener at
//   most max_connections. A new connection over either cap evicts the oldest connection (of that
//   client, or of the listener) that has not been used by an authenticated operator; only when
//   every connection in the way is an operator's is the new one refused. So /healthz and
//   failoverctl always get a slot from strangers, and an operator's kept-alive connection keeps
//   its slot.
// - HEAD gets the headers GET would get (Content-Length included) and no body, on every route.
//
// TLS (optional): with a certificate and key the listener speaks HTTPS only (TLS 1.2 or newer, the
// handshake within header_timeout); with a client CA too, a client without a certificate from that
// CA fails the handshake and never reaches a handler (mTLS), and one that completes it counts as
// an operator. Bearer tokens still apply on top. A connection that has sent nothing yet holds no
// TLS state, so idle strangers cost a socket each, not a TLS session.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::admin {

struct Request {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // "/v1/status?x=1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer;                           // "127.0.0.1:53412"
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set by the handler when the request carried valid operator credentials (a bearer token): the
  // connection is then never evicted to make room for another.
  bool authenticated = false;
};

// Called on the io_context's thread for every complete, size-checked request. Must not block.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  config::HostPort listen{"127.0.0.1", 8649};  // port 0: pick a free port (tests)
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  // TLS handshake and the whole request header, from the accept or from the previous response.
  std::chrono::milliseconds header_timeout{2'000};
  std::chrono::milliseconds io_timeout{10'000};  // the request body; each response write
  std::size_t max_connections = 256;
  std::size_t max_connections_per_client = 16;  // per client IP address
  std::uint32_t max_requests_per_connection = 100;
  std::string tls_cert_file;   // non-empty: serve HTTPS with this certificate chain (PEM)
  std::string tls_key_file;    // its private key (PEM)
  std::string client_ca_file;  // non-empty: require client certificates issued by this CA
  // Told of each request answered without reaching the handler (400, 413, 431), with its
  // status: for a listener's request counters. Optional.
  std::function<void(unsigned status)> on_refused;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Returns an error text ("bind 127.0.0.1:8649: Address already in
  // use", "tls: cannot load ...") instead of throwing; nothing is listening then.
  std::optional<std::string> start();
  // The bound "address:port" (useful with port 0). Empty before start().
  std::string local_address() const;
  std::uint16_t local_port() const;
  // Whether the options' TLS files load (nullopt: they do, or TLS is off); binds nothing.
  static std::optional<std::string> check_tls(const ServerOptions& options);
  // Open connections now. Call on the io_context's thread.
  std::size_t open_connections() const;
  // Stops accepting and closes open connections. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::admin
