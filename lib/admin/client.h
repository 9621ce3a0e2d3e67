// A blocking HTTP/1.1 client for failoverctl (a CLI may block; the daemon never uses this).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "config/config.h"

namespace failoverd::admin {

struct ClientResponse {
  unsigned status = 0;
  std::string body;
};

struct ClientResult {
  std::optional<ClientResponse> response;  // nullopt: could not connect / timed out
  std::string error;                       // why, when response is nullopt
};

// HTTPS to the admin listener: the server's certificate is verified against `ca_file` (empty:
// the system store) for the host asked for (a name or an IP address); with `cert_file` a client
// certificate is presented (mTLS).
struct ClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;  // empty: the key is in cert_file
};

// Sends one request with an optional bearer token, over TLS when `tls` is set; the whole exchange
// is bounded by `timeout` and the response body by 8 MiB.
ClientResult http_request(const config::HostPort& server, const std::string& method,
                          const std::string& target, const std::string& token,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::optional<ClientTls>& tls = std::nullopt);

}  // namespace failoverd::admin
