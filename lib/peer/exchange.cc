#include "peer/exchange.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <map>
#include <random>

#include "core/backoff.h"
#include "log/log.h"
#include "peer/peer_book.h"

namespace failoverd::peer {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = ssl::stream<beast::tcp_stream>;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kPath = "/v1/peer/verdicts";
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
// A refusal of one kind is logged at most this often (with the number not logged), so a flood
// of strangers cannot flood the log too.
constexpr auto kRefusalLogEvery = std::chrono::seconds(10);

namespace {

// An ASN.1 string as UTF-8; empty when it holds a NUL (a classic certificate-name forgery).
std::string utf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) return {};
  std::string text(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  if (text.find('\0') != std::string::npos) return {};
  return text;
}

CertIdentity identity_of(SSL* ssl) {
  CertIdentity id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return id;
  X509_NAME* subject = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) id.common_name = utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    // The OpenSSL stack macros cast in C style; call the untyped functions instead.
    const auto* stack = reinterpret_cast<const OPENSSL_STACK*>(names);
    for (int i = 0; i < OPENSSL_sk_num(stack); ++i) {
      const auto* name = static_cast<const GENERAL_NAME*>(OPENSSL_sk_value(stack, i));
      if (name->type == GEN_DNS) {
        std::string dns = utf8(name->d.dNSName);
        if (!dns.empty()) id.dns_names.push_back(std::move(dns));
      }
    }
    GENERAL_NAMES_free(names);
  }
  return id;
}

// The error text with OpenSSL's reason when there is one ("certificate verify failed").
std::string describe_error(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec.category() == asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (reason != nullptr) return std::string("TLS: ") + reason;
  }
  if (ec == ssl::error::stream_truncated) return "connection closed during TLS";
  return ec.message();
}

// An IPv4 client reaching a dual-stack listener shows up as ::ffff:a.b.c.d; compare it as a.b.c.d.
asio::ip::address plain(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string address_of(const config::HostPort& hp) {
  if (hp.host.find(':') != std::string::npos) return "[" + hp.host + "]:" + std::to_string(hp.port);
  return hp.host + ":" + std::to_string(hp.port);
}

std::optional<std::string> setup_tls(ssl::context& ctx, const config::Cluster& c, bool server) {
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  ctx.load_verify_file(c.ca_file, ec);
  if (ec) return "cluster.ca_file " + c.ca_file + ": " + describe_error(ec);
  ctx.use_certificate_chain_file(c.cert_file, ec);
  if (ec) return "cluster.cert_file " + c.cert_file + ": " + describe_error(ec);
  // The key is a secret: its path may be logged, never its content.
  ctx.use_private_key_file(c.key_file, ssl::context::pem, ec);
  if (ec) return "cluster.key_file " + c.key_file + ": " + describe_error(ec);
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return "cluster.key_file " + c.key_file + " does not match cluster.cert_file";
  }
  ctx.set_verify_mode(
      server ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert : ssl::verify_peer, ec);
  if (ec) return "TLS setup: " + describe_error(ec);
  return std::nullopt;
}

}  // namespace

static_assert(static_cast<std::size_t>(Refusal::Unread) + 1 == kRefusalKinds);

std::string_view to_string(Refusal reason) {
  switch (reason) {
    case Refusal::Handshake:
      return "handshake";
    case Refusal::HandshakeTimeout:
      return "handshake_timeout";
    case Refusal::Evicted:
      return "evicted";
    case Refusal::SourceLimit:
      return "source_limit";
    case Refusal::PeerLimit:
      return "peer_limit";
    case Refusal::NotAPeer:
      return "not_a_peer";
    case Refusal::Malformed:
      return "malformed";
    case Refusal::NotFound:
      return "not_found";
    case Refusal::Method:
      return "method";
    case Refusal::Unread:
      return "unread";
  }
  return "unknown";
}

struct PeerExchange::Impl : std::enable_shared_from_this<PeerExchange::Impl> {
  struct Slot {
    config::Peer peer;
    PeerStatus status;
    std::unique_ptr<asio::steady_timer> timer;
    // The connection kept alive to this peer between fetches (or the fetch's, while one runs),
    // the identity its handshake verified, and when its last fetch ended.
    std::unique_ptr<TlsStream> conn;
    CertIdentity conn_identity;
    core::TimePoint conn_idle_since{};
    bool resting = false;                              // waiting on `timer` between two fetches
    core::TimePoint last_fetch{};                      // when the last fetch ended
    core::TimePoint next_fetch{};                      // while resting: when the next one starts
    std::optional<asio::ip::address> fixed_address;    // the configured host, if an IP literal
    std::optional<asio::ip::address> learned_address;  // where the last fetch connected
  };

  // Which budget an open server connection counts against.
  enum class Pool {
    Stranger,     // not authenticated as a peer, from an address that is no peer's
    PeerAddress,  // not authenticated as a peer, from a configured peer's address
    Peer,         // handshake done, the certificate names exactly one configured peer
  };
  struct Connection {
    beast::tcp_stream* stream = nullptr;
    asio::ip::address source;
    Pool pool = Pool::Stranger;
    core::ObserverId peer;  // while in Pool::Peer
    bool evicted = false;   // closed for a newer connection: counts against nothing
  };
  struct RefusalLog {
    std::optional<core::TimePoint> last_logged;
    std::uint64_t unlogged = 0;
  };

  Impl(asio::io_context& io, ExchangeOptions o, VerdictSource s)
      : io_(io),
        options_(std::move(o)),
        source_(std::move(s)),
        acceptor_(io),
        book_(peer_ids(options_.cluster), options_.config_fingerprint,
              std::chrono::duration_cast<core::Duration>(options_.cluster.verdict_ttl),
              options_.self),
        rng_(options_.seed != 0
                 ? options_.seed
                 : std::random_device{}() * 0x100000001ULL ^ std::random_device{}()) {
    boot_id_ = rng_();
    for (const auto& p : options_.cluster.peers) {
      Slot slot;
      slot.peer = p;
      slot.status.id = p.id;
      slot.status.address = address_of(p.address);
      slot.timer = std::make_unique<asio::steady_timer>(io_);
      boost::system::error_code ec;
      auto literal = asio::ip::make_address(p.address.host, ec);
      if (!ec) slot.fixed_address = plain(literal);
      slots_.push_back(std::move(slot));
      observers_.push_back(p.id);
    }
    observers_.push_back(options_.self);
  }

  static std::vector<core::ObserverId> peer_ids(const config::Cluster& c) {
    std::vector<core::ObserverId> ids;
    for (const auto& p : c.peers) ids.push_back(p.id);
    return ids;
  }

  struct Fetched {
    std::string error;
    std::string body;
    CertIdentity identity;
  };

  std::optional<std::string> start();
  void stop();
  std::string next_message();
  void refuse(Refusal reason, std::string why);
  bool is_peer_address(const asio::ip::address& a) const;
  std::size_t count(Pool pool, const asio::ip::address* source) const;
  void evict_oldest(Pool pool, const asio::ip::address* source);
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket, std::uint64_t id);
  asio::awaitable<void> poll(std::size_t index);
  asio::awaitable<Fetched> fetch(Slot& slot);
  asio::awaitable<std::string> open(Slot& slot);
  asio::awaitable<bool> ask(Slot& slot, Fetched& out, bool& before_response);
  void drop(Slot& slot);
  std::chrono::milliseconds idle_timeout() const;
  void record(Slot& slot, Fetched fetched, core::TimePoint now);
  void fail(Slot& slot, std::string error, bool rejected);
  void hurry(core::Duration every, core::TimePoint until);

  asio::io_context& io_;
  ExchangeOptions options_;
  VerdictSource source_;
  ssl::context server_ctx_{ssl::context::tls_server};
  ssl::context client_ctx_{ssl::context::tls_client};
  tcp::acceptor acceptor_;
  PeerBook book_;
  std::mt19937_64 rng_;
  std::uint64_t boot_id_ = 0;
  std::uint64_t sequence_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<Slot> slots_;  // never resized after construction: coroutines hold references
  std::vector<core::ObserverId> observers_;  // the peers, then this observer
  core::Duration hurry_every_{};
  core::TimePoint hurry_until_{};
  std::uint64_t next_connection_id_ = 0;
  // Open server connections by id, so oldest first; serve() erases its own entry at its end.
  std::map<std::uint64_t, Connection> connections_;
  ServerStats stats_;
  std::array<RefusalLog, kRefusalKinds> refusal_logs_;
};

std::string PeerExchange::Impl::next_message() {
  PeerMessage m;
  m.observer = options_.self;
  m.boot_id = boot_id_;
  m.sequence = ++sequence_;
  m.config_fingerprint = options_.config_fingerprint;
  m.sent_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (source_) m.verdicts = source_();
  // A reason receivers would refuse must not cost the whole message its votes.
  for (auto& v : m.verdicts) v.reason = clamp_reason(std::move(v.reason));
  if (options_.hold_source) m.holds = options_.hold_source();
  if (m.holds.empty()) return encode(m);
  std::string text = encode(m);
  if (text.size() <= options_.max_message_bytes) return text;
  // Too many long reasons: the holds themselves matter, their reasons' tails do not.
  for (auto& h : m.holds) {
    for (auto* hold : {&h.state.freeze, &h.state.pin}) {
      if (*hold && (*hold)->reason.size() > 64) {
        auto& reason = (*hold)->reason;
        std::size_t end = 64;  // back up over continuation bytes: no character cut in half
        while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
        reason.resize(end);
      }
    }
  }
  text = encode(m);
  if (text.size() <= options_.max_message_bytes) return text;
  log::warn("holds left out of the peer message: too large",
            {{"holds", m.holds.size()}, {"bytes", text.size()}});
  m.holds.clear();
  return encode(m);
}

std::optional<std::string> PeerExchange::Impl::start() {
  if (started_) return "already started";
  if (auto err = setup_tls(server_ctx_, options_.cluster, true)) return err;
  if (auto err = setup_tls(client_ctx_, options_.cluster, false)) return err;
  const auto& listen = options_.cluster.listen;
  const std::string where = address_of(listen);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(listen.host, ec);
  if (ec) return "cluster.listen " + where + " is not an IP address";
  tcp::endpoint endpoint(address, listen.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return "bind " + where + ": " + ec.message();
  }
  started_ = true;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  for (std::size_t i = 0; i < slots_.size(); ++i) asio::co_spawn(io_, poll(i), asio::detached);
  return std::nullopt;
}

void PeerExchange::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& slot : slots_) {
    slot.timer->cancel();
    if (slot.conn) beast::get_lowest_layer(*slot.conn).socket().close(ignored);
  }
  for (auto& [id, c] : connections_) {
    if (c.stream != nullptr) c.stream->socket().close(ignored);
  }
}

void PeerExchange::Impl::refuse(Refusal reason, std::string why) {
  const auto kind = static_cast<std::size_t>(reason);
  ++stats_.refused;
  ++stats_.refused_by[kind];
  // A scanner, a flood or a misconfigured peer retries: log each kind at most once per
  // kRefusalLogEvery, with how many went unlogged in between.
  auto& rl = refusal_logs_[kind];
  const auto now = core::Clock::now();
  if (!rl.last_logged || now - *rl.last_logged >= kRefusalLogEvery) {
    log::warn(
        "peer request refused",
        {{"kind", std::string(to_string(reason))}, {"reason", why}, {"unlogged", rl.unlogged}});
    rl.last_logged = now;
    rl.unlogged = 0;
  } else {
    ++rl.unlogged;
  }
  stats_.last_refusal = std::move(why);
}

bool PeerExchange::Impl::is_peer_address(const asio::ip::address& a) const {
  return std::any_of(slots_.begin(), slots_.end(),
                     [&](const Slot& s) { return s.fixed_address == a || s.learned_address == a; });
}

// Open connections in `pool` (from `source` only, unless null); evicted ones count for nothing.
std::size_t PeerExchange::Impl::count(Pool pool, const asio::ip::address* source) const {
  std::size_t n = 0;
  for (const auto& [id, c] : connections_) {
    if (!c.evicted && c.pool == pool && (source == nullptr || c.source == *source)) ++n;
  }
  return n;
}

void PeerExchange::Impl::evict_oldest(Pool pool, const asio::ip::address* source) {
  for (auto& [id, c] : connections_) {
    if (c.evicted || c.pool != pool || (source != nullptr && c.source != *source)) continue;
    c.evicted = true;
    boost::system::error_code ignored;
    if (c.stream != nullptr) c.stream->socket().close(ignored);  // else serve() has not begun
    refuse(Refusal::Evicted,
           "unauthenticated connection from " + c.source.to_string() + " evicted for a newer one");
    return;
  }
}

asio::awaitable<void> PeerExchange::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (stopped_) break;
    if (!ec) ++stats_.accepted;
    if (ec) {
      // EMFILE and friends: pause instead of spinning on the error.
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    boost::system::error_code ep_ec;
    const auto remote = socket.remote_endpoint(ep_ec);
    if (ep_ec) continue;  // already gone; the socket closes with it
    const auto source = plain(remote.address());
    // A configured peer's address has its own reserve; strangers share theirs, a few per
    // address, the oldest making way for the newest. Neither can take the other's.
    Pool pool = Pool::Stranger;
    if (is_peer_address(source)) {
      pool = Pool::PeerAddress;
      if (count(pool, &source) >= options_.connections_per_peer_address) {
        evict_oldest(pool, &source);
      }
    } else if (count(pool, &source) >= options_.connections_per_source) {
      boost::system::error_code ignored;
      socket.close(ignored);
      refuse(Refusal::SourceLimit, "more than " + std::to_string(options_.connections_per_source) +
                                       " unauthenticated connections from " + source.to_string());
      continue;
    } else if (count(pool, nullptr) >= options_.stranger_connections) {
      evict_oldest(pool, nullptr);
    }
    // Counted from now, not from when serve() first runs.
    const std::uint64_t id = next_connection_id_++;
    connections_.emplace(id, Connection{nullptr, source, pool, {}, false});
    asio::co_spawn(io_, serve(std::move(socket), id), asio::detached);
  }
}

asio::awaitable<void> PeerExchange::Impl::serve(tcp::socket socket, std::uint64_t id) {
  auto self = shared_from_this();
  struct Forget {
    Impl& impl;
    std::uint64_t id;
    ~Forget() { impl.connections_.erase(id); }
  } forget{*this, id};
  // std::map: the reference stays valid until `forget` erases the entry.
  Connection& conn = connections_.at(id);
  if (stopped_ || conn.evicted) co_return;
  // The address without the port, so a client that keeps failing repeats one log line.
  const std::string remote = conn.source.to_string();
  TlsStream stream(beast::tcp_stream(std::move(socket)), server_ctx_);
  auto& lowest = beast::get_lowest_layer(stream);
  conn.stream = &lowest;

  // A stranger has a short deadline for its handshake, so an idle one holds its slot briefly;
  // a peer's address has its own reserve and the whole request_timeout.
  const bool stranger = conn.pool == Pool::Stranger;
  lowest.expires_after(stranger ? std::min(options_.handshake_timeout, options_.request_timeout)
                                : options_.request_timeout);
  auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
  if (hs_ec) {
    if (stopped_ || conn.evicted) co_return;  // an eviction was counted when it happened
    if (hs_ec == beast::error::timeout) {
      refuse(stranger ? Refusal::HandshakeTimeout : Refusal::Handshake,
             "TLS handshake from " + remote + ": " + describe_error(hs_ec));
    } else {
      refuse(Refusal::Handshake, "TLS handshake from " + remote + ": " + describe_error(hs_ec));
    }
    co_return;
  }
  ++stats_.handshakes;
  const CertIdentity client = identity_of(stream.native_handle());
  const NamedObserver named = named_observer(client, observers_);
  const bool known = named.id.has_value() && *named.id != options_.self;
  if (known) {
    // Authenticated: from here on it counts against this peer's own budget, never a stranger's.
    std::size_t same = 0;
    for (const auto& [other, c] : connections_) {
      if (!c.evicted && c.pool == Pool::Peer && c.peer == *named.id) ++same;
    }
    if (same >= options_.connections_per_peer) {
      refuse(Refusal::PeerLimit, "more than " + std::to_string(options_.connections_per_peer) +
                                     " connections at once of peer '" + named.id->str() + "'");
      co_return;
    }
    conn.pool = Pool::Peer;
    conn.peer = *named.id;
    lowest.expires_after(options_.request_timeout);
  }

  // One buffer for the connection's life: bytes a peer sent past one request (pipelined) are
  // the start of the next. Its maximum bounds what one connection can make us hold.
  beast::flat_buffer buffer(kMaxHeaderBytes + 1024);
  for (std::size_t answered = 0;; ++answered) {
    if (answered > 0) {
      // Kept open after a 200 for the peer's next request: idle for at most idle_timeout(); its
      // end (the timeout, the peer closing, stop()) is no refusal. Then the whole request has
      // request_timeout from its first byte.
      if (buffer.size() == 0) {
        lowest.expires_after(idle_timeout());
        const std::size_t room = std::min<std::size_t>(4096, buffer.max_size() - buffer.size());
        auto [wait_ec, got] = co_await stream.async_read_some(buffer.prepare(room), kNoThrow);
        buffer.commit(got);
        if (wait_ec || stopped_ || conn.evicted) break;
      }
      lowest.expires_after(options_.request_timeout);
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
    parser.body_limit(1024);
    auto [read_ec, read_bytes] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    (void)read_bytes;
    if (stopped_) co_return;
    // A request Beast could not parse gets a 400; a timeout or a reset just ends it.
    const auto& http_errors = http::make_error_code(http::error::bad_target).category();
    const bool malformed =
        read_ec && read_ec.category() == http_errors && read_ec != http::error::end_of_stream;
    if (read_ec && !malformed) {
      if (!conn.evicted) {
        refuse(Refusal::Unread, "reading request from " + remote + ": " + describe_error(read_ec));
      }
      co_return;
    }
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::ok, malformed ? 11u : req.version()};
    res.set(http::field::server, "failoverd");
    bool keep = false;
    if (malformed) {
      res.result(http::status::bad_request);
      res.body() = "malformed request\n";
      refuse(Refusal::Malformed, "malformed request from " + remote + ": " + read_ec.message());
    } else if (!known) {
      res.result(http::status::forbidden);
      res.body() = named.ambiguous ? "client certificate names more than one configured observer\n"
                                   : "client certificate names no configured peer\n";
      refuse(Refusal::NotAPeer,
             "client " + remote + ": " +
                 (named.id ? "certificate " + describe(client) + " names this observer itself"
                           : named.error));
    } else if (req.target() != kPath) {
      res.result(http::status::not_found);
      res.body() = "not found\n";
      refuse(Refusal::NotFound, "unknown path from " + remote);
    } else if (req.method() != http::verb::get) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET");
      res.body() = "only GET\n";
      refuse(Refusal::Method, "method " + std::string(req.method_string()) + " from " + remote);
    } else {
      res.set(http::field::content_type, "application/json");
      res.body() = next_message();
      ++stats_.served;
      keep = req.keep_alive() &&
             answered + 1 < std::max<std::size_t>(1, options_.requests_per_connection);
    }
    res.keep_alive(keep);
    if (res.result() != http::status::ok) res.set(http::field::content_type, "text/plain");
    res.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, res, kNoThrow);
    (void)written;
    if (write_ec || stopped_) break;
    if (!keep) {
      // Best effort close_notify, still under the request's deadline.
      co_await stream.async_shutdown(kNoThrow);
      break;
    }
  }
  lowest.close();
}

std::chrono::milliseconds PeerExchange::Impl::idle_timeout() const {
  if (options_.idle_timeout > std::chrono::milliseconds::zero()) return options_.idle_timeout;
  const auto interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.cluster.exchange_interval);
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(30), 3 * interval);
}

namespace {

// True when a kept connection cannot carry the next request: closed, the server closed its
// side (EOF), or it sent something unasked (a close_notify, or worse). Looks without reading.
bool unusable(TlsStream& stream) {
  auto& socket = beast::get_lowest_layer(stream).socket();
  if (!socket.is_open()) return true;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

}  // namespace

void PeerExchange::Impl::drop(Slot& slot) {
  if (!slot.conn) return;
  boost::system::error_code ignored;
  beast::get_lowest_layer(*slot.conn).socket().close(ignored);
  slot.conn.reset();
}

asio::awaitable<PeerExchange::Impl::Fetched> PeerExchange::Impl::fetch(Slot& slot) {
  const auto deadline = core::Clock::now() + options_.request_timeout;
  // A kept connection is used unless it is plainly stale; the server closes one idle for
  // idle_timeout(), so one idle for half of that is given up rather than raced.
  bool reused = false;
  if (slot.conn) {
    if (core::Clock::now() - slot.conn_idle_since > idle_timeout() / 2 || unusable(*slot.conn)) {
      drop(slot);
    } else {
      reused = true;
    }
  }
  for (;;) {
    Fetched out;
    if (!slot.conn) {
      slot.conn = std::make_unique<TlsStream>(io_, client_ctx_);
      beast::get_lowest_layer(*slot.conn).expires_at(deadline);
      out.error = co_await open(slot);
      if (!out.error.empty() || stopped_) {
        drop(slot);
        co_return out;
      }
    }
    beast::get_lowest_layer(*slot.conn).expires_at(deadline);
    bool before_response = false;
    const bool keep = co_await ask(slot, out, before_response);
    if (out.error.empty() && keep && !stopped_) {
      beast::get_lowest_layer(*slot.conn).expires_never();
      slot.conn_idle_since = core::Clock::now();
      out.identity = slot.conn_identity;
      co_return out;
    }
    out.identity = slot.conn_identity;
    drop(slot);
    // The peer restarted, or closed the connection as idle just as it was used: nothing of an
    // answer came, so ask again at once on a new connection, once, within the same deadline.
    if (!out.error.empty() && reused && before_response && !stopped_ &&
        core::Clock::now() < deadline) {
      reused = false;
      ++slot.status.retries;
      log::debug("kept peer connection failed, retrying on a new one",
                 {{"peer", slot.peer.id.str()}, {"error", out.error}});
      continue;
    }
    co_return out;
  }
}

// Connects slot.conn (already under the fetch's deadline) and checks the server's identity.
asio::awaitable<std::string> PeerExchange::Impl::open(Slot& slot) {
  TlsStream& stream = *slot.conn;
  const auto& where = slot.status.address;
  const auto timeout = options_.request_timeout;
  const auto timed_out = "timed out after " + std::to_string(timeout.count()) + "ms";
  auto& lowest = beast::get_lowest_layer(stream);

  boost::system::error_code ec;
  const auto& hp = slot.peer.address;
  auto address = asio::ip::make_address(hp.host, ec);
  if (!ec) {
    auto [connect_ec] = co_await lowest.async_connect(tcp::endpoint(address, hp.port), kNoThrow);
    ec = connect_ec;
  } else {
    // A host name: resolve under the same deadline. The resolver cannot take a deadline, so a
    // watchdog timer cancels it; it holds only a weak reference in case the resolve wins.
    auto resolver = std::make_shared<tcp::resolver>(io_);
    asio::steady_timer watchdog(io_, timeout);
    watchdog.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](auto wait_ec) {
      if (auto r = weak.lock(); r && !wait_ec) r->cancel();
    });
    auto [resolve_ec, results] =
        co_await resolver->async_resolve(hp.host, std::to_string(hp.port), kNoThrow);
    watchdog.cancel();
    if (resolve_ec) {
      co_return "resolve " + hp.host + ": " +
          (resolve_ec == asio::error::operation_aborted ? timed_out : resolve_ec.message());
    }
    auto [connect_ec, ep] = co_await lowest.async_connect(results, kNoThrow);
    (void)ep;
    ec = connect_ec;
  }
  if (ec) {
    co_return "connect " + where + ": " + (ec == beast::error::timeout ? timed_out : ec.message());
  }
  // Where the peer is now: its connections from there get the peer-address reserve.
  if (auto ep = lowest.socket().remote_endpoint(ec); !ec)
    slot.learned_address = plain(ep.address());
  auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
  if (hs_ec) {
    co_return "TLS handshake with " + where + ": " +
        (hs_ec == beast::error::timeout ? timed_out : describe_error(hs_ec));
  }
  ++slot.status.connections;
  slot.conn_identity = identity_of(stream.native_handle());
  const NamedObserver named = named_observer(slot.conn_identity, observers_);
  if (named.ambiguous) co_return "server certificate at " + where + ": " + named.error;
  if (named.id != slot.peer.id) {
    co_return "server certificate at " + where + " names " + describe(slot.conn_identity) +
        ", not '" + slot.peer.id.str() + "'";
  }
  co_return std::string();
}

// One request on slot.conn and its response into `out`. Returns whether the connection may
// carry the next request; before_response tells whether it failed before any byte of an answer.
asio::awaitable<bool> PeerExchange::Impl::ask(Slot& slot, Fetched& out, bool& before_response) {
  TlsStream& stream = *slot.conn;
  const auto& where = slot.status.address;
  const auto timed_out =
      "timed out after " + std::to_string(options_.request_timeout.count()) + "ms";
  http::request<http::empty_body> req{http::verb::get, kPath, 11};
  req.set(http::field::host, where);
  req.set(http::field::user_agent, "failoverd");
  req.keep_alive(true);
  auto [write_ec, written] = co_await http::async_write(stream, req, kNoThrow);
  (void)written;
  if (write_ec) {
    before_response = true;
    out.error = "sending request to " + where + ": " +
                (write_ec == beast::error::timeout ? timed_out : describe_error(write_ec));
    co_return false;
  }
  // The buffer's maximum bounds what a hostile peer can make us hold, headers included.
  beast::flat_buffer buffer(kMaxHeaderBytes + options_.max_message_bytes);
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(options_.max_message_bytes);
  auto [read_ec, read_bytes] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  (void)read_bytes;
  if (read_ec == http::error::body_limit || read_ec == http::error::buffer_overflow) {
    out.error = "response from " + where + " is larger than " +
                std::to_string(options_.max_message_bytes) + " bytes";
  } else if (read_ec == http::error::header_limit) {
    out.error = "response headers from " + where + " are larger than " +
                std::to_string(kMaxHeaderBytes) + " bytes";
  } else if (read_ec) {
    before_response = !parser.got_some() && buffer.size() == 0;
    out.error = "reading response from " + where + ": " +
                (read_ec == beast::error::timeout ? timed_out : describe_error(read_ec));
  } else if (parser.get().result_int() != 200) {
    out.error = "HTTP status " + std::to_string(parser.get().result_int()) + " from " + where;
  } else {
    out.body = std::move(parser.get().body());
  }
  if (read_ec) co_return false;
  // Anything left over was not asked for; a response that ends at EOF or says close ends it.
  co_return parser.get().keep_alive() && !parser.get().need_eof() && buffer.size() == 0;
}

void PeerExchange::Impl::fail(Slot& slot, std::string error, bool rejected) {
  auto& s = slot.status;
  ++s.failures;
  ++s.consecutive_failures;
  if (rejected) ++s.rejected;
  if (error != s.last_error) {
    log::warn("peer gives no vote",
              {{"peer", slot.peer.id.str()}, {"address", s.address}, {"error", error}});
  }
  s.last_error = std::move(error);
}

void PeerExchange::Impl::record(Slot& slot, Fetched fetched, core::TimePoint now) {
  auto& s = slot.status;
  ++s.fetches;
  if (!fetched.error.empty()) return fail(slot, std::move(fetched.error), false);
  auto decoded = decode(fetched.body, options_.max_holds);
  if (!decoded.ok())
    return fail(slot, "bad message from " + s.address + ": " + decoded.error, true);
  const PeerMessage& m = *decoded.message;
  if (m.observer != slot.peer.id) {
    return fail(slot,
                "peer at " + s.address + " answered as '" + m.observer.str() + "', expected '" +
                    slot.peer.id.str() + "'",
                true);
  }
  Acceptance a = book_.accept(m, fetched.identity, now);
  if (const PeerRecord* r = book_.find(slot.peer.id)) {
    s.last_seen = r->last_received;
    s.peer_fingerprint = r->fingerprint;
  }
  switch (a.outcome) {
    case Outcome::Rejected:
      return fail(slot, std::string(to_string(a.reason)) + ": " + a.detail, true);
    case Outcome::NoVote:
      // Authentic and reachable, so no backoff; but no vote, and said so once.
      if (!s.config_mismatch) {
        log::warn("peer running a different config",
                  {{"peer", slot.peer.id.str()}, {"detail", a.detail}});
      }
      s.config_mismatch = true;
      s.consecutive_failures = 0;
      s.last_error = a.detail;
      return;
    case Outcome::Accepted:
      if (!s.last_error.empty()) log::info("peer votes again", {{"peer", slot.peer.id.str()}});
      s.config_mismatch = false;
      s.consecutive_failures = 0;
      s.last_error.clear();
      if (options_.on_holds && !m.holds.empty()) options_.on_holds(m.observer, m.holds);
      return;
  }
}

asio::awaitable<void> PeerExchange::Impl::poll(std::size_t index) {
  auto self = shared_from_this();
  Slot& slot = slots_[index];
  const auto interval =
      std::chrono::duration_cast<core::Duration>(options_.cluster.exchange_interval);
  // Spread the first fetches over one interval, so observers started together do not all ask at
  // the same instant (K2).
  std::uniform_int_distribution<core::Duration::rep> first(
      0, std::max<core::Duration::rep>(0, interval.count()));
  slot.timer->expires_after(core::Duration(first(rng_)));
  co_await slot.timer->async_wait(kNoThrow);
  while (!stopped_) {
    Fetched fetched = co_await fetch(slot);
    if (stopped_) break;
    const auto now = core::Clock::now();
    slot.last_fetch = now;
    record(slot, std::move(fetched), now);
    core::Duration delay = interval;
    if (slot.status.consecutive_failures > 0) {
      // Short by default: a handful of peers asked once per interval costs nothing, and a peer
      // that is back (restarted, partition healed, a flood over) must count again soon.
      const auto cap =
          options_.backoff_cap > core::Duration::zero() ? options_.backoff_cap : interval;
      delay += core::backoff_delay(core::BackoffPolicy{interval, cap},
                                   slot.status.consecutive_failures - 1, rng_);
    } else if (now < hurry_until_) {
      delay = std::min(delay, hurry_every_);
    }
    // hurry() may bring next_fetch forward; it wakes the wait, which then waits for the rest.
    slot.next_fetch = now + delay;
    slot.resting = true;
    while (!stopped_ && core::Clock::now() < slot.next_fetch) {
      slot.timer->expires_at(slot.next_fetch);
      co_await slot.timer->async_wait(kNoThrow);
    }
    slot.resting = false;
  }
}

void PeerExchange::Impl::hurry(core::Duration every, core::TimePoint until) {
  if (stopped_ || !started_ || every <= core::Duration::zero()) return;
  hurry_every_ = every;
  hurry_until_ = std::max(hurry_until_, until);
  const auto now = core::Clock::now();
  for (auto& slot : slots_) {
    // Only a peer between two fetches that answered its last one: never one in backoff (no
    // retry storm), never one still in its first, spread-out wait (K2).
    if (!slot.resting || slot.status.consecutive_failures > 0) continue;
    const auto sooner = std::max(now, slot.last_fetch + every);
    if (sooner >= slot.next_fetch) continue;
    slot.next_fetch = sooner;
    slot.timer->cancel();
  }
}

PeerExchange::PeerExchange(asio::io_context& io, ExchangeOptions options, VerdictSource source)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(source))) {}

PeerExchange::~PeerExchange() {
  stop();
}

std::optional<std::string> PeerExchange::start() {
  return impl_->start();
}

void PeerExchange::stop() {
  if (impl_) impl_->stop();
}

void PeerExchange::hurry(core::Duration every, core::TimePoint until) {
  impl_->hurry(every, until);
}

std::uint16_t PeerExchange::local_port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

std::vector<core::Vote> PeerExchange::votes(core::TimePoint now) const {
  return impl_->book_.votes(now);
}

std::vector<PeerStatus> PeerExchange::status() const {
  std::vector<PeerStatus> out;
  for (const auto& slot : impl_->slots_) out.push_back(slot.status);
  return out;
}

ServerStats PeerExchange::server_stats() const {
  return impl_->stats_;
}

std::string PeerExchange::next_message() {
  return impl_->next_message();
}

}  // namespace failoverd::peer
