// The HTTP client over https (notification webhooks): the server's certificate is verified
// against ca_file (or the system store) and must name the host asked for.
// GCC 12 at -O2 reports a false -Wnull-dereference inside Asio's io_context executor comparison
// (Boost headers, inlined into this file's co_spawn calls). Before any include, so it covers them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "actuate/http_client.h"
#include "support/test_ca.h"

namespace asio = boost::asio;
using namespace failoverd::actuate;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> serve_tls_once(tcp::acceptor& acceptor, asio::ssl::context& ctx,
                                     std::string* request_head) {
  auto [ec, socket] = co_await acceptor.async_accept(kTuple);
  if (ec) co_return;
  asio::ssl::stream<tcp::socket> tls(std::move(socket), ctx);
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (hec) co_return;
  asio::streambuf buf;
  auto [rec, n] = co_await asio::async_read_until(tls, buf, "\r\n\r\n", kTuple);
  if (rec) co_return;
  *request_head = std::string(asio::buffers_begin(buf.data()),
                              asio::buffers_begin(buf.data()) + static_cast<long>(n));
  const std::string reply = "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok";
  co_await asio::async_write(tls, asio::buffer(reply), kTuple);
}

HttpResponse post_tls(const failoverd::testing::CertFiles& server, const std::string& ca_file,
                      const std::string& host, std::string* head) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.use_certificate_chain_file(server.cert);
  ctx.use_private_key_file(server.key, asio::ssl::context::pem);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto url = parse_web_url("https://" + host + ":" + std::to_string(acceptor.local_endpoint().port()) +
                           "/hook");
  REQUIRE(url);
  CHECK(url->tls);
  asio::co_spawn(io, serve_tls_once(acceptor, ctx, head), asio::detached);
  std::optional<HttpResponse> out;
  HttpRequest req;
  req.method = "POST";
  req.body = R"({"text":"hello"})";
  HttpLimits limits;
  limits.step_timeout = 2s;
  limits.ca_file = ca_file;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> {
        out = co_await http_exchange(io.get_executor(), *url, req, limits);
        acceptor.close();
      },
      asio::detached);
  io.run_for(10s);
  REQUIRE(out);
  return *out;
}

}  // namespace

TEST_SUITE("http_client") {
  TEST_CASE("https: a server whose certificate the CA file trusts and names the host") {
    failoverd::testing::TempDir dir("http-tls");
    failoverd::testing::TestCa ca(dir.path());
    const auto server = ca.issue("server", {"localhost"}, {"127.0.0.1"});
    std::string head;
    const auto r = post_tls(server, ca.cert_file(), "127.0.0.1", &head);
    CHECK_MESSAGE(r.ok(), r.detail);
    CHECK(r.status == 202);
    CHECK(r.body == "ok");
    CHECK(head.starts_with("POST /hook HTTP/1.1\r\n"));
  }

  TEST_CASE("https: an untrusted certificate or another name fails the handshake") {
    failoverd::testing::TempDir dir("http-tls");
    failoverd::testing::TestCa ca(dir.path());
    std::string head;
    SUBCASE("the system store does not know the test CA") {
      const auto r = post_tls(ca.issue("server", {"localhost"}, {"127.0.0.1"}), "", "127.0.0.1",
                              &head);
      CHECK(r.error == HttpError::Tls);
    }
    SUBCASE("the certificate names another host") {
      const auto r = post_tls(ca.issue("server", {"other.test"}, {"127.0.0.2"}), ca.cert_file(),
                              "127.0.0.1", &head);
      CHECK(r.error == HttpError::Tls);
    }
    CHECK(head.empty());  // nothing was sent
  }

  TEST_CASE("parse_web_url: https defaults to port 443; parse_http_url still refuses https") {
    auto u = parse_web_url("https://hooks.example.com/services/T/B");
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->port == 443);
    CHECK(u->host == "hooks.example.com");
    CHECK(u->base_path == "/services/T/B");
    CHECK_FALSE(parse_http_url("https://hooks.example.com/"));
    // Read the way the loader's check_url reads a URL: what it accepts, start-up can use.
    auto q = parse_web_url("http://h:8080?key=v#frag");
    REQUIRE(q);
    CHECK(q->host == "h");
    CHECK(q->port == 8080);
    CHECK(q->base_path == "/?key=v");
    CHECK_FALSE(parse_web_url("https://user:pw@h/"));
    CHECK_FALSE(parse_web_url("ftp://x/"));
  }
}
