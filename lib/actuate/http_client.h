// A small HTTP/1.1 client for target APIs (the PowerDNS HTTP API) and notification webhooks: one
// request per connection, a deadline on every step (resolve, connect, TLS handshake, write, read)
// and a limit on the response size. HTTPS (for webhooks) verifies the server's certificate and
// name against a CA file or the system store. Beast stays in http_client.cc so that including this header is cheap.
//
// Runs on the caller's executor; never blocks; never throws (every failure is an HttpError).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace failoverd::actuate {

// "http://host:port[/base]" split into parts.
struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string base_path;  // without a trailing '/', "" for the root
  bool tls = false;       // https (port 443 unless given)
};
// nullopt when `url` is not a plain http URL with a valid port.
std::optional<HttpUrl> parse_http_url(std::string_view url);
// The same for an http:// or https:// URL.
std::optional<HttpUrl> parse_web_url(std::string_view url);

struct HttpRequest {
  std::string method = "GET";  // GET, PATCH, PUT, POST, DELETE
  std::string target;          // "/api/v1/servers/localhost/zones/example.com."
  std::vector<std::pair<std::string, std::string>> headers;  // never logged
  std::string body;  // sent with Content-Type: application/json when not empty
};

enum class HttpError {
  None,
  Resolve,   // the host name did not resolve
  Connect,   // refused, unreachable
  Timeout,   // a step did not finish before its deadline
  Io,        // the connection broke while writing or reading
  Tls,       // the TLS handshake failed (certificate not trusted, wrong name, ...)
  Protocol,  // not a valid HTTP response
  TooLarge,  // the response exceeded the size limit
};
std::string_view to_string(HttpError e);

struct HttpResponse {
  HttpError error = HttpError::None;
  unsigned status = 0;  // the HTTP status when error == None
  std::string body;
  std::string detail;  // error text for logs (never contains header values)
  bool ok() const { return error == HttpError::None; }
};

struct HttpLimits {
  std::chrono::nanoseconds step_timeout = std::chrono::seconds(2);  // each of connect/write/read
  std::size_t max_response_bytes = 4 * 1024 * 1024;                 // header + body
  std::string ca_file;  // https: trusted CAs (PEM); empty: the system store
};

// Sends one request to url.host:url.port over a fresh connection (TLS when url.tls) and reads the
// response. `request.target` is appended to url.base_path. Sends "Connection: close".
boost::asio::awaitable<HttpResponse> http_exchange(boost::asio::any_io_executor executor,
                                                   const HttpUrl& url, HttpRequest request,
                                                   HttpLimits limits);

}  // namespace failoverd::actuate
