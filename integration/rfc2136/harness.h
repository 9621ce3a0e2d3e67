// Test harness for the RFC 2136 integration tests: real BIND9 and Knot servers in temp dirs on
// free loopback ports (stopped by their own PID only), a watcher that polls the managed name every
// 10 ms, a proxy that loses UPDATE replies, and a fake DNS server for rcodes real servers do not
// produce on demand. Everything binds 127.0.0.1 only; every wait and loop is bounded.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actuate/dns_wire.h"
#include "actuate/tsig.h"
#include "config/config.h"

namespace failoverd::itest {

inline constexpr std::string_view kZone = "example.test.";
inline constexpr std::string_view kName = "www.example.test.";
inline constexpr std::string_view kFenceName = "_failoverd.www.example.test.";
inline constexpr std::string_view kKeyName = "failoverd-key.";
inline constexpr std::string_view kSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
inline constexpr std::string_view kWrongSecret = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=";
inline constexpr std::string_view kInitialAddress = "192.0.2.10";

// A port that was free on 127.0.0.1 for both TCP and UDP a moment ago.
std::uint16_t free_port();

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process; stop() sends SIGTERM to its PID, waits (bounded), then SIGKILL.
class Process {
 public:
  Process() = default;
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  bool start(const std::vector<std::string>& argv, const std::filesystem::path& log);
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A real authoritative server holding example.test. with www A 192.0.2.10 and the fence
// "gen=1 writer=init", accepting updates signed with failoverd-key.
class DnsServer {
 public:
  virtual ~DnsServer() = default;
  virtual std::string_view kind() const = 0;
  virtual bool start() = 0;  // (re)start on the same port and data; waits until it answers
  virtual void stop() = 0;
  std::uint16_t port() const { return port_; }
  std::string log_tail() const;

 protected:
  bool wait_ready();
  std::uint16_t port_ = 0;
  std::filesystem::path log_;
};
std::unique_ptr<DnsServer> make_bind(const std::filesystem::path& dir);
std::unique_ptr<DnsServer> make_knot(const std::filesystem::path& dir);

// One unsigned UDP query (timeout in ms); nullopt on timeout or garbage.
std::optional<actuate::dns::Message> udp_query(std::uint16_t port, std::string_view name,
                                               std::uint16_t type, int timeout_ms = 200);

// Runs nsupdate with the given commands (server/zone lines are added). Returns its exit code.
int nsupdate(std::uint16_t port, std::string_view secret, const std::string& commands);

// Polls the managed name (A) and the fence (TXT) every 10 ms from its own thread.
class Watcher {
 public:
  explicit Watcher(std::uint16_t port);
  ~Watcher();
  void stop();
  // While allowed (a test empties the RRset by hand on purpose), empty answers are not violations.
  void allow_empty(bool allowed) { allow_empty_ = allowed; }
  int empty_answers() const { return empty_.load(); }
  int fence_decreases() const { return decreases_.load(); }
  int polls() const { return polls_.load(); }
  std::uint64_t max_generation() const { return max_gen_.load(); }
  std::vector<std::string> answers_seen() const;  // distinct A answer sets, in order seen

 private:
  void run();
  std::uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> allow_empty_{false};
  std::atomic<int> empty_{0};
  std::atomic<int> decreases_{0};
  std::atomic<int> polls_{0};
  std::atomic<std::uint64_t> max_gen_{0};
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
  std::thread thread_;
};

// A TCP proxy to 127.0.0.1:upstream that forwards everything but swallows the reply to each
// UPDATE (the server applies it, the client never hears back).
class DropUpdateReplyProxy {
 public:
  explicit DropUpdateReplyProxy(std::uint16_t upstream);
  ~DropUpdateReplyProxy();
  std::uint16_t port() const { return port_; }
  int updates_forwarded() const { return updates_.load(); }

 private:
  void run();
  std::uint16_t upstream_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> updates_{0};
  std::thread thread_;
};

// A fake DNS server over TCP that answers every request with a fixed rcode.
class FakeDnsServer {
 public:
  enum class Sign { Valid, Unsigned, BadMac, BadKeyError, NoReply };
  FakeDnsServer(actuate::tsig::Key key, std::uint16_t rcode, Sign sign);
  ~FakeDnsServer();
  std::uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  void run();
  actuate::tsig::Key key_;
  std::uint16_t rcode_;
  Sign sign_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// failoverd-key. (hmac-sha256); the servers also know failoverd-sha1. and failoverd-sha512.
// with the same secret.
actuate::tsig::Key test_key(
    std::string_view secret = kSecret, std::string_view name = kKeyName,
    actuate::tsig::Algorithm algorithm = actuate::tsig::Algorithm::HmacSha256);
config::Rfc2136Target test_target(std::uint16_t port);

// Runs a coroutine to completion on `io`.
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  auto fut = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.restart();
  io.run();
  return fut.get();
}

}  // namespace failoverd::itest
