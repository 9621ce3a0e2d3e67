// Runs a private nginx for integration tests and benchmarks: generated config, `daemon off`, a
// prefix in a temp directory, free loopback ports. Stopped by its own PID only (SIGTERM, then
// SIGKILL after 5 s), never by name.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace failoverd::testing {

// A loopback TCP port that was free a moment ago (bind to port 0, read it, close).
std::uint16_t free_port(bool ipv6 = false);

// True when ::1 can be bound here.
bool have_ipv6_loopback();

struct NginxOptions {
  std::string prefix;       // an existing, writable directory
  std::string tls_cert;     // empty: no https servers
  std::string tls_key;
  std::string client_ca;    // mTLS server (needs tls_cert)
  int worker_connections = 4096;
  bool ipv6 = false;        // also listen on [::1]:http_port
  std::string extra_http;   // appended inside the plain-http server block (more locations)
};

// Every server answers: /health -> 200 "ok\n", /fail -> 503 "down\n", /big -> 200 with 100 KiB,
// anything else -> 200 "hello failoverd\n"; /stub_status on status_port.
class Nginx {
 public:
  explicit Nginx(NginxOptions options);  // throws std::runtime_error if it does not come up
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }
  std::uint16_t mtls_port() const { return mtls_port_; }
  // Total requests nginx has handled (stub_status), including the status request itself.
  std::uint64_t requests() const;
  // Total connections nginx has accepted (stub_status), including the status request's own.
  std::uint64_t accepts() const;
  // CPU time (user+sys) of the master and its worker(s), in microseconds, from /proc.
  std::uint64_t cpu_us() const;

 private:
  struct StubStatus {
    std::uint64_t accepts = 0;
    std::uint64_t requests = 0;
  };
  StubStatus stub_status() const;
  void stop();

  NginxOptions options_;
  pid_t pid_ = -1;
  std::uint16_t http_port_ = 0;
  std::uint16_t https_port_ = 0;
  std::uint16_t mtls_port_ = 0;
  std::uint16_t status_port_ = 0;
};

// user+sys CPU of one process from /proc/PID/stat, in microseconds (0 if gone).
std::uint64_t process_cpu_us(pid_t pid);
// Resident set size of one process from /proc/PID/status (VmRSS), in KiB.
std::uint64_t process_rss_kib(pid_t pid);
// Blocking connect to 127.0.0.1:port, for readiness polls.
bool port_accepts(std::uint16_t port);

}  // namespace failoverd::testing
