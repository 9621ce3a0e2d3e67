// The target API HTTP client against hostile loopback servers (port 0): silence, floods, garbage.
// GCC 12 at -O2 reports a false -Wnull-dereference inside Asio's io_context executor comparison
// (Boost headers, inlined into this file's co_spawn calls). Before any include, so it covers them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include "actuate/http_client.h"

#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>

namespace asio = boost::asio;
using namespace failoverd::actuate;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Accepts one connection, reads the request head, then sends `reply` (or nothing) and holds the
// connection open for `hold`.
asio::awaitable<void> serve_once(tcp::acceptor& acceptor, std::string reply,
                                 std::chrono::milliseconds hold, std::string* request_head) {
  auto [ec, socket] = co_await acceptor.async_accept(kTuple);
  if (ec) co_return;
  asio::streambuf buf;
  auto [rec, n] = co_await asio::async_read_until(socket, buf, "\r\n\r\n", kTuple);
  if (!rec && request_head) {
    *request_head = std::string(asio::buffers_begin(buf.data()),
                                asio::buffers_begin(buf.data()) + static_cast<long>(n));
  }
  if (!reply.empty()) co_await asio::async_write(socket, asio::buffer(reply), kTuple);
  asio::steady_timer t(socket.get_executor());
  t.expires_after(hold);
  co_await t.async_wait(kTuple);
}

HttpResponse exchange(std::string reply, std::chrono::milliseconds hold, HttpLimits limits,
                      std::string* request_head = nullptr) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  HttpUrl url{"127.0.0.1", acceptor.local_endpoint().port(), ""};
  asio::co_spawn(io, serve_once(acceptor, std::move(reply), hold, request_head), asio::detached);
  std::optional<HttpResponse> out;
  HttpRequest req;
  req.method = "PATCH";
  req.target = "/api/v1/servers/localhost/zones/example.test.";
  req.headers.emplace_back("X-API-Key", "k");
  req.body = "{}";
  asio::co_spawn(io, http_exchange(io.get_executor(), url, req, limits),
                 [&](std::exception_ptr, HttpResponse r) { out = std::move(r); });
  io.run_for(10s);
  REQUIRE(out);
  return *out;
}

}  // namespace

TEST_SUITE("actuate.http_client") {
  TEST_CASE("a normal reply gives the status and body, and the request carries the key") {
    std::string head;
    auto r = exchange("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 0ms, {}, &head);
    CHECK(r.ok());
    CHECK(r.status == 204);
    CHECK(head.starts_with("PATCH /api/v1/servers/localhost/zones/example.test. HTTP/1.1\r\n"));
    CHECK(head.find("X-API-Key: k\r\n") != std::string::npos);
    CHECK(head.find("Content-Type: application/json\r\n") != std::string::npos);
  }

  TEST_CASE("a server that never answers hits the read deadline") {
    HttpLimits limits;
    limits.step_timeout = 200ms;
    auto r = exchange("", 2000ms, limits);
    CHECK(r.error == HttpError::Timeout);
  }

  TEST_CASE("a reply over the size limit is cut off") {
    HttpLimits limits;
    limits.max_response_bytes = 1024;
    auto r =
        exchange("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'x'),
                 0ms, limits);
    CHECK(r.error == HttpError::TooLarge);
  }

  TEST_CASE("garbage is a protocol error") {
    auto r = exchange("SSH-2.0-OpenSSH_9.2\r\n\r\n", 0ms, {});
    CHECK(r.error == HttpError::Protocol);
  }

  TEST_CASE("a closed port is a connect error") {
    asio::io_context io;
    std::uint16_t port = 0;
    {
      tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = a.local_endpoint().port();
    }
    std::optional<HttpResponse> out;
    asio::co_spawn(io, http_exchange(io.get_executor(), HttpUrl{"127.0.0.1", port, ""}, {}, {}),
                   [&](std::exception_ptr, HttpResponse r) { out = std::move(r); });
    io.run_for(5s);
    REQUIRE(out);
    CHECK(out->error == HttpError::Connect);
  }
}
