// Loopback tests of the peer exchange: real TLS on 127.0.0.1 with a throwaway CA made here.
//
// Everything (exchanges, fake peers, raw clients) runs on one io_context driven by run_until(),
// which stops at the awaited condition or a time limit, so no test sleeps to synchronise.
#include "peer/exchange.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <filesystem>
#include <functional>
#include <map>

#include "peer/peer_book.h"

using namespace failoverd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// ---- a throwaway PKI (OpenSSL 3 API; P-256 keys, so it takes milliseconds) ----

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` (with SAN DNS names `san`, comma-separated, unless empty), signed by
// issuer (self-signed CA when issuer is null).
Cert make_cert(EVP_PKEY* key, const std::string& cn, const std::string& san, X509* issuer,
               EVP_PKEY* issuer_key) {
  static long serial = 1;
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (issuer == nullptr) {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), signer, NID_basic_constraints, "CA:FALSE");
    add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    if (!san.empty()) {
      std::string names;
      for (std::size_t at = 0; at <= san.size();) {
        const auto comma = std::min(san.find(',', at), san.size());
        names += (names.empty() ? "DNS:" : ",DNS:") + san.substr(at, comma - at);
        at = comma + 1;
      }
      add_ext(cert.get(), signer, NID_subject_alt_name, names.c_str());
    }
  }
  REQUIRE(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

void write_pem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  REQUIRE(bio != nullptr);
  if (cert != nullptr) PEM_write_bio_X509(bio, cert);
  if (key != nullptr) PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(bio);
}

// Files: ca.pem (the cluster CA), NAME.pem / NAME.key for obs-a, obs-b, obs-c, obs-x (a valid
// certificate for an observer no one configured), rogue-b (names obs-b, from another CA),
// cn-only-b (CN=obs-b, no SAN), cn-b-san-x (CN=obs-b, SAN obs-x) and two-bc (CN=obs-b, SAN obs-b
// and obs-c).
struct Pki {
  Pki() {
    dir = std::filesystem::temp_directory_path() /
          ("failoverd-peer-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    Key ca_key(EVP_EC_gen("P-256"));
    Cert ca = make_cert(ca_key.get(), "failoverd test CA", "", nullptr, nullptr);
    write_pem(dir / "ca.pem", ca.get(), nullptr);
    for (const char* id : {"obs-a", "obs-b", "obs-c", "obs-x"}) {
      Key key(EVP_EC_gen("P-256"));
      Cert cert = make_cert(key.get(), id, id, ca.get(), ca_key.get());
      write_pem(dir / (std::string(id) + ".pem"), cert.get(), nullptr);
      write_pem(dir / (std::string(id) + ".key"), nullptr, key.get());
    }
    Key cn_key(EVP_EC_gen("P-256"));
    Cert cn_only = make_cert(cn_key.get(), "obs-b", "", ca.get(), ca_key.get());
    write_pem(dir / "cn-only-b.pem", cn_only.get(), nullptr);
    write_pem(dir / "cn-only-b.key", nullptr, cn_key.get());
    for (const auto& [file, san] :
         {std::pair<std::string, std::string>{"cn-b-san-x", "obs-x"}, {"two-bc", "obs-b,obs-c"}}) {
      Key key(EVP_EC_gen("P-256"));
      Cert cert = make_cert(key.get(), "obs-b", san, ca.get(), ca_key.get());
      write_pem(dir / (file + ".pem"), cert.get(), nullptr);
      write_pem(dir / (file + ".key"), nullptr, key.get());
    }

    Key other_ca_key(EVP_EC_gen("P-256"));
    Cert other_ca = make_cert(other_ca_key.get(), "another CA", "", nullptr, nullptr);
    Key rogue_key(EVP_EC_gen("P-256"));
    Cert rogue = make_cert(rogue_key.get(), "obs-b", "obs-b", other_ca.get(), other_ca_key.get());
    write_pem(dir / "rogue-b.pem", rogue.get(), nullptr);
    write_pem(dir / "rogue-b.key", nullptr, rogue_key.get());
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string ca() const { return (dir / "ca.pem").string(); }
  std::string cert(const std::string& name) const { return (dir / (name + ".pem")).string(); }
  std::string key(const std::string& name) const { return (dir / (name + ".key")).string(); }

  std::filesystem::path dir;
};

const Pki& pki() {
  static Pki instance;
  return instance;
}

// ---- driving the io_context ----

template <typename Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(5ms);
  }
  return true;
}

// Lets stopped exchanges' coroutines unwind before the io_context goes away.
void drain(asio::io_context& io) {
  io.restart();
  io.run_for(200ms);
}

// A port that was free a moment ago (for exchanges that must know each other's ports up front).
std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// ---- exchanges under test ----

std::vector<peer::RegionVerdict> verdicts_of(const std::string& self) {
  return {{core::RegionId("use1"), core::Verdict::Down, self + " sees use1 down"},
          {core::RegionId("euw1"), core::Verdict::Up, ""}};
}

const std::string kFingerprint(64, 'f');

struct Node {
  Node(asio::io_context& io, const std::string& self, std::uint16_t port,
       std::vector<std::pair<std::string, std::uint16_t>> peers,
       const std::string& fingerprint = kFingerprint, std::string cert_name = "",
       std::chrono::milliseconds request_timeout = 1000ms,
       std::chrono::milliseconds exchange_interval = 50ms,
       const std::function<void(peer::ExchangeOptions&)>& tweak = {}) {
    if (cert_name.empty()) cert_name = self;
    peer::ExchangeOptions o;
    o.self = core::ObserverId(self);
    o.cluster.listen = {"127.0.0.1", port};
    o.cluster.exchange_interval = exchange_interval;
    o.cluster.verdict_ttl = 2s;
    o.cluster.ca_file = pki().ca();
    o.cluster.cert_file = pki().cert(cert_name);
    o.cluster.key_file = pki().key(cert_name);
    for (const auto& [id, p] : peers)
      o.cluster.peers.push_back({core::ObserverId(id), {"127.0.0.1", p}});
    o.config_fingerprint = fingerprint;
    o.request_timeout = request_timeout;
    o.backoff_cap = 200ms;
    if (tweak) tweak(o);
    exchange = std::make_unique<peer::PeerExchange>(io, o, [self] { return verdicts_of(self); });
    auto err = exchange->start();
    REQUIRE_MESSAGE(!err.has_value(), err.value_or(""));
  }

  peer::PeerStatus status(const std::string& id) const {
    for (const auto& s : exchange->status()) {
      if (s.id == core::ObserverId(id)) return s;
    }
    FAIL("no such peer " << id);
    return {};
  }
  // Fresh votes by observer.
  std::map<std::string, std::vector<core::Vote>> votes() const {
    std::map<std::string, std::vector<core::Vote>> out;
    for (auto& v : exchange->votes(core::Clock::now())) out[v.observer.str()].push_back(v);
    return out;
  }

  std::unique_ptr<peer::PeerExchange> exchange;
};

// ---- a fake peer: a raw TLS server answering every request with canned bytes ----

// Its state is shared with the serving coroutine, which may still be finishing a connection
// after the FakePeer itself is gone.
class FakePeer {
 public:
  FakePeer(asio::io_context& io, const std::string& cert_name, std::string reply)
      : state_(std::make_shared<State>(io, std::move(reply))) {
    auto& ctx = state_->ctx;
    ctx.load_verify_file(pki().ca());
    ctx.use_certificate_chain_file(pki().cert(cert_name));
    ctx.use_private_key_file(pki().key(cert_name), ssl::context::pem);
    ctx.set_verify_mode(ssl::verify_peer);
    auto& acceptor = state_->acceptor;
    acceptor.open(tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
    asio::co_spawn(io, loop(state_), asio::detached);
  }
  ~FakePeer() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;

  std::uint16_t port() const { return state_->acceptor.local_endpoint().port(); }
  int requests() const { return state_->requests; }

 private:
  struct State {
    State(asio::io_context& io, std::string r)
        : ctx(ssl::context::tls_server), acceptor(io), reply(std::move(r)) {}
    ssl::context ctx;
    tcp::acceptor acceptor;
    std::string reply;
    int requests = 0;
  };

  static asio::awaitable<void> loop(std::shared_ptr<State> state) {
    for (;;) {
      auto [ec, socket] = co_await state->acceptor.async_accept(kNoThrow);
      if (ec) co_return;
      ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), state->ctx);
      beast::get_lowest_layer(stream).expires_after(2s);
      auto [hs] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
      if (hs) continue;
      beast::flat_buffer buffer;
      beast::http::request<beast::http::string_body> req;
      auto [rd, n] = co_await beast::http::async_read(stream, buffer, req, kNoThrow);
      (void)n;
      if (rd) continue;
      ++state->requests;
      auto [wr, m] = co_await asio::async_write(stream, asio::buffer(state->reply), kNoThrow);
      (void)wr;
      (void)m;
      beast::get_lowest_layer(stream).close();
    }
  }

  std::shared_ptr<State> state_;
};

std::string http_200(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// ---- a raw TLS client: one request, the whole answer or the error ----

struct RawClient {
  // cert_name empty: no client certificate. ca: the CA to verify the server with.
  explicit RawClient(const std::string& cert_name, const std::string& ca = pki().ca())
      : ctx(ssl::context::tls_client) {
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer);
    if (!cert_name.empty()) {
      ctx.use_certificate_chain_file(pki().cert(cert_name));
      ctx.use_private_key_file(pki().key(cert_name), ssl::context::pem);
    }
  }

  // Sends `request` to 127.0.0.1:port and collects the answer until the server closes, on `io`,
  // bounded by run_until. The default request asks the server to close after its answer (a
  // peer's 200 otherwise keeps the connection open for the next request).
  void get(asio::io_context& io, std::uint16_t port,
           std::string request =
               "GET /v1/peer/verdicts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") {
    done = false;
    response.clear();
    error.clear();
    asio::co_spawn(io, run(io, port, std::move(request)), asio::detached);
    REQUIRE(run_until(io, [&] { return done; }));
  }

  asio::awaitable<void> run(asio::io_context& io, std::uint16_t port, std::string request) {
    ssl::stream<beast::tcp_stream> stream(io, ctx);
    beast::get_lowest_layer(stream).expires_after(2s);
    auto [c] = co_await beast::get_lowest_layer(stream).async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), kNoThrow);
    boost::system::error_code ec = c;
    if (!ec) std::tie(ec) = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
    if (!ec) {
      auto [w, n] = co_await asio::async_write(stream, asio::buffer(request), kNoThrow);
      (void)n;
      ec = w;
    }
    if (!ec) {
      // Until the server closes; a clean close_notify or a bare EOF both end the answer.
      auto [r, n] =
          co_await asio::async_read(stream, asio::dynamic_buffer(response, 1 << 20), kNoThrow);
      (void)n;
      if (r != asio::error::eof && r != ssl::error::stream_truncated) ec = r;
    }
    if (ec) error = ec.message();
    done = true;
  }

  std::string body() const {
    auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : response.substr(at + 4);
  }

  ssl::context ctx;
  std::string response;
  std::string error;
  bool done = false;
};

// ---- a flood of strangers: connections that never become a peer's request ----

// The first flight of a TLS client (a ClientHello), made with memory BIOs: sent alone, it starts
// a handshake the server must wait on.
std::string client_hello() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // the SSL owns both now
  SSL_set_connect_state(ssl);
  REQUIRE(SSL_do_handshake(ssl) != 1);  // wants the server's answer
  std::string hello(BIO_ctrl_pending(out), '\0');
  REQUIRE(BIO_read(out, hello.data(), static_cast<int>(hello.size())) ==
          static_cast<int>(hello.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

// `count` connections to 127.0.0.1:port, each bound to a source address 127.0.0.N with
// N = first + i / per_address (none of them a configured peer's 127.0.0.1). By its number each
// one stays silent, sends garbage once, or sends a ClientHello and stalls (all stay silent unless
// `mixed`); then it waits for the server to close it, and reconnects after `pause`. Bounded: each
// reconnects at most kMaxRounds times, and stop() (also the destructor) closes them all.
class Flood {
 public:
  Flood(asio::io_context& io, std::uint16_t port, std::size_t count, std::size_t per_address = 4,
        int first = 5, std::chrono::milliseconds pause = 100ms, bool mixed = true)
      : state_(std::make_shared<State>(io, port, pause, mixed)) {
    state_->sockets.resize(count);
    state_->timers.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      const auto source = asio::ip::make_address_v4(
          "127.0.0." + std::to_string(first + static_cast<int>(i / per_address)));
      asio::co_spawn(io, hold(state_, i, source), asio::detached);
    }
  }
  ~Flood() { stop(); }
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  void stop() {
    state_->stopped = true;
    boost::system::error_code ignored;
    for (auto& s : state_->sockets) {
      if (s) s->close(ignored);
    }
    for (auto& t : state_->timers) {
      if (t) t->cancel();
    }
  }
  std::size_t connects() const { return state_->connects; }  // connections made so far
  std::size_t open() const { return state_->open; }          // connected now

 private:
  static constexpr int kMaxRounds = 500;
  struct State {
    State(asio::io_context& i, std::uint16_t p, std::chrono::milliseconds w, bool m)
        : io(i), port(p), pause(w), mixed(m), hello(client_hello()) {}
    asio::io_context& io;
    std::uint16_t port;
    std::chrono::milliseconds pause;
    bool mixed;
    std::string hello;
    std::vector<std::shared_ptr<tcp::socket>> sockets;
    std::vector<std::shared_ptr<asio::steady_timer>> timers;
    bool stopped = false;
    std::size_t connects = 0;
    std::size_t open = 0;
  };

  static asio::awaitable<void> hold(std::shared_ptr<State> st, std::size_t n,
                                    asio::ip::address_v4 source) {
    const std::string garbage = "\x00\xffGET / HTTP/1.1 not TLS at all\r\n\r\n";
    for (int round = 0; round < kMaxRounds && !st->stopped; ++round) {
      auto socket = std::make_shared<tcp::socket>(st->io);
      st->sockets[n] = socket;
      boost::system::error_code ec;
      socket->open(tcp::v4(), ec);
      if (!ec) socket->bind(tcp::endpoint(source, 0), ec);
      if (ec) {
        FAIL_CHECK("binding a flood socket to ", source.to_string(), ": ", ec.message());
        co_return;
      }
      auto [connect_ec] = co_await socket->async_connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.1"), st->port), kNoThrow);
      if (!connect_ec && !st->stopped) {
        ++st->connects;
        ++st->open;
        const std::size_t kind = st->mixed ? n % 3 : 0;
        const std::string& payload = kind == 1 ? garbage : st->hello;
        if (kind != 0) {
          auto [w, written] = co_await asio::async_write(*socket, asio::buffer(payload), kNoThrow);
          (void)w;
          (void)written;
        }
        // Read (and ignore) whatever comes until the server closes the connection.
        std::array<char, 4096> sink{};
        for (;;) {
          auto [r, got] = co_await socket->async_read_some(asio::buffer(sink), kNoThrow);
          (void)got;
          if (r) break;
        }
        --st->open;
      }
      socket->close(ec);
      if (st->stopped) break;
      auto wait = std::make_shared<asio::steady_timer>(st->io, st->pause);
      st->timers[n] = wait;
      co_await wait->async_wait(kNoThrow);
    }
  }

  std::shared_ptr<State> state_;
};

// ---- a peer that drops its kept connections: answers `answers` requests on each connection
// (fresh messages of `source`, kept alive), then closes the connection when the next request
// arrives, without a byte of an answer: what a client sees when the peer restarted, or closed
// the connection as idle, just as the client reused it ----

class DroppingPeer {
 public:
  DroppingPeer(asio::io_context& io, const std::string& cert_name, int answers,
               std::function<std::string()> source)
      : state_(std::make_shared<State>(io, answers, std::move(source))) {
    auto& ctx = state_->ctx;
    ctx.load_verify_file(pki().ca());
    ctx.use_certificate_chain_file(pki().cert(cert_name));
    ctx.use_private_key_file(pki().key(cert_name), ssl::context::pem);
    ctx.set_verify_mode(ssl::verify_peer);
    auto& acceptor = state_->acceptor;
    acceptor.open(tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
    asio::co_spawn(io, loop(state_), asio::detached);
  }
  ~DroppingPeer() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }
  DroppingPeer(const DroppingPeer&) = delete;
  DroppingPeer& operator=(const DroppingPeer&) = delete;

  std::uint16_t port() const { return state_->acceptor.local_endpoint().port(); }
  int connections() const { return state_->connections; }
  int answered() const { return state_->answered; }
  int dropped() const { return state_->dropped; }

 private:
  struct State {
    State(asio::io_context& i, int a, std::function<std::string()> s)
        : io(i), ctx(ssl::context::tls_server), acceptor(i), answers(a), source(std::move(s)) {}
    asio::io_context& io;
    ssl::context ctx;
    tcp::acceptor acceptor;
    int answers;
    std::function<std::string()> source;
    int connections = 0;
    int answered = 0;
    int dropped = 0;
  };

  static asio::awaitable<void> loop(std::shared_ptr<State> state) {
    for (int n = 0; n < 1000; ++n) {
      auto [ec, socket] = co_await state->acceptor.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(state->io, serve(state, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<State> state, tcp::socket socket) {
    ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), state->ctx);
    beast::get_lowest_layer(stream).expires_after(5s);
    auto [hs] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (hs) co_return;
    ++state->connections;
    beast::flat_buffer buffer;
    for (int k = 0; k < 1000; ++k) {
      beast::http::request<beast::http::string_body> req;
      auto [rd, n] = co_await beast::http::async_read(stream, buffer, req, kNoThrow);
      (void)n;
      if (rd) break;
      if (k >= state->answers) {
        ++state->dropped;
        break;
      }
      const std::string body = state->source();
      const std::string reply =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      auto [wr, m] = co_await asio::async_write(stream, asio::buffer(reply), kNoThrow);
      (void)m;
      if (wr) break;
      ++state->answered;
    }
    beast::get_lowest_layer(stream).close();
  }

  std::shared_ptr<State> state_;
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("peer.exchange") {
  TEST_CASE("three observers on loopback see each other's verdicts") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port(), pc = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}, {"obs-c", pc}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}, {"obs-c", pc}});
      Node c(io, "obs-c", pc, {{"obs-a", pa}, {"obs-b", pb}});
      const auto started = core::Clock::now();
      REQUIRE(run_until(io, [&] {
        return a.votes().size() == 2 && b.votes().size() == 2 && c.votes().size() == 2;
      }));
      for (const Node* n : {&a, &b, &c}) {
        for (const auto& [who, votes] : n->votes()) {
          REQUIRE(votes.size() == 2);
          CHECK(votes[0].region == core::RegionId("use1"));
          CHECK(votes[0].verdict == core::Verdict::Down);
          CHECK(votes[1].verdict == core::Verdict::Up);
          CHECK(votes[0].received >= started);
        }
        for (const auto& s : n->exchange->status()) {
          CHECK(s.last_error.empty());
          CHECK(s.last_seen.has_value());
          CHECK_FALSE(s.config_mismatch);
        }
      }
      CHECK(a.exchange->server_stats().served >= 2);
      CHECK(a.exchange->server_stats().refused == 0);
      // Votes expire by local receive time once the peers stop answering.
      b.exchange->stop();
      c.exchange->stop();
      CHECK(a.exchange->votes(core::Clock::now() + 3s).empty());
    }
    drain(io);
  }

  TEST_CASE("hurry asks answering peers at once, then often for a while, then as before") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    const auto closed = free_port();
    {
      // A 1.5 s interval: without hurry, obs-a would ask obs-b about once in the 1.2 s below.
      Node a(io, "obs-a", pa, {{"obs-b", pb}, {"obs-d", closed}}, kFingerprint, "", 1000ms, 1500ms);
      Node b(io, "obs-b", pb, {{"obs-a", pa}}, kFingerprint, "", 1000ms, 1500ms);
      REQUIRE(run_until(
          io, [&] { return a.status("obs-b").fetches >= 1 && a.status("obs-d").fetches >= 1; },
          4000ms));
      // obs-d refused: it is in backoff and hurry leaves it there.
      const auto d_fetches = a.status("obs-d").fetches;
      io.run_for(60ms);
      const auto before = a.status("obs-b").fetches;
      const auto asked = core::Clock::now();
      a.exchange->hurry(100ms, asked + 500ms);
      REQUIRE(run_until(
          io, [&] { return a.status("obs-b").fetches > before; }, 200ms));
      // Every 100 ms until the window ends at 500 ms, then back to 1.5 s.
      const auto hurried = core::Clock::now();
      CHECK(hurried - asked < 150ms);
      io.run_for(1200ms);
      const auto after = a.status("obs-b").fetches - before;
      // At once, then 100 ms after each fetch ends while the window lasts (on a slow machine a
      // fetch may take tens of ms, the first one a TLS handshake). Without hurry: 0-1.
      CHECK(after >= 3);
      CHECK(after <= 8);  // and not after the window
      CHECK(a.status("obs-d").fetches <= d_fetches + 1);
    }
    drain(io);
  }

  TEST_CASE("a peer whose certificate names another observer is rejected") {
    asio::io_context io;
    {
      FakePeer impostor(io, "obs-c", http_200("{}"));  // valid CA, but it is obs-c
      Node a(io, "obs-a", 0, {{"obs-b", impostor.port()}});
      REQUIRE(run_until(io, [&] { return !a.status("obs-b").last_error.empty(); }));
      CHECK(contains(a.status("obs-b").last_error, "names CN=obs-c"));
      CHECK(impostor.requests() == 0);  // refused before the request was sent
      CHECK(a.votes().empty());
    }
    drain(io);
  }

  TEST_CASE("a certificate naming the observer by CN only is accepted") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}}, kFingerprint, "cn-only-b");
      REQUIRE(run_until(io, [&] { return a.votes().count("obs-b") == 1; }));
    }
    drain(io);
  }

  TEST_CASE("a server certificate naming two configured peers is refused before the request") {
    asio::io_context io;
    {
      FakePeer twofold(io, "two-bc", http_200("{}"));
      Node a(io, "obs-a", 0, {{"obs-b", twofold.port()}, {"obs-c", free_port()}});
      REQUIRE(run_until(io, [&] { return !a.status("obs-b").last_error.empty(); }));
      INFO("error: ", a.status("obs-b").last_error);
      CHECK(contains(a.status("obs-b").last_error, "more than one configured observer"));
      CHECK(twofold.requests() == 0);
      CHECK(a.votes().empty());
    }
    drain(io);
  }

  TEST_CASE("a peer with a certificate from another CA fails the handshake") {
    asio::io_context io;
    {
      FakePeer rogue(io, "rogue-b", http_200("{}"));
      Node a(io, "obs-a", 0, {{"obs-b", rogue.port()}});
      REQUIRE(run_until(io, [&] { return !a.status("obs-b").last_error.empty(); }));
      CHECK(contains(a.status("obs-b").last_error, "TLS handshake"));
      CHECK(contains(a.status("obs-b").last_error, "certificate verify failed"));
      CHECK(rogue.requests() == 0);
      CHECK(a.votes().empty());
    }
    drain(io);
  }

  TEST_CASE("the server refuses clients without a good certificate") {
    asio::io_context io;
    {
      Node a(io, "obs-a", 0, {{"obs-b", free_port()}, {"obs-c", free_port()}});
      const auto port = a.exchange->local_port();

      SUBCASE("no client certificate: the handshake fails, nothing is served") {
        RawClient client("");
        client.get(io, port);
        CHECK_FALSE(contains(client.response, "HTTP/1.1 200"));
        CHECK_FALSE(client.error.empty());
        REQUIRE(run_until(io, [&] { return a.exchange->server_stats().refused >= 1; }));
        CHECK(contains(a.exchange->server_stats().last_refusal, "TLS handshake"));
        CHECK(a.exchange->server_stats().count(peer::Refusal::Handshake) == 1);
      }
      SUBCASE("a certificate from another CA: the handshake fails") {
        RawClient client("rogue-b");
        client.get(io, port);
        CHECK_FALSE(contains(client.response, "HTTP/1.1 200"));
        REQUIRE(run_until(io, [&] { return a.exchange->server_stats().refused >= 1; }));
      }
      SUBCASE("a valid certificate for an observer not configured: 403") {
        RawClient client("obs-x");
        client.get(io, port);
        CHECK(client.response.rfind("HTTP/1.1 403", 0) == 0);
        CHECK(a.exchange->server_stats().served == 0);
        CHECK(a.exchange->server_stats().count(peer::Refusal::NotAPeer) == 1);
      }
      SUBCASE("a CN naming a configured peer counts for nothing beside SAN names: 403") {
        RawClient client("cn-b-san-x");  // CN=obs-b, SAN obs-x
        client.get(io, port);
        CHECK(client.response.rfind("HTTP/1.1 403", 0) == 0);
        CHECK(a.exchange->server_stats().served == 0);
      }
      SUBCASE("a certificate naming two configured peers: 403") {
        RawClient client("two-bc");  // obs-b and obs-c
        client.get(io, port);
        CHECK(client.response.rfind("HTTP/1.1 403", 0) == 0);
        CHECK(contains(client.body(), "more than one configured observer"));
        CHECK(a.exchange->server_stats().served == 0);
        CHECK(contains(a.exchange->server_stats().last_refusal, "obs-b, obs-c"));
      }
      SUBCASE("a configured peer: 200 with a valid message") {
        RawClient client("obs-b");
        client.get(io, port);
        REQUIRE(client.response.rfind("HTTP/1.1 200", 0) == 0);
        auto d = peer::decode(client.body());
        REQUIRE_MESSAGE(d.ok(), d.error);
        CHECK(d.message->observer == core::ObserverId("obs-a"));
        CHECK(d.message->verdicts == verdicts_of("obs-a"));
        CHECK(d.message->config_fingerprint == kFingerprint);
      }
      SUBCASE("a malformed request: 400") {
        RawClient client("obs-b");
        client.get(io, port, "GET\x01 nonsense\r\n\r\n");
        CHECK(client.response.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(a.exchange->server_stats().refused == 1);
        CHECK(a.exchange->server_stats().count(peer::Refusal::Malformed) == 1);
      }
      SUBCASE("a configured peer asking for another path: 404, or another method: 405") {
        RawClient client("obs-b");
        client.get(io, port, "GET /v1/other HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(client.response.rfind("HTTP/1.1 404", 0) == 0);
        client.get(io, port,
                   "POST /v1/peer/verdicts HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        CHECK(client.response.rfind("HTTP/1.1 405", 0) == 0);
        CHECK(a.exchange->server_stats().count(peer::Refusal::NotFound) == 1);
        CHECK(a.exchange->server_stats().count(peer::Refusal::Method) == 1);
      }
    }
    drain(io);
  }

  TEST_CASE("a flood of strangers' connections does not cost a configured peer one fetch") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}});
      REQUIRE(run_until(io, [&] { return b.votes().count("obs-a") == 1; }));
      // 200 connections from 50 addresses that are not obs-b's, kept up for three seconds:
      // silent ones, garbage, stalled handshakes, reconnecting whenever the server drops one.
      Flood flood(io, pa, 200);
      REQUIRE(run_until(io, [&] { return flood.connects() >= 200; }));
      const auto before = b.status("obs-a");
      const auto until = std::chrono::steady_clock::now() + 3s;
      run_until(
          io, [&] { return std::chrono::steady_clock::now() >= until; }, 4000ms);
      const auto after = b.status("obs-a");
      INFO("obs-b's last error: ", after.last_error);
      CHECK(after.failures == before.failures);
      CHECK(after.fetches >= before.fetches + 5);
      CHECK(b.votes().count("obs-a") == 1);
      CHECK(flood.connects() > 200);  // the server did drop strangers, and they came back
      flood.stop();
    }
    drain(io);
  }

  TEST_CASE("an idle stranger holds its slot for the handshake budget, not request_timeout") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      // A minute for a request, half a second (the default) for a stranger's handshake.
      Node a(io, "obs-a", pa, {{"obs-b", pb}}, kFingerprint, "", 60000ms);
      Flood idle(io, pa, 1, 1, 9, 60s, false);  // one silent connection from 127.0.0.9
      REQUIRE(run_until(io, [&] { return idle.connects() == 1; }));
      REQUIRE(run_until(io, [&] { return idle.open() == 0; }));  // the server closed it
      CHECK(a.exchange->server_stats().count(peer::Refusal::HandshakeTimeout) == 1);
      CHECK(contains(a.exchange->server_stats().last_refusal, "127.0.0.9"));
    }
    drain(io);
  }

  TEST_CASE("one stranger address holds only a few connections, strangers together a bounded set") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}}, kFingerprint, "", 60000ms, 50ms,
             [](peer::ExchangeOptions& o) {
               o.handshake_timeout = 60s;  // so nothing leaves by itself during the test
               o.stranger_connections = 8;
             });
      auto stats = [&] { return a.exchange->server_stats(); };
      SUBCASE("per address: the connections past connections_per_source are refused") {
        Flood one_address(io, pa, 10, 10, 9, 60s, false);  // ten silent ones from 127.0.0.9
        REQUIRE(run_until(io, [&] { return stats().count(peer::Refusal::SourceLimit) == 6; }));
        REQUIRE(run_until(io, [&] { return one_address.connects() == 10; }));
        REQUIRE(run_until(io, [&] { return one_address.open() == 4; }));
        CHECK(stats().count(peer::Refusal::Evicted) == 0);
      }
      SUBCASE("over stranger_connections, the oldest stranger makes way for the newest") {
        Flood many(io, pa, 12, 2, 9, 60s, false);  // two each from 127.0.0.9..14
        REQUIRE(run_until(io, [&] { return stats().count(peer::Refusal::Evicted) == 4; }));
        REQUIRE(run_until(io, [&] { return many.open() == 8; }));
        CHECK(stats().count(peer::Refusal::SourceLimit) == 0);
      }
      // Either way a configured peer still gets its answer at once.
      RawClient client("obs-b");
      client.get(io, a.exchange->local_port());
      CHECK(client.response.rfind("HTTP/1.1 200", 0) == 0);
    }
    drain(io);
  }

  TEST_CASE("each answer carries the next sequence number of one boot id") {
    asio::io_context io;
    {
      Node a(io, "obs-a", 0, {{"obs-b", free_port()}});
      RawClient client("obs-b");
      client.get(io, a.exchange->local_port());
      auto first = peer::decode(client.body());
      client.get(io, a.exchange->local_port());
      auto second = peer::decode(client.body());
      REQUIRE(first.ok());
      REQUIRE(second.ok());
      CHECK(second.message->boot_id == first.message->boot_id);
      CHECK(second.message->sequence == first.message->sequence + 1);
    }
    drain(io);
  }

  TEST_CASE("a replayed message is rejected") {
    asio::io_context io;
    {
      // Record one genuine message of obs-b...
      Node b(io, "obs-b", 0, {{"obs-a", free_port()}});
      RawClient client("obs-a");
      client.get(io, b.exchange->local_port());
      const std::string recorded = client.body();
      REQUIRE(peer::decode(recorded).ok());
      b.exchange->stop();
      // ...and have someone holding obs-b's certificate serve it again and again.
      FakePeer replayer(io, "obs-b", http_200(recorded));
      Node a(io, "obs-a", 0, {{"obs-b", replayer.port()}});
      REQUIRE(run_until(io, [&] { return a.status("obs-b").rejected >= 1; }));
      auto s = a.status("obs-b");
      CHECK(contains(s.last_error, "replay"));
      CHECK(replayer.requests() >= 2);
      CHECK(s.fetches >= 2);
      CHECK(s.consecutive_failures >= 1);
    }
    drain(io);
  }

  TEST_CASE("a peer running a different config is reported and gives no vote") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}}, std::string(64, 'e'));
      REQUIRE(run_until(io, [&] {
        return a.status("obs-b").config_mismatch && b.status("obs-a").config_mismatch;
      }));
      auto s = a.status("obs-b");
      CHECK(contains(s.last_error, "different config"));
      CHECK(s.peer_fingerprint == std::string(64, 'e'));
      CHECK(s.last_seen.has_value());
      CHECK(s.consecutive_failures == 0);
      CHECK(a.votes().empty());
      CHECK(b.votes().empty());
    }
    drain(io);
  }

  TEST_CASE("holds travel to accepted peers only; too long reasons are cut, not the holds") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port(), pc = free_port();
    // obs-a holds 60 services, each frozen and pinned with a 1 KiB reason: about 130 KB as sent,
    // over the 64 KiB message limit, so the reasons are cut to 64 bytes.
    std::vector<peer::ServiceHolds> many;
    for (int i = 0; i < 60; ++i) {
      peer::ServiceHolds h;
      h.service = core::ServiceId("svc" + std::to_string(i));
      h.state.version = 2;
      h.state.author = core::ObserverId("obs-a");
      h.state.action = core::HoldChange::Pin;
      h.state.who = "ops";
      h.state.freeze = core::Hold{"ops", std::string(1024, 'f'), 1, core::ObserverId("obs-a"), {}};
      h.state.pin = core::Hold{"ops", std::string(1024, 'p'), 2, core::ObserverId("obs-a"),
                               core::RegionId("use1")};
      many.push_back(std::move(h));
    }
    std::map<std::string, std::vector<peer::ServiceHolds>> heard;  // by receiver
    auto receiver = [&](const std::string& name) {
      return [&heard, name](peer::ExchangeOptions& o) {
        o.max_holds = 100;
        o.on_holds = [&heard, name](const core::ObserverId& from,
                                    const std::vector<peer::ServiceHolds>& h) {
          CHECK(from == core::ObserverId("obs-a"));
          heard[name] = h;
        };
      };
    };
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}, {"obs-c", pc}}, kFingerprint, "", 1000ms, 50ms,
             [&](peer::ExchangeOptions& o) { o.hold_source = [&] { return many; }; });
      Node b(io, "obs-b", pb, {{"obs-a", pa}}, kFingerprint, "", 1000ms, 50ms, receiver("obs-b"));
      // obs-c runs another config: authentic, but it brings no holds and takes none.
      Node c(io, "obs-c", pc, {{"obs-a", pa}}, std::string(64, 'e'), "", 1000ms, 50ms,
             receiver("obs-c"));
      REQUIRE(run_until(io, [&] {
        return heard.count("obs-b") == 1 && c.status("obs-a").config_mismatch;
      }));
      const auto& got = heard["obs-b"];
      REQUIRE(got.size() == many.size());
      CHECK(got[0].service == core::ServiceId("svc0"));
      CHECK(got[0].state.version == 2);
      CHECK(got[0].state.freeze->reason == std::string(64, 'f'));
      CHECK(got[0].state.pin->reason == std::string(64, 'p'));
      CHECK(got[0].state.pin->region == core::RegionId("use1"));
      CHECK(b.status("obs-a").last_error.empty());
      CHECK(heard.count("obs-c") == 0);
    }
    drain(io);
  }

  TEST_CASE("unreachable peers give no vote and do not stall the others") {
    asio::io_context io;
    // A listener that never accepts: connects complete in the kernel, the TLS handshake never
    // does. And a port with nothing listening.
    tcp::acceptor black_hole(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto closed = free_port();
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa,
             {{"obs-c", black_hole.local_endpoint().port()}, {"obs-d", closed}, {"obs-b", pb}},
             kFingerprint, "", 1000ms);
      Node b(io, "obs-b", pb, {{"obs-a", pa}});
      REQUIRE(run_until(io, [&] { return a.votes().count("obs-b") == 1; }));
      // obs-b's verdicts arrived while the fetch from obs-c was still waiting for its deadline.
      CHECK(a.status("obs-c").fetches == 0);
      REQUIRE(run_until(io, [&] {
        return !a.status("obs-c").last_error.empty() && !a.status("obs-d").last_error.empty();
      }));
      CHECK(contains(a.status("obs-c").last_error, "timed out after 1000ms"));
      CHECK(contains(a.status("obs-d").last_error, "refused"));
      CHECK(a.votes().size() == 1);
      CHECK(a.status("obs-b").last_error.empty());
    }
    drain(io);
  }

  TEST_CASE("huge or garbage answers are rejected with bounded buffers") {
    asio::io_context io;
    std::string reply;
    std::string expected;
    SUBCASE("a declared body over the limit") {
      reply = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + std::string(1 << 20, 'x');
      expected = "larger than 65536 bytes";
    }
    SUBCASE("an endless body without a length") {
      reply = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(1 << 20, 'x');
      expected = "larger than 65536 bytes";
    }
    SUBCASE("endless headers") {
      reply = "HTTP/1.1 200 OK\r\nX-Junk: " + std::string(1 << 20, 'x');
      expected = "headers";
    }
    SUBCASE("not HTTP") {
      reply = std::string("\x16\x03\x01 garbage \x00\xff", 15);
      expected = "reading response";
    }
    SUBCASE("HTTP 500") {
      reply = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
      expected = "HTTP status 500";
    }
    SUBCASE("a JSON body that is not a message") {
      reply = http_200(R"({"v":1})");
      expected = "bad message";
    }
    SUBCASE("a body that is not JSON") {
      reply = http_200("<html>hello</html>");
      expected = "not valid JSON";
    }
    {
      FakePeer bad(io, "obs-b", reply);
      Node a(io, "obs-a", 0, {{"obs-b", bad.port()}});
      REQUIRE(run_until(io, [&] { return !a.status("obs-b").last_error.empty(); }));
      INFO("error: ", a.status("obs-b").last_error);
      CHECK(contains(a.status("obs-b").last_error, expected));
      CHECK(a.votes().empty());
    }
    drain(io);
  }

  TEST_CASE("one TLS connection per peer carries all its fetches") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}});
      REQUIRE(run_until(
          io, [&] { return a.status("obs-b").fetches >= 20 && b.status("obs-a").fetches >= 20; },
          8000ms));
      // One connection each way for 20+ fetches (before: one per fetch, 20+ handshakes).
      for (const Node* n : {&a, &b}) {
        const auto stats = n->exchange->server_stats();
        INFO("served ", stats.served, ", last refusal: ", stats.last_refusal);
        CHECK(stats.served >= 20);
        CHECK(stats.accepted == 1);
        CHECK(stats.handshakes == 1);
        CHECK(stats.refused == 0);
      }
      CHECK(a.status("obs-b").connections == 1);
      CHECK(b.status("obs-a").connections == 1);
      CHECK(a.status("obs-b").failures == 0);
      CHECK(a.status("obs-b").retries == 0);
      CHECK(a.votes().count("obs-b") == 1);
    }
    drain(io);
  }

  TEST_CASE("the server closes a kept connection after requests_per_connection answers") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      Node b(io, "obs-b", pb, {{"obs-a", pa}}, kFingerprint, "", 1000ms, 50ms,
             [](peer::ExchangeOptions& o) { o.requests_per_connection = 5; });
      REQUIRE(run_until(
          io, [&] { return a.status("obs-b").fetches >= 20; }, 8000ms));
      const auto fetches = a.status("obs-b").fetches;
      const auto handshakes = b.exchange->server_stats().handshakes;
      INFO("fetches ", fetches, ", handshakes ", handshakes);
      CHECK(handshakes >= fetches / 5);
      CHECK(handshakes <= fetches / 5 + 1);
      CHECK(a.status("obs-b").failures == 0);  // the fifth answer says close: no failed reuse
      CHECK(b.exchange->server_stats().refused == 0);
    }
    drain(io);
  }

  TEST_CASE("an idle kept connection is closed after idle_timeout, counted as no refusal") {
    asio::io_context io;
    {
      Node a(io, "obs-a", 0, {{"obs-b", free_port()}}, kFingerprint, "", 1000ms, 50ms,
             [](peer::ExchangeOptions& o) { o.idle_timeout = 300ms; });
      RawClient client("obs-b");
      const auto asked = std::chrono::steady_clock::now();
      // No "Connection: close": the answer keeps the connection open until it idles out.
      client.get(io, a.exchange->local_port(), "GET /v1/peer/verdicts HTTP/1.1\r\nHost: x\r\n\r\n");
      const auto took = std::chrono::steady_clock::now() - asked;
      CHECK(client.response.rfind("HTTP/1.1 200", 0) == 0);
      CHECK_FALSE(contains(client.response, "Connection: close"));
      CHECK(took >= 250ms);
      CHECK(took < 1500ms);
      CHECK(a.exchange->server_stats().refused == 0);
      CHECK(a.exchange->server_stats().served == 1);
    }
    drain(io);
  }

  TEST_CASE("a peer that restarted is heard on the next fetch or the one after") {
    asio::io_context io;
    const auto pa = free_port(), pb = free_port();
    {
      Node a(io, "obs-a", pa, {{"obs-b", pb}});
      auto b = std::make_unique<Node>(
          io, "obs-b", pb, std::vector<std::pair<std::string, std::uint16_t>>{{"obs-a", pa}});
      REQUIRE(run_until(io, [&] { return a.status("obs-b").fetches >= 3; }));
      REQUIRE(a.status("obs-b").connections == 1);
      // Stopped and started again on the same port: a new boot id, and obs-a's kept connection
      // is now to a process that is gone.
      b.reset();
      b = std::make_unique<Node>(io, "obs-b", pb,
                                 std::vector<std::pair<std::string, std::uint16_t>>{{"obs-a", pa}});
      const auto restarted = core::Clock::now();
      const auto before = a.status("obs-b");
      REQUIRE(run_until(io, [&] {
        const auto s = a.status("obs-b");
        return s.last_seen && *s.last_seen > restarted;
      }));
      const auto after = a.status("obs-b");
      INFO("last error: ", after.last_error);
      CHECK(after.fetches <= before.fetches + 2);
      CHECK(after.failures <= before.failures + 1);
      CHECK(after.connections == 2);
      CHECK(after.last_error.empty());
      CHECK(a.votes().count("obs-b") == 1);
    }
    drain(io);
  }

  TEST_CASE("a reused connection that fails before any answer is retried at once, no failure") {
    asio::io_context io;
    {
      // The messages of a real obs-b (not started: only its next_message() is used).
      peer::ExchangeOptions o;
      o.self = core::ObserverId("obs-b");
      o.config_fingerprint = kFingerprint;
      peer::PeerExchange source(io, o, [] { return verdicts_of("obs-b"); });
      // Answers the first request on each connection, drops the connection at the second.
      DroppingPeer flaky(io, "obs-b", 1, [&] { return source.next_message(); });
      Node a(io, "obs-a", 0, {{"obs-b", flaky.port()}});
      REQUIRE(run_until(io, [&] { return a.status("obs-b").fetches >= 6; }));
      const auto s = a.status("obs-b");
      INFO("last error: ", s.last_error);
      CHECK(s.failures == 0);
      CHECK(s.retries >= 4);
      CHECK(flaky.dropped() >= 4);
      CHECK(a.votes().count("obs-b") == 1);
    }
    drain(io);
  }

  TEST_CASE("start reports unusable TLS files instead of throwing") {
    asio::io_context io;
    peer::ExchangeOptions o;
    o.self = core::ObserverId("obs-a");
    o.cluster.listen = {"127.0.0.1", 0};
    o.cluster.ca_file = pki().ca();
    o.cluster.cert_file = pki().cert("obs-a");
    o.cluster.key_file = pki().key("obs-b");  // not the certificate's key
    peer::PeerExchange ex(io, o, {});
    auto err = ex.start();
    REQUIRE(err.has_value());
    CHECK(contains(*err, "cluster.key_file"));
    o.cluster.ca_file = "/nonexistent/ca.pem";
    peer::PeerExchange ex2(io, o, {});
    err = ex2.start();
    REQUIRE(err.has_value());
    CHECK(contains(*err, "cluster.ca_file"));
  }
}
