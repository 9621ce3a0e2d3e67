// One c-ares channel driven by an Asio io_context: no thread, no blocking.
//
// c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB); each one is wrapped in
// an asio::posix::stream_descriptor that only waits for readiness (async_wait) and then calls
// ares_process_fd. The descriptor is release()d before c-ares closes the socket, so c-ares keeps
// ownership of every fd. One steady_timer, armed from ares_timeout, drives c-ares' own timeouts.
//
// c-ares types stay out of this header (pimpl); statuses are c-ares' ARES_* codes as plain ints.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace failoverd::probe {

struct AresChannelOptions {
  // Name servers, c-ares CSV syntax: "127.0.0.1:5353,[::1]:53". Empty: /etc/resolv.conf.
  std::string servers;
  bool tcp = false;  // every query over TCP (ARES_FLAG_USEVC); UDP otherwise, TCP on truncation
  // Per try. With tries = 1 and one server this is the deadline of the whole query.
  std::chrono::milliseconds timeout{1000};
  int tries = 1;
  // Hand every reply to the caller whatever its rcode (ARES_FLAG_NOCHECKRESP). Without it c-ares
  // treats SERVFAIL/REFUSED/NOTIMP as a server failure and tries the next server.
  bool raw_replies = true;
  // SO_RCVBUF of c-ares' sockets (capped by net.core.rmem_max). Replies to a burst of queries
  // sent in one loop turn queue here until the loop reads them; the kernel default (~208 KiB,
  // about 200 small datagrams) drops some of them. 0: the kernel default.
  int receive_buffer_bytes = 1 << 20;
};

// A name-server channel. Create, use and destroy on the thread that runs the io_context.
// Not copyable or movable (c-ares holds a pointer to it).
class AresChannel {
 public:
  // status: an ARES_* code (0 = ARES_SUCCESS). reply: the raw DNS message when status is success,
  // valid only during the call. Runs on the io_context thread, from inside ares_process_fd (or
  // from inside send() when c-ares fails at once: the caller must cope, see DnsProber).
  using SendCallback = std::function<void(int status, std::span<const std::uint8_t> reply)>;

  // Throws std::runtime_error when c-ares cannot be initialised or the server list is invalid
  // (a configuration boundary).
  AresChannel(boost::asio::io_context& io, const AresChannelOptions& options);
  // Ends every outstanding query: their callbacks run now with ARES_EDESTRUCTION.
  ~AresChannel();
  AresChannel(const AresChannel&) = delete;
  AresChannel& operator=(const AresChannel&) = delete;

  // Sends one DNS query message (see make_query); c-ares sets the id. The callback runs exactly
  // once.
  void send(std::span<const std::uint8_t> query, SendCallback callback);

  // Queries sent and not completed yet.
  std::size_t in_flight() const;
  // Sockets currently watched (for tests and metrics).
  std::size_t watched_sockets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds a query message (class IN) for name and type, recursion desired as asked.
// Returns an empty vector when the name is not a valid domain name.
std::vector<std::uint8_t> make_query(std::string_view name, int type, bool recursion_desired);

// c-ares' text for a status code ("Timeout while contacting DNS servers").
std::string ares_status_text(int status);

// The c-ares status codes callers need, without including ares.h (ares_channel.cc checks that
// they equal ARES_*).
namespace ares_status {
inline constexpr int kSuccess = 0;
inline constexpr int kNoData = 1;
inline constexpr int kFormErr = 2;
inline constexpr int kServFail = 3;
inline constexpr int kNotFound = 4;
inline constexpr int kNotImp = 5;
inline constexpr int kRefused = 6;
inline constexpr int kBadName = 8;
inline constexpr int kBadResp = 10;
inline constexpr int kConnRefused = 11;
inline constexpr int kTimeout = 12;
inline constexpr int kNoMem = 15;
inline constexpr int kDestruction = 16;
inline constexpr int kCancelled = 24;
}  // namespace ares_status

}  // namespace failoverd::probe
