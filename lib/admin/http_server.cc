#include "admin/http_server.h"

#include <openssl/ssl.h>

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
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>

namespace failoverd::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, ServerOptions o, Handler h)
      : io_(io), options_(std::move(o)), handler_(std::move(h)), acceptor_(io) {}

  struct Connection {
    beast::tcp_stream* stream;  // owned by the connection's coroutine
    std::string client;         // its IP address
    bool operator_ = false;     // has served an authenticated request: never evicted
  };

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;  // set: HTTPS only
  bool stopped_ = false;
  std::uint64_t next_connection_id_ = 0;
  // Open connections by id, which is the accept order: begin() is the oldest.
  std::map<std::uint64_t, Connection> connections_;
  std::unordered_map<std::string, std::size_t> per_client_;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::uint64_t id, std::unique_ptr<beast::tcp_stream> stream,
                              std::string peer, std::chrono::steady_clock::time_point deadline);
  template <typename Stream>
  asio::awaitable<void> session(Stream& stream, beast::tcp_stream& raw, const std::string& peer,
                                std::uint64_t id, std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> make_tls();
  bool admit(const std::string& client);
  void evict(std::map<std::uint64_t, Connection>::iterator it);
  void forget(std::uint64_t id);
};

namespace {

Response plain(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

template <typename Message>
void set_fields(Message& res, const Response& r, bool keep_alive) {
  res.set(http::field::server, "failoverd");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive);
}

http::response<http::string_body> to_beast(const Response& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  set_fields(res, r, keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

// The answer to HEAD: GET's headers, its Content-Length included, and no body, so a kept-alive
// client reads the next response from the right byte.
http::response<http::empty_body> to_beast_head(const Response& r, unsigned version,
                                               bool keep_alive) {
  http::response<http::empty_body> res{static_cast<http::status>(r.status), version};
  set_fields(res, r, keep_alive);
  res.content_length(r.body.size());
  return res;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool HttpServer::Impl::admit(const std::string& client) {
  // Oldest first: a stranger's connection has either been idle longest or trickled longest; a new
  // arrival (an operator, a liveness probe) is served within its header deadline unless as many
  // newer connections arrive in that time as the listener holds.
  auto oldest_evictable = [&](bool same_client) {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (!it->second.operator_ && (!same_client || it->second.client == client)) return it;
    }
    return connections_.end();
  };
  if (auto n = per_client_.find(client);
      n != per_client_.end() && n->second >= options_.max_connections_per_client) {
    auto victim = oldest_evictable(true);
    if (victim == connections_.end()) return false;
    evict(victim);
  }
  if (connections_.size() >= options_.max_connections) {
    auto victim = oldest_evictable(false);
    if (victim == connections_.end()) return false;
    evict(victim);
  }
  return true;
}

void HttpServer::Impl::evict(std::map<std::uint64_t, Connection>::iterator it) {
  // Closing the socket completes the connection's pending operation with an error; its coroutine
  // then ends. The slot is free from now on.
  beast::error_code ignored;
  it->second.stream->socket().close(ignored);
  forget(it->first);
}

void HttpServer::Impl::forget(std::uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto n = per_client_.find(it->second.client);
  if (n != per_client_.end() && --n->second == 0) per_client_.erase(n);
  connections_.erase(it);
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (stopped_) break;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning on the error.
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    const auto deadline = std::chrono::steady_clock::now() + options_.header_timeout;
    beast::error_code rec;
    auto remote = socket.remote_endpoint(rec);
    if (rec) continue;  // already gone
    std::string client = remote.address().to_string();
    if (!admit(client)) {
      // Every connection in the way is an operator's: refuse by closing at once; the client sees
      // a reset, not a hang.
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    std::string peer = remote.address().is_v6() ? "[" + client + "]:" : client + ":";
    peer += std::to_string(remote.port());
    auto stream = std::make_unique<beast::tcp_stream>(std::move(socket));
    const std::uint64_t id = next_connection_id_++;
    connections_.emplace(id, Connection{stream.get(), client});
    ++per_client_[client];
    asio::co_spawn(io_, serve(id, std::move(stream), std::move(peer), deadline), asio::detached);
  }
}

asio::awaitable<void> HttpServer::Impl::serve(std::uint64_t id,
                                              std::unique_ptr<beast::tcp_stream> owned,
                                              std::string peer,
                                              std::chrono::steady_clock::time_point deadline) {
  auto self = shared_from_this();
  beast::tcp_stream& stream = *owned;
  beast::error_code ec;
  if (tls_) {
    // Wait for the client's first bytes before making any TLS state (an SSL object and its
    // record buffers, tens of KiB): an idle stranger then costs only its socket. The wait is
    // bounded by the header deadline like the handshake after it.
    asio::steady_timer guard(io_, deadline);
    auto waiting = std::make_shared<bool>(true);
    guard.async_wait([waiting, &stream](const beast::error_code& e) {
      beast::error_code ignored;
      if (!e && *waiting) stream.socket().cancel(ignored);
    });
    auto [wait_ec] = co_await stream.socket().async_wait(tcp::socket::wait_read, kNoThrow);
    *waiting = false;
    guard.cancel();
    if (!wait_ec && !stopped_ && connections_.contains(id)) {
      asio::ssl::stream<beast::tcp_stream&> secure(stream, *tls_);
      stream.expires_at(deadline);
      auto [hs_ec] = co_await secure.async_handshake(asio::ssl::stream_base::server, kNoThrow);
      // A failed handshake (no or wrong client certificate, plain HTTP, a scanner) ends here.
      if (!hs_ec) {
        if (!options_.client_ca_file.empty()) {
          // A client certificate from the configured CA, verified: an operator.
          if (auto it = connections_.find(id); it != connections_.end())
            it->second.operator_ = true;
        }
        co_await session(secure, stream, peer, id, deadline);
        stream.expires_after(std::chrono::seconds(1));
        co_await secure.async_shutdown(kNoThrow);
      }
    }
  } else {
    co_await session(stream, stream, peer, id, deadline);
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  forget(id);
  stream.close();
}

template <typename Stream>
asio::awaitable<void> HttpServer::Impl::session(Stream& stream, beast::tcp_stream& raw,
                                                const std::string& peer, std::uint64_t id,
                                                std::chrono::steady_clock::time_point deadline) {
  beast::flat_buffer buffer(options_.max_header_bytes + options_.max_body_bytes);
  for (std::uint32_t n = 0; n < options_.max_requests_per_connection && !stopped_; ++n) {
    if (!connections_.contains(id)) break;  // evicted
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    parser.body_limit(options_.max_body_bytes);
    // One absolute deadline for the whole header, however it is split into reads.
    raw.expires_at(deadline);
    auto [read_ec, bytes] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
    if (!read_ec && !parser.is_done()) {
      raw.expires_after(options_.io_timeout);
      std::tie(read_ec, bytes) = co_await http::async_read(stream, buffer, parser, kNoThrow);
    }
    (void)bytes;
    if (read_ec == http::error::end_of_stream || read_ec == beast::error::timeout ||
        read_ec == asio::error::operation_aborted || read_ec == asio::error::connection_reset ||
        read_ec == asio::error::bad_descriptor || read_ec == asio::error::eof ||
        read_ec == asio::ssl::error::stream_truncated || !connections_.contains(id)) {
      break;
    }
    Response response;
    bool keep_alive = false;
    bool head = false;
    unsigned version = 11;
    if (read_ec == http::error::body_limit) {
      response = plain(413, "request body too large\n");
    } else if (read_ec == http::error::header_limit) {
      response = plain(431, "request header too large\n");
    } else if (read_ec) {
      response = plain(400, "malformed request\n");
    }
    if (read_ec && options_.on_refused) options_.on_refused(response.status);
    if (!read_ec) {
      auto& req = parser.get();
      version = req.version();
      keep_alive = req.keep_alive();
      head = req.method() == http::verb::head;
      Request request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) request.headers[lower(field.name_string())] = std::string(field.value());
      request.body = std::move(req.body());
      request.peer = peer;
      response = handler_(request);
      if (response.authenticated) {
        if (auto it = connections_.find(id); it != connections_.end()) it->second.operator_ = true;
      }
    }
    raw.expires_after(options_.io_timeout);
    beast::error_code write_ec;
    if (head) {
      auto res = to_beast_head(response, version, keep_alive);
      std::tie(write_ec, bytes) = co_await http::async_write(stream, res, kNoThrow);
    } else {
      auto res = to_beast(response, version, keep_alive);
      std::tie(write_ec, bytes) = co_await http::async_write(stream, res, kNoThrow);
    }
    if (write_ec || !keep_alive) break;
    deadline = std::chrono::steady_clock::now() + options_.header_timeout;
  }
}

namespace {

// Builds the server's TLS context from the options' files; an error text names the file.
std::optional<std::string> load_tls(const ServerOptions& o, std::optional<asio::ssl::context>& out) {
  std::string step = "certificate " + o.tls_cert_file;
  try {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    // Idle TLS connections give their record buffers back to the allocator.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    ctx.use_certificate_chain_file(o.tls_cert_file);
    step = "key " + o.tls_key_file;
    ctx.use_private_key_file(o.tls_key_file.empty() ? o.tls_cert_file : o.tls_key_file,
                             asio::ssl::context::pem);
    if (!o.client_ca_file.empty()) {
      step = "client CA " + o.client_ca_file;
      ctx.load_verify_file(o.client_ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    out.emplace(std::move(ctx));
  } catch (const boost::system::system_error& e) {
    return "tls: cannot load " + step + ": " + e.code().message();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> HttpServer::Impl::make_tls() {
  if (options_.tls_cert_file.empty()) return std::nullopt;
  return load_tls(options_, tls_);
}

std::optional<std::string> HttpServer::check_tls(const ServerOptions& options) {
  if (options.tls_cert_file.empty()) return std::nullopt;
  std::optional<asio::ssl::context> ctx;
  return load_tls(options, ctx);
}

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

std::optional<std::string> HttpServer::start() {
  const auto& listen = impl_->options_.listen;
  std::string where = listen.host + ":" + std::to_string(listen.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(listen.host, ec);
  if (ec) return "listen address " + where + " is not an IP address";
  if (auto bad = impl_->make_tls()) return bad;
  tcp::endpoint endpoint(address, listen.port);
  auto& acceptor = impl_->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return "bind " + where + ": " + ec.message();
  }
  asio::co_spawn(impl_->io_, impl_->accept_loop(), asio::detached);
  return std::nullopt;
}

std::string HttpServer::local_address() const {
  beast::error_code ec;
  auto ep = impl_->acceptor_.local_endpoint(ec);
  if (ec) return {};
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::uint16_t HttpServer::local_port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped_) return;
  impl_->stopped_ = true;
  beast::error_code ignored;
  impl_->acceptor_.close(ignored);
  for (auto& [id, connection] : impl_->connections_) connection.stream->socket().close(ignored);
}

std::size_t HttpServer::open_connections() const {
  return impl_->connections_.size();
}

}  // namespace failoverd::admin
