// A small HTTP/1.1 server (Beast) for the admin listener: /healthz, /readyz, /metrics, /v1/...
//
// Hardening (Beast examples' model): one coroutine per connection on the io_context's thread, a
// deadline before every read and write, header and body size limits, a cap on open connections.
// Requests and responses are plain structs so Beast stays out of every header that includes this.
//
// TLS (optional): with a certificate and key the listener speaks HTTPS only (TLS 1.2 or newer, the
// handshake bounded by io_timeout); with a client CA too, a client without a certificate from that
// CA fails the handshake and never reaches a handler (mTLS). Bearer tokens still apply on top.
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
};

// Called on the io_context's thread for every complete, size-checked request. Must not block.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  config::HostPort listen{"127.0.0.1", 8649};  // port 0: pick a free port (tests)
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds io_timeout{10'000};  // per read or write
  std::size_t max_connections = 256;
  std::uint32_t max_requests_per_connection = 100;
  std::string tls_cert_file;   // non-empty: serve HTTPS with this certificate chain (PEM)
  std::string tls_key_file;    // its private key (PEM)
  std::string client_ca_file;  // non-empty: require client certificates issued by this CA
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
  // Stops accepting and closes open connections. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::admin
