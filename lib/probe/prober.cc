#include "probe/prober.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
// GCC 12 -O2 reports a false "potential null pointer dereference" in Asio's executor
// comparison (io_context.hpp) once inlined; silenced for Asio's headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#pragma GCC diagnostic pop
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <map>

#include "probe/classify.h"
#include "probe/resolver.h"

namespace failoverd::probe {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using core::ProbeReason;

struct TlsClientContext {
  explicit TlsClientContext(ssl::context c) : ctx(std::move(c)) {}
  ssl::context ctx;
};

namespace {

// Response bytes are read into one fixed buffer: the whole header must fit (Beast parses a
// header in one piece), body bytes pass through it to the window.
constexpr std::size_t kReadBuffer = kHeaderLimit;

// Parses an http(s) URL into scheme, host, port and request target.
struct Url {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string target;
  bool bracketed = false;
};

std::optional<Url> parse_url(std::string_view s, std::string& error) {
  Url u;
  if (s.starts_with("http://")) {
    s.remove_prefix(7);
    u.port = 80;
  } else if (s.starts_with("https://")) {
    s.remove_prefix(8);
    u.tls = true;
    u.port = 443;
  } else {
    error = "url must start with http:// or https://";
    return std::nullopt;
  }
  std::size_t path_at = s.find_first_of("/?");
  std::string_view authority = s.substr(0, path_at);
  u.target = path_at == std::string_view::npos ? "/" : std::string(s.substr(path_at));
  if (u.target.front() == '?') u.target.insert(0, "/");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [ in url";
      return std::nullopt;
    }
    u.host = std::string(authority.substr(1, close - 1));
    u.bracketed = true;
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "junk after ] in url";
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) {
    error = "url has no host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || value > 65535) {
        error = "bad port in url";
        return std::nullopt;
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
      error = "bad port in url";
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  for (char c : u.target) {
    if (c == '\r' || c == '\n' || c == ' ') {
      error = "url path contains whitespace";
      return std::nullopt;
    }
  }
  return u;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<asio::ip::address> literal_address(const std::string& host) {
  error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return a;
}

void set_quickack_off(int fd) {
  // HAProxy's CONNECT_DELACK_ALWAYS: with quick-ack off the kernel delays the handshake's final
  // ACK, so it rides on our first data segment (http) or is never sent at all (connect-only
  // check: SYN, SYN-ACK, then our RST; the target's application never sees the connection).
  int zero = 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
}

}  // namespace

struct Prober::Impl : std::enable_shared_from_this<Prober::Impl> {
  Impl(asio::io_context& ctx, Resolver* r) : io(ctx), resolver(r) {}

  struct Conn;

  asio::io_context& io;
  Resolver* resolver;
  std::vector<std::shared_ptr<Conn>> all;
  std::vector<Conn*> free;
  std::map<std::string, std::shared_ptr<TlsClientContext>> tls_contexts;
  // Kept-alive connections, one per endpoint, waiting for its next probe (see prober.h).
  struct Idle {
    std::optional<tcp::socket> sock;
    std::optional<ssl::stream<tcp::socket>> tls;
    std::optional<int> cert_days;
  };
  std::map<core::EndpointId, Idle> idle;
  ProberStats stats;
  bool closing = false;

  std::shared_ptr<TlsClientContext> tls_context(const config::TlsSettings& t, std::string& error);
  void start(const ProbeSpec& spec, Completion done);
};

// Beast's push parser: we own the buffer and only get callbacks.
using beast_sv = boost::beast::string_view;

class ResponseReader final : public http::basic_parser<false> {
 public:
  explicit ResponseReader(Prober::Impl::Conn& c) : conn_(c) {}
  int status = 0;
  bool header_done = false;

 private:
  void on_request_impl(http::verb, beast_sv, beast_sv, int, error_code& ec) override {
    ec = http::error::bad_method;
  }
  void on_response_impl(int code, beast_sv, int, error_code&) override { status = code; }
  void on_field_impl(http::field name, beast_sv, beast_sv value, error_code&) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(beast_sv body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, beast_sv, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast_sv body, error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(error_code& ec) override;

  Prober::Impl::Conn& conn_;
};

struct Prober::Impl::Conn : std::enable_shared_from_this<Conn> {
  explicit Conn(Impl* o) : owner(o), timer(o->io), buf(new char[kReadBuffer]) {}

  Impl* owner;  // nullptr once the Prober is gone: late handlers then do nothing
  std::uint64_t gen = 0;
  const ProbeSpec* spec = nullptr;
  Completion done;
  core::TimePoint started{};
  core::TimePoint deadline{};
  Stage stage = Stage::Connect;
  std::optional<tcp::socket> sock;
  std::optional<ssl::stream<tcp::socket>> tls;
  asio::steady_timer timer;
  std::unique_ptr<char[]> buf;
  std::size_t used = 0;
  std::optional<ResponseReader> reader;  // only when the body is checked
  bool http_fast = false;  // no body check: the status line and the end of header suffice
  int status = 0;
  std::size_t scanned = 0;  // fast path: bytes already searched for the end of the header
  std::string window;
  bool matched = false;
  bool truncated = false;
  std::optional<ProbeReason> decided;
  std::optional<int> cert_days;
  // Keep-alive: this probe reuses an idle connection / already retried on a fresh one; body bytes
  // the reader has seen (a response read to its end may leave the connection reusable).
  bool reused = false;
  bool retried = false;
  std::size_t body_seen = 0;
  bool resolving = false;  // waiting for the Resolver: a deadline now is a resolve timeout
  std::uint16_t port = 0;  // the port connected to (the spec's, or a redirect's)
  // Redirects (follow_redirects only): the hop's request, host and target; empty: the spec's.
  bool redirect = false;  // the response just read is a redirect to `location`
  std::string location;
  std::uint32_t hops = 0;
  std::string hop_request;
  std::string hop_host;
  std::string hop_target;
  std::string hop_host_header;
  std::vector<std::string> visited;

  const std::string& request() const { return hop_request.empty() ? spec->request : hop_request; }
  const std::string& cur_host() const { return hops == 0 ? spec->host : hop_host; }

  tcp::socket& lowest() { return tls ? tls->next_layer() : *sock; }

  // Wraps a member continuation so a handler from an older probe on this pooled connection (or
  // one running after the Prober died) is ignored.
  template <typename F>
  auto guard(F f) {
    return [self = shared_from_this(), g = gen, f](auto&&... args) {
      if (self->owner == nullptr || self->gen != g) return;
      f(*self, std::forward<decltype(args)>(args)...);
    };
  }

  void begin(const ProbeSpec& s, Completion d) {
    spec = &s;
    done = std::move(d);
    started = core::Clock::now();
    deadline = started + s.timeout;
    stage = Stage::Connect;
    used = 0;
    status = 0;
    scanned = 0;
    http_fast = false;
    matched = truncated = false;
    decided.reset();
    cert_days.reset();
    window.clear();
    resolving = false;
    reused = retried = false;
    body_seen = 0;
    port = s.port;
    if (s.follow_redirects) {
      redirect = false;
      location.clear();
      hops = 0;
      hop_request.clear();
      visited.clear();
    }

    if (s.keepalive && take_idle()) {
      // Connected (and shaken hands) already: straight to the request. Posted, since a
      // completion must never run inside start().
      reused = true;
      owner->stats.reused++;
      arm(deadline);
      asio::post(owner->io, guard([](Conn& c) { c.send(); }));
      return;
    }
    open_fresh();
  }

  void open_fresh() {
    const ProbeSpec& s = *spec;
    if (s.tls) {
      tls.emplace(owner->io, s.tls->ctx);
    } else {
      sock.emplace(owner->io);
    }
    if (s.address) return connect(*s.address);
    resolve(s.host);
  }

  // Takes this endpoint's idle connection if the server has not closed it and sent nothing since.
  bool take_idle() {
    auto it = owner->idle.find(spec->endpoint);
    if (it == owner->idle.end()) return false;
    Idle held = std::move(it->second);
    owner->idle.erase(it);
    owner->stats.idle_connections = owner->idle.size();
    tcp::socket& low = held.tls ? held.tls->next_layer() : *held.sock;
    char byte;
    ssize_t n = ::recv(low.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;  // closed, or stray bytes
    sock = std::move(held.sock);
    tls = std::move(held.tls);
    cert_days = held.cert_days;
    return true;
  }

  // A reused connection the server closed just as we sent: once, a fresh connection instead.
  bool retry_fresh() {
    if (!reused || retried || used > 0 || (reader && reader->header_done)) return false;
    reused = false;
    retried = true;
    ++gen;  // handlers queued on the old connection are stale
    error_code ignored;
    timer.cancel();
    lowest().close(ignored);
    reader.reset();
    tls.reset();
    sock.reset();
    cert_days.reset();
    stage = Stage::Connect;
    arm(deadline);
    open_fresh();
    return true;
  }

  // Keep-alive: the verdict is known but the response is not read to its end yet; reading on lets
  // the connection be reused.
  bool draining() const {
    return spec->keepalive && hops == 0 && reader && !reader->is_done() &&
           body_seen <= spec->body_limit;
  }

  bool reusable() const {
    return spec->keepalive && hops == 0 && !redirect && reader && reader->is_done() &&
           reader->keep_alive() && used == 0 && decided.has_value();
  }

  void resolve(const std::string& host) {
    // A host name: the resolver answers later (from its cache or the wire), never inline.
    resolving = true;
    arm(deadline);
    owner->resolver->resolve(host, guard([](Conn& c, const Resolution& r) { c.on_resolved(r); }));
  }

  void on_resolved(const Resolution& r) {
    resolving = false;
    if (r.status != ResolveStatus::Ok || r.addresses.empty()) {
      return finish(ProbeReason::ResolveError,
                    "resolve " + cur_host() + ": " + (r.detail.empty() ? "no address" : r.detail));
    }
    // A records come first: IPv4 is preferred (see prober.h).
    connect(r.addresses.front());
  }

  void connect(const asio::ip::address& address) {
    const ProbeSpec& s = *spec;
    // The socket is made and connected with plain syscalls, then handed to Asio for readiness
    // only: Asio's async_connect would add an ioctl(FIONBIO), a poll() and a getsockopt() per
    // probe (see bench.cc's figures); SOCK_NONBLOCK and one readiness wait do the same job.
    tcp::endpoint ep(address, port);
    int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return post_fail(errno);
    // Only when we speak first or never complete the handshake: a server-speaks-first check would
    // otherwise wait for the delayed ACK before the server even accepts.
    if (!s.request.empty() || s.kind != config::ProbeKind::Tcp ||
        (s.expect.empty() && s.reset_after_connect)) {
      set_quickack_off(fd);
    }
    if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0 && errno != EINPROGRESS) {
      int e = errno;
      ::close(fd);
      return post_fail(e);
    }
    error_code ec;
    lowest().assign(ep.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return post_fail(ec.value());
    }
    // After a lookup the connect gets its own connect_timeout, still within the whole deadline.
    core::TimePoint from = s.address && hops == 0 ? started : core::Clock::now();
    arm(std::min(from + s.connect_timeout, deadline));
    lowest().async_wait(tcp::socket::wait_write,
                        guard([](Conn& c, const error_code& e) { c.on_connect(e); }));
  }

  // A completion never runs inside start(): errors found there are posted.
  void post_fail(int err) {
    error_code ec(err, boost::system::system_category());
    asio::post(owner->io, guard([ec](Conn& c) { c.fail(ec); }));
  }

  error_code socket_error() {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(lowest().native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    return {err, boost::system::system_category()};
  }

  // Plain http: send and receive with direct syscalls on the non-blocking socket.
  bool raw() const { return !tls && spec->kind == config::ProbeKind::Http; }

  void arm(core::TimePoint at) {
    timer.expires_at(at);
    timer.async_wait(guard([](Conn& c, const error_code& e) {
      if (!e) c.on_deadline();
    }));
  }

  void on_deadline() {
    if (resolving) return finish(ProbeReason::Timeout, "resolve timeout");
    if (decided) return conclude();  // keep-alive drain cut short: the verdict stands
    if (stage == Stage::Connect && core::Clock::now() < deadline) {
      finish(ProbeReason::Timeout, "connect timeout");
    } else {
      finish(ProbeReason::Timeout, "timeout");
    }
  }

  void fail(const error_code& ec) {
    if (decided) return conclude();  // keep-alive drain cut short: the verdict stands
    if (retry_fresh()) return;
    finish(classify_error(stage, ec), ec.message());
  }

  void on_connect(error_code ec) {
    if (ec) return fail(ec);
    // Plain http learns a failed connect from send() and saves this syscall.
    if (!raw() && (ec = socket_error())) return fail(ec);
    if (deadline > timer.expiry()) arm(deadline);
    switch (spec->kind) {
      case config::ProbeKind::Tcp:
        if (spec->request.empty() && spec->expect.empty()) return finish(ProbeReason::Ok, {});
        if (!spec->request.empty()) return send();
        return receive();
      case config::ProbeKind::Http:
        return send();
      case config::ProbeKind::Https:
      case config::ProbeKind::Tls:
        return handshake();
      case config::ProbeKind::Dns:
        return finish(ProbeReason::Internal, "dns is not probed here");
    }
  }

  void handshake() {
    stage = Stage::TlsHandshake;
    SSL* ssl = tls->native_handle();
    // A redirect to another host verifies that host's name instead of the configured one.
    bool other_host = hops > 0 && hop_host != spec->host;
    const std::string& name = other_host ? hop_host : spec->tls_name;
    bool name_is_ip = other_host ? literal_address(hop_host).has_value() : spec->tls_name_is_ip;
    if (!name.empty() && !name_is_ip) {
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));
    }
    if (spec->verify && !name.empty()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (name_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      }
    }
    tls->async_handshake(ssl::stream_base::client,
                         guard([](Conn& c, const error_code& e) { c.on_handshake(e); }));
  }

  void on_handshake(const error_code& ec) {
    if (ec) {
      std::string why = ec.message();
      long vr = SSL_get_verify_result(tls->native_handle());
      if (vr != X509_V_OK) why = std::string("verify: ") + X509_verify_cert_error_string(vr);
      return finish(ProbeReason::TlsError, why);
    }
    if (X509* cert = SSL_get0_peer_certificate(tls->native_handle())) {
      int days = 0, secs = 0;
      if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) == 1) cert_days = days;
    }
    if (spec->kind == config::ProbeKind::Tls) return finish(ProbeReason::Ok, {});
    send();
  }

  void send() {
    stage = Stage::Send;
    if (raw()) return send_raw(0);
    auto h = guard([](Conn& c, const error_code& e, std::size_t) { c.on_sent(e); });
    if (tls) {
      asio::async_write(*tls, asio::buffer(request()), std::move(h));
    } else {
      asio::async_write(*sock, asio::buffer(request()), std::move(h));
    }
  }

  void on_sent(const error_code& ec) {
    if (ec) return fail(ec);
    if (spec->kind == config::ProbeKind::Tcp && spec->expect.empty()) {
      return finish(ProbeReason::Ok, {});
    }
    if (spec->kind != config::ProbeKind::Tcp && spec->expect.empty() && !spec->body_regex &&
        !spec->follow_redirects && !spec->keepalive) {
      // No body check: find the end of the header and read the status line ourselves; Beast's
      // field-by-field parse would cost more than the rest of the probe's user time.
      http_fast = true;
    } else if (spec->kind != config::ProbeKind::Tcp) {
      reader.emplace(*this);
      reader->eager(true);
      reader->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
      reader->body_limit(boost::none);  // we stop at body_limit ourselves
      if (spec->head) reader->skip(true);
    }
    receive();
  }

  void send_raw(std::size_t sent) {
    const std::string& r = request();
    while (sent < r.size()) {
      ssize_t n = ::send(sock->native_handle(), r.data() + sent, r.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return sock->async_wait(tcp::socket::wait_write,
                                guard([sent](Conn& c, const error_code& e) {
                                  if (e) return c.fail(e);
                                  c.send_raw(sent);
                                }));
      }
      // A refused or reset connect surfaces here: classify it as a connect failure.
      stage = Stage::Connect;
      return fail(error_code(n < 0 ? errno : EPIPE, boost::system::system_category()));
    }
    on_sent({});
  }

  void receive_raw() {
    sock->async_wait(tcp::socket::wait_read, guard([](Conn& c, const error_code& e) {
                       if (e) return c.fail(e);
                       ssize_t n = ::recv(c.sock->native_handle(), c.buf.get() + c.used,
                                          kReadBuffer - c.used, 0);
                       if (n > 0) return c.on_received({}, static_cast<std::size_t>(n));
                       if (n == 0) return c.on_received(asio::error::eof, 0);
                       if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                         return c.receive_raw();
                       }
                       c.fail(error_code(errno, boost::system::system_category()));
                     }));
  }

  void receive() {
    stage = Stage::Receive;
    if (raw()) return receive_raw();
    auto b = asio::buffer(buf.get() + used, kReadBuffer - used);
    auto h = guard([](Conn& c, const error_code& e, std::size_t n) { c.on_received(e, n); });
    if (tls) {
      tls->async_read_some(b, std::move(h));
    } else {
      sock->async_read_some(b, std::move(h));
    }
  }

  void note_buffered() {
    std::size_t held = used + window.size();
    if (held > owner->stats.peak_buffered_bytes) owner->stats.peak_buffered_bytes = held;
  }

  void on_received(const error_code& ec, std::size_t n) {
    used += n;
    note_buffered();
    bool eof = ec == asio::error::eof || ec == ssl::error::stream_truncated;
    if (ec && !eof) return fail(ec);
    if (spec->kind == config::ProbeKind::Tcp) return on_tcp_bytes(eof);
    if (http_fast) return on_fast_bytes(eof);
    parse();
    if (decided && (eof || !draining())) return conclude();
    if (eof) {
      error_code pec;
      // Beast requires some input before put_eof; with none there is nothing to finish.
      if (reader->got_some()) reader->put_eof(pec);
      if (decided) return conclude();
      if (retry_fresh()) return;
      return finish(ProbeReason::ProtocolError,
                    reader->header_done ? "connection closed inside the body"
                                        : "connection closed before a complete header");
    }
    if (used == kReadBuffer) {
      if (decided) return conclude();
      return finish(ProbeReason::TooLarge, "header too large");
    }
    receive();
  }

  void on_fast_bytes(bool eof) {
    std::string_view have(buf.get(), used);
    // Reject garbage at once instead of waiting for a header end that never comes.
    static constexpr std::string_view kPrefix = "HTTP/1.";
    if (have.substr(0, kPrefix.size()) != kPrefix.substr(0, std::min(used, kPrefix.size())) ||
        (have.find("\r\n") == std::string_view::npos && used > 512)) {
      return finish(ProbeReason::ProtocolError, "malformed status line");
    }
    std::size_t from = scanned > 3 ? scanned - 3 : 0;
    std::size_t end = have.find("\r\n\r\n", from);
    scanned = used;
    if (end == std::string_view::npos) {
      if (eof) return finish(ProbeReason::ProtocolError, "connection closed before a complete header");
      if (used == kReadBuffer) return finish(ProbeReason::TooLarge, "header too large");
      return receive();
    }
    status = parse_status_line(have.substr(0, end + 2));
    if (status < 0) {
      status = 0;
      return finish(ProbeReason::ProtocolError, "malformed status line");
    }
    if (!status_expected(status, spec->expect_status)) {
      return finish(ProbeReason::BadStatus, "status " + std::to_string(status));
    }
    finish(ProbeReason::Ok, {});
  }

  void parse() {
    while (used > 0 && (!decided || draining())) {
      error_code pec;
      std::size_t n = reader->put(asio::buffer(buf.get(), used), pec);
      if (n > 0) {
        std::memmove(buf.get(), buf.get() + n, used - n);
        used -= n;
      }
      if (decided && !draining()) return;
      if (pec == http::error::need_more) return;
      if (pec) {
        if (!decided) decided = classify_error(Stage::Receive, pec);
        return;
      }
      if (reader->is_done()) return;
      if (n == 0) return;
    }
  }

  // Called by the reader once the header is complete.
  void on_header(int code) {
    status = code;
    if (spec->follow_redirects && !location.empty() &&
        (code == 301 || code == 302 || code == 303 || code == 307 || code == 308)) {
      redirect = true;
      decided = ProbeReason::Ok;  // enough read: conclude() follows it
    } else if (!status_expected(status, spec->expect_status)) {
      decided = ProbeReason::BadStatus;
    } else if (spec->expect.empty() && !spec->body_regex) {
      decided = ProbeReason::Ok;  // no body check: no need to read it
    }
  }

  // Body bytes from the reader: kept up to body_limit, searched as they come.
  void on_body(std::string_view body) {
    std::size_t room = spec->body_limit - std::min(spec->body_limit, window.size());
    std::size_t take = std::min(room, body.size());
    std::size_t from = window.size() > spec->expect.size() ? window.size() - spec->expect.size() : 0;
    window.append(body.data(), take);
    note_buffered();
    if (!spec->expect.empty() && window.find(spec->expect, from) != std::string::npos) {
      if (!spec->body_regex) {
        matched = true;
        decided = ProbeReason::Ok;
        return;
      }
    }
    if (body.size() > take) {
      truncated = true;
      judge_body();
    }
  }

  void on_finish() { judge_body(); }

  void judge_body() {
    bool sub_ok = spec->expect.empty() || window.find(spec->expect) != std::string::npos;
    bool re_ok = !spec->body_regex || spec->body_regex->search(window);
    ResponseFacts f;
    f.status = reader->status;
    f.body_checked = true;
    f.body_matched = sub_ok && re_ok;
    f.body_truncated = truncated;
    decided = classify_response(f, spec->expect_status);
  }

  void on_tcp_bytes(bool eof) {
    std::size_t room = spec->body_limit - std::min(spec->body_limit, window.size());
    std::size_t take = std::min(room, used);
    window.append(buf.get(), take);
    bool overflow = take < used;
    used = 0;
    if (window.find(spec->expect) != std::string::npos) return finish(ProbeReason::Ok, {});
    if (overflow) return finish(ProbeReason::TooLarge, "reply larger than the window");
    if (eof) return finish(ProbeReason::BodyMismatch, "expected reply not seen");
    receive();
  }

  // The next hop's host, port and target from `location`, relative to the current request; an
  // empty optional (with `why`) when it cannot or must not be followed.
  struct Hop {
    std::string host;
    std::uint16_t port = 0;
    std::string target;
    std::string host_header;
  };
  std::optional<Hop> next_hop(std::string& why) const {
    std::string loc = location.substr(0, location.find('#'));
    bool tls_scheme = spec->kind == config::ProbeKind::Https;
    if (loc.starts_with("//")) loc.insert(0, tls_scheme ? "https:" : "http:");
    Hop h;
    if (loc.starts_with("http://") || loc.starts_with("https://")) {
      auto u = parse_url(loc, why);
      if (!u) return std::nullopt;
      if (u->tls != tls_scheme) {
        why = "redirect to another scheme is not followed";
        return std::nullopt;
      }
      h.host = u->host;
      h.port = u->port;
      h.target = u->target;
      h.host_header = u->bracketed ? "[" + u->host + "]" : u->host;
      if (u->port != (u->tls ? 443 : 80)) h.host_header += ":" + std::to_string(u->port);
      // The configured Host header stays while the redirect stays on the configured host.
      if (h.host == spec->host && h.port == spec->port) h.host_header = spec->host_header;
      return h;
    }
    if (loc.empty() || loc.find_first_of("\r\n \t") != std::string::npos) {
      why = "bad redirect location";
      return std::nullopt;
    }
    h.host = cur_host();
    h.port = port;
    h.host_header = hops == 0 ? spec->host_header : hop_host_header;
    const std::string& base = hops == 0 ? spec->target : hop_target;
    const std::string path = base.substr(0, base.find('?'));
    if (loc.front() == '/') {
      h.target = loc;
    } else if (loc.front() == '?') {
      h.target = path + loc;
    } else {
      // "health" relative to "/a/b?x" is "/a/health".
      h.target = path.substr(0, path.rfind('/') + 1) + loc;
    }
    return h;
  }

  void follow() {
    redirect = false;
    std::string why;
    auto hop = next_hop(why);
    location.clear();
    if (!hop) return finish(ProbeReason::ProtocolError, why);
    if (visited.empty()) {
      visited.push_back(spec->host + ":" + std::to_string(spec->port) + spec->target);
    }
    std::string key = hop->host + ":" + std::to_string(hop->port) + hop->target;
    if (hops >= spec->max_redirects ||
        std::find(visited.begin(), visited.end(), key) != visited.end()) {
      return finish(ProbeReason::ProtocolError, "too many redirects");
    }
    visited.push_back(std::move(key));
    ++hops;
    // The redirect's connection ends like a finished probe's (RST); every handler still queued
    // for it becomes stale.
    ++gen;
    error_code ignored;
    timer.cancel();
    lowest().set_option(asio::socket_base::linger(true, 0), ignored);
    lowest().close(ignored);
    reader.reset();
    tls.reset();
    sock.reset();
    used = 0;
    scanned = 0;
    matched = truncated = false;
    decided.reset();
    cert_days.reset();
    window.clear();
    bool see_other = status == 303 && !spec->head;
    status = 0;
    hop_host = std::move(hop->host);
    hop_target = std::move(hop->target);
    hop_host_header = std::move(hop->host_header);
    port = hop->port;
    hop_request.clear();
    hop_request.append(see_other ? "GET" : spec->method).append(" ").append(hop_target);
    hop_request.append(" HTTP/1.1\r\nHost: ").append(hop_host_header).append("\r\n");
    hop_request.append(spec->request_fields);
    stage = Stage::Connect;
    if (spec->tls) {
      tls.emplace(owner->io, spec->tls->ctx);
    } else {
      sock.emplace(owner->io);
    }
    if (auto a = literal_address(hop_host)) return connect(*a);
    if (owner->resolver == nullptr) {
      return finish(ProbeReason::ResolveError, "host name not resolved: " + hop_host);
    }
    resolve(hop_host);
  }

  void conclude() {
    if (redirect) return follow();
    ProbeReason r = *decided;
    std::string detail;
    if (r == ProbeReason::BadStatus) detail = "status " + std::to_string(status);
    else if (r == ProbeReason::BodyMismatch) detail = "body does not match";
    else if (r == ProbeReason::TooLarge) detail = truncated ? "no match in body_limit" : "header too large";
    else if (r == ProbeReason::ProtocolError) detail = "malformed response";
    finish(r, std::move(detail), reusable());
  }

  void finish(ProbeReason reason, std::string detail, bool keep = false) {
    ++gen;  // every handler still queued for this probe is now stale
    error_code ignored;
    timer.cancel();
    tcp::socket& s = lowest();
    if (keep && s.is_open()) {
      Idle& slot = owner->idle[spec->endpoint];
      slot.sock = std::move(sock);
      slot.tls = std::move(tls);
      slot.cert_days = cert_days;
      owner->stats.idle_connections = owner->idle.size();
    } else if (s.is_open()) {
      // A connect-only check without reset_after_connect closes politely with a FIN.
      bool polite = spec->kind == config::ProbeKind::Tcp && !spec->reset_after_connect;
      // RST instead of FIN: no TIME_WAIT on either side and the target's app is not left with a
      // half-closed socket (what HAProxy does after a check).
      if (!polite) s.set_option(asio::socket_base::linger(true, 0), ignored);
      s.close(ignored);
    }
    ProbeResult result;
    result.endpoint = spec->endpoint;
    auto now = core::Clock::now();
    if (reason == ProbeReason::Ok && cert_days &&
        std::chrono::hours(24) * *cert_days < spec->cert_expiry_warning) {
      reason = ProbeReason::CertExpiring;
      detail = "certificate expires in " + std::to_string(*cert_days) + " days";
    }
    result.outcome.reason = reason;
    result.outcome.latency = now - started;
    result.started = started;
    result.detail = std::move(detail);
    result.http_status = status;
    result.cert_days_left = cert_days;

    Completion d = std::move(done);
    done = nullptr;
    reader.reset();
    tls.reset();
    sock.reset();
    if (window.capacity() > 4096) std::string().swap(window);
    window.clear();
    spec = nullptr;
    Impl* o = owner;
    o->stats.completed++;
    o->stats.in_flight--;
    o->free.push_back(this);
    d(std::move(result));
  }
};

void ResponseReader::on_field_impl(http::field name, beast_sv, beast_sv value, error_code&) {
  if (name == http::field::location && conn_.spec->follow_redirects) {
    conn_.location.assign(value.data(), value.size());
  }
}
void ResponseReader::on_header_impl(error_code&) {
  header_done = true;
  conn_.on_header(status);
}
std::size_t ResponseReader::on_body_impl(beast_sv body, error_code&) {
  conn_.body_seen += body.size();
  if (!conn_.decided) conn_.on_body(std::string_view(body.data(), body.size()));
  return body.size();
}
void ResponseReader::on_finish_impl(error_code&) {
  if (!conn_.decided) conn_.on_finish();
}

std::shared_ptr<TlsClientContext> Prober::Impl::tls_context(const config::TlsSettings& t,
                                                            std::string& error) {
  std::string key = t.ca_file + '\n' + t.client_cert_file + '\n' + t.client_key_file + '\n' +
                    t.min_version + '\n' + (t.verify ? "1" : "0");
  if (auto it = tls_contexts.find(key); it != tls_contexts.end()) return it->second;
  try {
    ssl::context ctx(ssl::context::tls_client);
    long min = t.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (t.min_version != "1.2" && t.min_version != "1.3") {
      error = "tls min_version must be 1.2 or 1.3";
      return nullptr;
    }
    SSL_CTX_ctrl(ctx.native_handle(), SSL_CTRL_SET_MIN_PROTO_VERSION, min, nullptr);
    if (t.verify) {
      ctx.set_verify_mode(ssl::verify_peer);
      if (t.ca_file.empty()) {
        ctx.set_default_verify_paths();
      } else {
        ctx.load_verify_file(t.ca_file);
      }
    } else {
      ctx.set_verify_mode(ssl::verify_none);
    }
    if (!t.client_cert_file.empty()) {
      ctx.use_certificate_chain_file(t.client_cert_file);
      ctx.use_private_key_file(t.client_key_file.empty() ? t.client_cert_file : t.client_key_file,
                               ssl::context::pem);
    }
    auto shared = std::make_shared<TlsClientContext>(std::move(ctx));
    tls_contexts.emplace(std::move(key), shared);
    return shared;
  } catch (const boost::system::system_error& e) {
    error = std::string("tls settings: ") + e.what();
    return nullptr;
  }
}

void Prober::Impl::start(const ProbeSpec& spec, Completion done) {
  stats.started++;
  if (!spec.address && resolver == nullptr) {
    ProbeResult r;
    r.endpoint = spec.endpoint;
    r.started = core::Clock::now();
    r.outcome.reason = ProbeReason::ResolveError;
    r.detail = "host name not resolved: " + spec.host;
    stats.completed++;
    asio::post(io, [alive = weak_from_this(), d = std::move(done), r = std::move(r)]() mutable {
      if (auto self = alive.lock(); self && !self->closing) d(std::move(r));
    });
    return;
  }
  Conn* c;
  if (free.empty()) {
    all.push_back(std::make_shared<Conn>(this));
    c = all.back().get();
    stats.pooled_connections = all.size();
  } else {
    c = free.back();
    free.pop_back();
  }
  stats.in_flight++;
  c->begin(spec, std::move(done));
}

Prober::Prober(asio::io_context& io, Resolver* resolver)
    : impl_(std::make_shared<Impl>(io, resolver)) {}

Prober::~Prober() {
  impl_->closing = true;
  impl_->idle.clear();
  for (auto& c : impl_->all) {
    c->owner = nullptr;
    error_code ignored;
    c->timer.cancel();
    if (c->sock || c->tls) {
      c->lowest().set_option(asio::socket_base::linger(true, 0), ignored);
      c->lowest().close(ignored);
    }
  }
}

PrepareResult Prober::prepare(const config::Endpoint& ep) {
  PrepareResult out;
  ProbeSpec s;
  s.endpoint = ep.name;
  s.kind = ep.kind;
  s.timeout = ep.timeout;
  s.connect_timeout = ep.connect_timeout.count() > 0 ? ep.connect_timeout : ep.timeout;
  s.cert_expiry_warning = ep.tls.cert_expiry_warning;
  s.verify = ep.tls.verify;
  bool wants_tls = false;
  switch (ep.kind) {
    case config::ProbeKind::Http:
    case config::ProbeKind::Https: {
      auto url = parse_url(ep.http.url, out.error);
      if (!url) return out;
      if (url->tls != (ep.kind == config::ProbeKind::Https)) {
        out.error = "url scheme does not match kind";
        return out;
      }
      wants_tls = url->tls;
      s.host = url->host;
      s.port = url->port;
      std::string host_header = ep.http.host_header;
      if (host_header.empty()) {
        host_header = url->bracketed ? "[" + url->host + "]" : url->host;
        if (url->port != (url->tls ? 443 : 80)) host_header += ":" + std::to_string(url->port);
      }
      if (has_crlf(host_header) || has_crlf(ep.http.method) || ep.http.method.empty() ||
          ep.http.method.find(' ') != std::string::npos) {
        out.error = "bad method or host header";
        return out;
      }
      std::string& r = s.request;
      r.reserve(128);
      r.append(ep.http.method).append(" ").append(url->target).append(" HTTP/1.1\r\n");
      r.append("Host: ").append(host_header).append("\r\n");
      const std::size_t fields_at = r.size();
      bool user_agent = false, connection = false, accept = false;
      for (const auto& [name, value] : ep.http.headers) {
        if (has_crlf(name) || has_crlf(value) || name.empty() ||
            name.find(':') != std::string::npos) {
          out.error = "bad header " + name;
          return out;
        }
        if (iequals(name, "host")) continue;  // host_header decides
        user_agent |= iequals(name, "user-agent");
        connection |= iequals(name, "connection");
        accept |= iequals(name, "accept");
        r.append(name).append(": ").append(value).append("\r\n");
      }
      if (!user_agent) r.append("User-Agent: failoverd\r\n");
      if (!accept) r.append("Accept: */*\r\n");
      // A fresh connection per probe unless keep-alive is asked for: say so to the server.
      if (!connection && !ep.http.keepalive) r.append("Connection: close\r\n");
      s.keepalive = ep.http.keepalive;
      r.append("\r\n");
      r.shrink_to_fit();
      if (ep.http.follow_redirects) {
        s.follow_redirects = true;
        s.max_redirects = ep.http.max_redirects;
        s.method = ep.http.method;
        s.target = url->target;
        s.host_header = host_header;
        s.request_fields = r.substr(fields_at);
      }
      s.head = iequals(ep.http.method, "HEAD");
      s.expect = ep.http.expect_body;
      if (!ep.http.expect_body_regex.empty()) {
        BodyRegexResult re = compile_body_regex(ep.http.expect_body_regex, ep.http.body_limit);
        if (!re.regex) {
          out.error = "bad expect_body_regex: " + re.error;
          return out;
        }
        s.body_regex = std::move(re.regex);
      }
      s.expect_status = ep.http.expect_status;
      s.body_limit = ep.http.body_limit;
      break;
    }
    case config::ProbeKind::Tcp:
    case config::ProbeKind::Tls:
      s.host = ep.tcp.address.host;
      s.port = ep.tcp.address.port;
      if (s.host.empty() || s.port == 0) {
        out.error = "tcp/tls endpoint needs address host:port";
        return out;
      }
      wants_tls = ep.kind == config::ProbeKind::Tls;
      if (ep.kind == config::ProbeKind::Tcp) {
        s.request = unescape_tcp_payload(ep.tcp.send);
        s.expect = unescape_tcp_payload(ep.tcp.expect);
        s.reset_after_connect = ep.tcp.reset_after_connect;
      }
      break;
    case config::ProbeKind::Dns:
      out.error = "dns endpoints are probed by probe/dns_*";
      return out;
  }
  s.address = literal_address(s.host);
  if (wants_tls) {
    s.tls_name = ep.tls.server_name.empty() ? s.host : ep.tls.server_name;
    s.tls_name_is_ip = literal_address(s.tls_name).has_value();
    s.tls = impl_->tls_context(ep.tls, out.error);
    if (!s.tls) return out;
  }
  out.spec = std::move(s);
  return out;
}

void Prober::start(const ProbeSpec& spec, Completion done) { impl_->start(spec, std::move(done)); }

ProberStats Prober::stats() const { return impl_->stats; }

}  // namespace failoverd::probe
