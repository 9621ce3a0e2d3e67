// A deliberately misbehaving HTTP(S)/TCP server for probe tests, on a loopback port chosen by the
// kernel (port 0). It runs on the caller's io_context (same thread as the probe under test), so
// tests are single-threaded and need no locks.
//
// Modes (each accepted connection gets the same treatment):
//   Silent            accept and never answer
//   Drip              send a valid-looking response one byte per `drip_every`
//   EndlessHeaders    a status line, then header fields forever
//   HugeBody          200 with Content-Length 1 GiB, streamed from one static 16 KiB block
//   Garbage           binary junk instead of a response (also a bad TLS ServerHello)
//   ResetMidResponse  half a response, then RST
//   Canned            read the request header, send `canned` verbatim, close
//   TlsCanned         as Canned over TLS with the given certificate (tls_cert/tls_key)
//   Echo              echo back whatever arrives (TCP checks)
//   KeepAlive         Canned, request after request on one connection, until the client closes;
//                     with `answers_per_connection` N > 0, the (N+1)th request gets no answer: the
//                     connection is closed, as a server whose keep-alive timer just fired does
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace failoverd::testing {

enum class HostileMode {
  Silent,
  Drip,
  EndlessHeaders,
  HugeBody,
  Garbage,
  ResetMidResponse,
  Canned,
  TlsCanned,
  Echo,
  KeepAlive,
};

struct HostileOptions {
  HostileMode mode = HostileMode::Silent;
  std::string canned;  // Canned/TlsCanned: the whole response
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // TlsCanned: require a client certificate signed by this CA
  std::chrono::milliseconds drip_every{1000};
  bool ipv6 = false;  // listen on ::1 instead of 127.0.0.1
  unsigned answers_per_connection = 0;  // KeepAlive: 0 = no limit
};

class HostileServer {
 public:
  HostileServer(boost::asio::io_context& io, HostileOptions options);
  ~HostileServer();
  HostileServer(const HostileServer&) = delete;
  HostileServer& operator=(const HostileServer&) = delete;

  std::uint16_t port() const;
  std::uint64_t accepted() const;
  std::uint64_t bytes_sent() const;
  // Requests fully read (Canned/TlsCanned), and the last one's raw header.
  std::uint64_t requests() const;
  const std::string& last_request() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Canned response helper: status line, Content-Length, optional extra header lines, body.
std::string http_response(int status, std::string_view body, std::string_view extra = {});

}  // namespace failoverd::testing
