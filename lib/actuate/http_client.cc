#include "actuate/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <openssl/ssl.h>

namespace failoverd::actuate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

HttpResponse failure(HttpError e, std::string detail) {
  HttpResponse r;
  r.error = e;
  r.detail = std::move(detail);
  return r;
}

// Beast reports an expired tcp_stream deadline as beast::error::timeout.
HttpError classify(const beast::error_code& ec, HttpError otherwise) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted)
    return HttpError::Timeout;
  return otherwise;
}

}  // namespace

std::string_view to_string(HttpError e) {
  switch (e) {
    case HttpError::None:
      return "none";
    case HttpError::Resolve:
      return "resolve";
    case HttpError::Connect:
      return "connect";
    case HttpError::Timeout:
      return "timeout";
    case HttpError::Io:
      return "io";
    case HttpError::Tls:
      return "tls";
    case HttpError::Protocol:
      return "protocol";
    case HttpError::TooLarge:
      return "too_large";
  }
  return "none";
}

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  if (!url.starts_with("http://")) return std::nullopt;
  return parse_web_url(url);
}

std::optional<HttpUrl> parse_web_url(std::string_view url) {
  HttpUrl out;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
    out.tls = true;
    out.port = 443;
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  // The authority ends where the path, query or fragment starts (as the loader's check_url
  // reads it); a fragment is never sent.
  url = url.substr(0, url.find('#'));
  const auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  if (slash != std::string_view::npos) {
    out.base_path = std::string(url.substr(slash));
    if (out.base_path.front() == '?') out.base_path.insert(0, "/");
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {  // [::1]:8081
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

// GCC 12 at -O2 reports a false -Wmismatched-new-delete on this coroutine's frame (Asio's
// awaitable_frame_base pairs its own operator new and delete; the inliner loses track of that).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Writes the request and reads the response over a connected stream (plain or TLS).
template <typename Stream>
asio::awaitable<HttpResponse> exchange_over(Stream& stream, const HttpUrl& url, HttpRequest request,
                                            const HttpLimits& limits) {
  http::request<http::string_body> req;
  req.version(11);
  req.method(http::string_to_verb(request.method));
  req.target(url.base_path + request.target);
  req.set(http::field::host, url.host + ":" + std::to_string(url.port));
  req.set(http::field::user_agent, "failoverd");
  req.set(http::field::connection, "close");
  req.set(http::field::accept, "application/json");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(request.body);
  req.prepare_payload();

  beast::get_lowest_layer(stream).expires_after(limits.step_timeout);
  auto [wec, written] = co_await http::async_write(stream, req, kTuple);
  (void)written;
  if (wec) co_return failure(classify(wec, HttpError::Io), "write: " + wec.message());

  beast::flat_buffer buffer(limits.max_response_bytes);
  http::response_parser<http::string_body> parser;
  parser.header_limit(
      static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_response_bytes, 64 * 1024)));
  parser.body_limit(limits.max_response_bytes);
  beast::get_lowest_layer(stream).expires_after(limits.step_timeout);
  auto [rdec, nread] = co_await http::async_read(stream, buffer, parser, kTuple);
  (void)nread;
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (rdec == http::error::body_limit || rdec == http::error::header_limit ||
      rdec == http::error::buffer_overflow) {
    co_return failure(
        HttpError::TooLarge,
        "read: response larger than " + std::to_string(limits.max_response_bytes) + " bytes");
  }
  if (rdec) {
    const bool protocol =
        rdec.category() == http::make_error_code(http::error::end_of_stream).category();
    co_return failure(classify(rdec, protocol ? HttpError::Protocol : HttpError::Io),
                      "read: " + rdec.message());
  }
  HttpResponse out;
  auto response = parser.release();
  out.status = response.result_int();
  out.body = std::move(response.body());
  co_return out;
}

asio::awaitable<HttpResponse> http_exchange(asio::any_io_executor executor, const HttpUrl& url,
                                            HttpRequest request, HttpLimits limits) {
  // Resolve with a deadline: the resolver races a timer; the loser is cancelled and awaited.
  tcp::resolver resolver(executor);
  asio::steady_timer resolve_deadline(executor);
  resolve_deadline.expires_after(limits.step_timeout);
  auto resolved = co_await (resolver.async_resolve(url.host, std::to_string(url.port), kTuple) ||
                            resolve_deadline.async_wait(kTuple));
  if (resolved.index() == 1) co_return failure(HttpError::Timeout, "resolve: timed out");
  auto [rec, endpoints] = std::get<0>(std::move(resolved));
  if (rec) co_return failure(HttpError::Resolve, "resolve: " + rec.message());

  beast::tcp_stream stream(executor);
  stream.expires_after(limits.step_timeout);
  auto [cec, connected] = co_await stream.async_connect(endpoints, kTuple);
  (void)connected;
  if (cec) co_return failure(classify(cec, HttpError::Connect), "connect: " + cec.message());

  if (!url.tls) co_return co_await exchange_over(stream, url, std::move(request), limits);

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  beast::error_code tec;
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1, tec);
  ctx.set_verify_mode(asio::ssl::verify_peer, tec);
  if (limits.ca_file.empty()) {
    ctx.set_default_verify_paths(tec);
  } else {
    ctx.load_verify_file(limits.ca_file, tec);
  }
  if (tec) co_return failure(HttpError::Tls, "tls: trust store: " + tec.message());
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), ctx);
  secure.set_verify_callback(asio::ssl::host_name_verification(url.host), tec);
  // SNI (a server with several names picks its certificate by it); not for an address literal.
  beast::error_code not_ip;
  (void)asio::ip::make_address(url.host, not_ip);
  if (not_ip) SSL_ctrl(secure.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
           const_cast<char*>(url.host.c_str()));
  beast::get_lowest_layer(secure).expires_after(limits.step_timeout);
  auto [hec] = co_await secure.async_handshake(asio::ssl::stream_base::client, kTuple);
  if (hec) {
    co_return failure(classify(hec, HttpError::Tls), "tls handshake: " + hec.message());
  }
  co_return co_await exchange_over(secure, url, std::move(request), limits);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace failoverd::actuate
