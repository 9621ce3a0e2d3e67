// The verdict exchange between observers: a mutual-TLS HTTPS server that serves this observer's
// verdicts at GET /v1/peer/verdicts on the cluster listener, and a client that fetches every
// configured peer's verdicts each exchange_interval and feeds them through the PeerBook rules.
//
// Transport rules:
//   - TLS 1.3 only, both sides verified against cluster.ca_file. A certificate names its SAN DNS
//     names when it has any, else its CN (see peer_book.h); one that names more than one
//     configured observer is refused. The server requires a client certificate and answers 403
//     unless it names exactly one configured peer; the client checks that the server certificate
//     names exactly the peer it meant to reach.
//   - One kept-alive connection per peer (HTTP/1.1 keep-alive): the client sends each fetch on
//     the connection its last fetch used, and opens (connect + TLS handshake) a new one only
//     when it has none. It drops the connection on any error or timeout, on a response that
//     does not keep it alive, when the server has closed it (seen before it is used), and after
//     it has been idle for half the server's idle timeout. One overall deadline
//     (request_timeout) per fetch, over connect, handshake, request and response; response
//     headers up to 8 KiB and the body up to max_message_bytes.
//   - A reused connection that fails before any byte of the response arrived (the peer
//     restarted, or closed it as idle at the moment it was used) is retried at once, once, on a
//     new connection, within the same deadline; so a stale connection costs no fetch.
//   - A failing peer is no vote: its error is kept in status() and logged when it changes, and
//     its next poll is delayed by exchange_interval + core::backoff_delay (full jitter, capped
//     at one exchange_interval by default), so a peer that is back is heard again within two
//     intervals; the other peers are polled independently and never wait for it.
//   - Each response is a freshly stamped message (next sequence number, same boot id), with this
//     observer's holds from ExchangeOptions::hold_source. If the holds would take the message
//     over max_message_bytes, their reasons are cut to 64 bytes; if it is still over, the holds
//     are left out of that message (logged) rather than lose its verdicts.
//   - The holds of a message PeerBook accepted go to ExchangeOptions::on_holds; a rejected
//     message or one with another config fingerprint brings none.
//
// Listener budgets, so that strangers (connections from addresses that are no configured
// peer's) never starve the peers:
//   - A connection from a stranger must finish its TLS handshake within handshake_timeout;
//     one stranger address holds at most connections_per_source unauthenticated connections
//     (more are refused at once), and all strangers together stranger_connections (a new one
//     over that evicts the oldest unauthenticated stranger).
//   - A configured peer's address (its IP literal, or the address its host name last resolved
//     to for a fetch) has its own reserve of connections_per_peer_address unauthenticated
//     connections that strangers cannot take; over it, that address's oldest is evicted.
//   - A completed handshake whose certificate names a configured peer moves to that peer's own
//     budget (connections_per_peer at a time), and the request then has request_timeout.
//   - After a 200 answer the server keeps a peer's connection open for its next request, if the
//     request did not ask to close: idle for at most idle_timeout (then closed, counted as
//     nothing), each further request again within request_timeout once its first byte came,
//     and at most requests_per_connection requests per connection (the last answer closes).
//     Every other answer (400, 403, 404, 405) closes the connection, as do all answers to
//     strangers. Header and body limits and the bounded read buffer hold for every request.
//   - Every refusal is counted by its reason in server_stats().
//
// Threading: everything runs on the given io_context's single thread; call every member from
// that thread (or before the io_context runs). Beast and OpenSSL stay behind the pimpl.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/plan.h"
#include "core/types.h"
#include "peer/message.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::peer {

struct ExchangeOptions {
  core::ObserverId self;           // this observer (config.observer.id)
  config::Cluster cluster;         // listen, peers, intervals, TLS files
  std::string config_fingerprint;  // config_fingerprint() of this observer's config
  // Deadline for one whole fetch (connect + TLS + request + response) and for one served
  // connection.
  std::chrono::milliseconds request_timeout{2000};
  std::size_t max_message_bytes = kMaxMessageBytes;
  // Longest extra delay for a failing peer; zero: one exchange_interval.
  core::Duration backoff_cap = core::Duration::zero();
  std::uint64_t seed = 0;  // boot id and jitter; 0 draws both from std::random_device
  // The listener's budgets (see above). A stranger's handshake deadline is the shorter of
  // handshake_timeout and request_timeout.
  std::chrono::milliseconds handshake_timeout{500};
  std::size_t stranger_connections = 32;
  std::size_t connections_per_source = 4;
  std::size_t connections_per_peer_address = 8;
  std::size_t connections_per_peer = 8;
  // How long the server keeps an authenticated peer's connection open waiting for its next
  // request; zero: the longer of 30 s and three exchange_intervals. The client drops a kept
  // connection idle for more than half of its own idle timeout rather than race the server.
  std::chrono::milliseconds idle_timeout{0};
  // Requests the server answers on one connection before closing it; at least 1.
  std::size_t requests_per_connection = 1000;
  // This observer's operator holds, sent in every message; empty function: none.
  std::function<std::vector<ServiceHolds>()> hold_source;
  // Called on the io_context's thread with the holds of each accepted message (the sender,
  // its holds); never for a rejected or config-mismatched one. Must not block.
  std::function<void(const core::ObserverId&, const std::vector<ServiceHolds>&)> on_holds;
  // decode()'s limit on hold entries: the number of services this observer has configured.
  std::size_t max_holds = kMaxHolds;
};

// What this observer knows about one peer, for metrics and the admin API.
struct PeerStatus {
  core::ObserverId id;
  std::string address;                       // "10.0.0.2:8650"
  std::optional<core::TimePoint> last_seen;  // last authentic message, local steady time
  std::string last_error;                    // why the last fetch gave no vote; "" if it did
  bool config_mismatch = false;              // "peer running a different config"
  std::string peer_fingerprint;              // the fingerprint it last sent
  std::uint32_t consecutive_failures = 0;
  std::uint64_t fetches = 0;      // attempts finished
  std::uint64_t failures = 0;     // fetches that failed or were rejected
  std::uint64_t rejected = 0;     // of those: refused by the rules or identity
  std::uint64_t connections = 0;  // TLS connections this client opened to it (handshakes)
  std::uint64_t retries = 0;      // reused connections that failed and were retried at once
};

// Why the listener turned a connection away. to_string() gives stable names for logs and
// metric labels.
enum class Refusal {
  Handshake,         // "handshake": not TLS, no or a bad certificate
  HandshakeTimeout,  // "handshake_timeout": a stranger's handshake not done in time
  Evicted,           // "evicted": an unauthenticated connection dropped for a newer one
  SourceLimit,       // "source_limit": too many unauthenticated connections from one address
  PeerLimit,         // "peer_limit": too many connections of one authenticated peer
  NotAPeer,          // "not_a_peer": 403, the certificate names no (or more than one) peer
  Malformed,         // "malformed": 400
  NotFound,          // "not_found": 404
  Method,            // "method": 405
  Unread,            // "unread": the request never arrived whole (timeout, reset)
};
inline constexpr std::size_t kRefusalKinds = 10;
std::string_view to_string(Refusal reason);

// The server side's counters.
struct ServerStats {
  std::uint64_t served = 0;      // 200 answers
  std::uint64_t accepted = 0;    // TCP connections accepted (refused ones too)
  std::uint64_t handshakes = 0;  // TLS handshakes completed
  std::uint64_t refused = 0;     // every refusal below, summed
  std::array<std::uint64_t, kRefusalKinds> refused_by{};  // indexed by Refusal
  std::string last_refusal;                               // "TLS handshake from 127.0.0.1: ..."

  std::uint64_t count(Refusal reason) const { return refused_by[static_cast<std::size_t>(reason)]; }
};

// Called on the io_context's thread each time a peer asks; returns this observer's current
// verdicts. Must not block.
using VerdictSource = std::function<std::vector<RegionVerdict>()>;

class PeerExchange {
 public:
  PeerExchange(boost::asio::io_context& io, ExchangeOptions options, VerdictSource source);
  ~PeerExchange();  // stops; coroutines still queued on the io_context finish when it runs
  PeerExchange(const PeerExchange&) = delete;
  PeerExchange& operator=(const PeerExchange&) = delete;

  // Loads the CA, certificate and key, binds cluster.listen (port 0 picks a free one) and starts
  // serving and polling. Returns an error text instead of throwing; then nothing runs.
  std::optional<std::string> start();
  // Stops listening and polling and closes open connections. Idempotent.
  void stop();
  std::uint16_t local_port() const;  // 0 before start()

  // This observer's own verdict just changed: fetch every peer that answers now (not one in
  // backoff, not one still in its first, spread-out wait) at once, or `every` after its last
  // fetch if that was more recent, and then `every` after each fetch ends (instead of
  // exchange_interval) until `until`, so that a peer that agrees is heard within about `every`
  // rather than a whole interval. Repeated calls extend the window.
  void hurry(core::Duration every, core::TimePoint until);

  // Fresh votes of all peers at `now` (steady clock); see PeerBook::votes.
  std::vector<core::Vote> votes(core::TimePoint now) const;
  std::vector<PeerStatus> status() const;  // one per configured peer, in config order
  ServerStats server_stats() const;
  // The message a peer asking now would get (takes the next sequence number).
  std::string next_message();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::peer
