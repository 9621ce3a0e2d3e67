// A real BIND 9 (`named -g`) for the DNS probe's integration tests: authoritative only
// (recursion off), on 127.0.0.1 at a free port, in a temporary directory, query logging on.
// Stopped by its own PID (SIGTERM, then SIGKILL after a bounded wait).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace failoverd::integration {

class BindServer {
 public:
  // zones: zone name -> zone file text. Throws std::runtime_error (with named's log) when named
  // does not answer within `ready_timeout`.
  explicit BindServer(const std::map<std::string, std::string>& zones,
                      std::chrono::milliseconds ready_timeout = std::chrono::seconds(20));
  ~BindServer();
  BindServer(const BindServer&) = delete;
  BindServer& operator=(const BindServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:<port>"
  std::string address() const;
  // named's stderr so far.
  std::string log() const;
  // Query-log lines that contain `needle`, e.g. "query: www.example.test IN A ".
  int count_log_lines(std::string_view needle) const;

  // The named binary used (FAILOVERD_NAMED or /usr/sbin/named); empty when none is executable.
  static std::string named_path();

 private:
  bool start_once(std::chrono::milliseconds ready_timeout, std::string& why);
  void stop();

  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace failoverd::integration
