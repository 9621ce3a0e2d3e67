#include "support/hostile_server.h"

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#pragma GCC diagnostic pop
#include <optional>
#include <vector>

namespace failoverd::testing {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

struct HostileServer::Impl : std::enable_shared_from_this<HostileServer::Impl> {
  Impl(asio::io_context& ctx, HostileOptions o) : io(ctx), options(std::move(o)), acceptor(ctx) {}

  asio::io_context& io;
  HostileOptions options;
  tcp::acceptor acceptor;
  std::optional<ssl::context> tls;
  std::uint64_t accepted = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t requests = 0;
  std::string last_request;
  bool stopped = false;
  std::vector<std::weak_ptr<tcp::socket>> open;

  awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    for (;;) {
      auto sock = std::make_shared<tcp::socket>(io);
      auto [ec] = co_await acceptor.async_accept(*sock, tok);
      if (ec || stopped) co_return;
      ++accepted;
      open.push_back(sock);
      asio::co_spawn(io, serve(self, sock), asio::detached);
    }
  }

  template <typename Stream>
  awaitable<bool> send(Stream& s, const void* data, std::size_t n) {
    auto [ec, written] = co_await asio::async_write(s, asio::buffer(data, n), tok);
    bytes_sent += written;
    co_return !ec && !stopped;
  }

  template <typename Stream>
  awaitable<bool> read_request(Stream& s) {
    asio::streambuf in(16 * 1024);
    auto [ec, n] = co_await asio::async_read_until(s, in, "\r\n\r\n", tok);
    if (ec) co_return false;
    last_request.assign(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + n);
    ++requests;
    co_return true;
  }

  awaitable<void> serve([[maybe_unused]] std::shared_ptr<Impl> self, std::shared_ptr<tcp::socket> sock) {
    asio::steady_timer timer(io);
    boost::system::error_code ignored;
    switch (options.mode) {
      case HostileMode::Silent: {
        // Hold the connection open until the peer goes away.
        char c;
        co_await sock->async_read_some(asio::buffer(&c, 1), tok);
        while (!stopped) {
          auto [ec, n] = co_await sock->async_read_some(asio::buffer(&c, 1), tok);
          if (ec) break;
        }
        break;
      }
      case HostileMode::Drip: {
        static const std::string text =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\nok";
        for (char c : text) {
          if (!co_await send(*sock, &c, 1)) break;
          timer.expires_after(options.drip_every);
          co_await timer.async_wait(tok);
          if (stopped) break;
        }
        break;
      }
      case HostileMode::EndlessHeaders: {
        static const std::string status = "HTTP/1.1 200 OK\r\n";
        if (!co_await send(*sock, status.data(), status.size())) break;
        std::string field = "X-Endless: " + std::string(200, 'h') + "\r\n";
        for (int i = 0; i < 1'000'000; ++i) {
          if (!co_await send(*sock, field.data(), field.size())) break;
        }
        break;
      }
      case HostileMode::HugeBody: {
        static const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
        static const std::string block(16 * 1024, 'x');
        if (!co_await send(*sock, head.data(), head.size())) break;
        for (std::size_t sent = 0; sent < (std::size_t{1} << 30); sent += block.size()) {
          if (!co_await send(*sock, block.data(), block.size())) break;
        }
        break;
      }
      case HostileMode::Garbage: {
        std::string junk;
        for (int i = 0; i < 512; ++i) junk.push_back(static_cast<char>((i * 131 + 7) & 0xff));
        if (!co_await send(*sock, junk.data(), junk.size())) break;
        char c;
        co_await sock->async_read_some(asio::buffer(&c, 1), tok);
        break;
      }
      case HostileMode::ResetMidResponse: {
        static const std::string part = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial";
        co_await read_request(*sock);
        co_await send(*sock, part.data(), part.size());
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(tok);
        sock->set_option(asio::socket_base::linger(true, 0), ignored);
        sock->close(ignored);
        co_return;
      }
      case HostileMode::Canned: {
        if (co_await read_request(*sock)) {
          co_await send(*sock, options.canned.data(), options.canned.size());
        }
        sock->shutdown(tcp::socket::shutdown_send, ignored);
        char c;
        co_await sock->async_read_some(asio::buffer(&c, 1), tok);
        break;
      }
      case HostileMode::TlsCanned: {
        ssl::stream<tcp::socket&> s(*sock, *tls);
        auto [ec] = co_await s.async_handshake(ssl::stream_base::server, tok);
        if (!ec && co_await read_request(s)) {
          co_await send(s, options.canned.data(), options.canned.size());
          co_await s.async_shutdown(tok);
        }
        break;
      }
      case HostileMode::KeepAlive: {
        for (unsigned answered = 0; !stopped && co_await read_request(*sock); ++answered) {
          if (options.answers_per_connection > 0 && answered == options.answers_per_connection) {
            break;
          }
          if (!co_await send(*sock, options.canned.data(), options.canned.size())) break;
        }
        break;
      }
      case HostileMode::Echo: {
        char buf[4096];
        for (;;) {
          auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), tok);
          if (ec || !co_await send(*sock, buf, n)) break;
        }
        break;
      }
    }
    sock->close(ignored);
  }
};

HostileServer::HostileServer(asio::io_context& io, HostileOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {
  Impl& m = *impl_;
  tcp::endpoint ep(m.options.ipv6 ? asio::ip::address(asio::ip::address_v6::loopback())
                                  : asio::ip::address(asio::ip::address_v4::loopback()),
                   0);
  m.acceptor.open(ep.protocol());
  m.acceptor.set_option(tcp::acceptor::reuse_address(true));
  m.acceptor.bind(ep);
  m.acceptor.listen();
  if (m.options.mode == HostileMode::TlsCanned) {
    m.tls.emplace(ssl::context::tls_server);
    m.tls->use_certificate_chain_file(m.options.tls_cert);
    m.tls->use_private_key_file(m.options.tls_key, ssl::context::pem);
    if (!m.options.tls_client_ca.empty()) {
      m.tls->load_verify_file(m.options.tls_client_ca);
      m.tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  }
  asio::co_spawn(io, m.accept_loop(impl_), asio::detached);
}

HostileServer::~HostileServer() {
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& w : impl_->open) {
    if (auto s = w.lock()) s->close(ignored);
  }
}

std::uint16_t HostileServer::port() const { return impl_->acceptor.local_endpoint().port(); }
std::uint64_t HostileServer::accepted() const { return impl_->accepted; }
std::uint64_t HostileServer::bytes_sent() const { return impl_->bytes_sent; }
std::uint64_t HostileServer::requests() const { return impl_->requests; }
const std::string& HostileServer::last_request() const { return impl_->last_request; }

std::string http_response(int status, std::string_view body, std::string_view extra) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n";
  r.append(extra);
  r.append("\r\n");
  r.append(body);
  return r;
}

}  // namespace failoverd::testing
