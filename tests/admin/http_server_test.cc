#include "admin/http_server.h"

#include <doctest/doctest.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "support/test_ca.h"

using namespace failoverd;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Runs an HttpServer on 127.0.0.1:0 in a background thread for the duration of a test.
struct ServerFixture {
  // The handler echoes the request line and body size; "Authorization: Bearer good" is an
  // operator's valid credential.
  explicit ServerFixture(admin::ServerOptions options = {}) {
    options.listen = {"127.0.0.1", 0};
    server = std::make_unique<admin::HttpServer>(io, options, [](const admin::Request& req) {
      admin::Response r;
      r.body = req.method + " " + req.target + " " + std::to_string(req.body.size());
      auto auth = req.headers.find("authorization");
      r.authenticated = auth != req.headers.end() && auth->second == "Bearer good";
      return r;
    });
    auto err = server->start();
    REQUIRE_FALSE(err.has_value());
    thread = std::thread([this] { io.run(); });
  }
  ~ServerFixture() {
    asio::post(io, [this] { server->stop(); });
    thread.join();
  }
  // Sends raw bytes from `from`, then reads until the server closes the connection.
  std::string exchange(const std::string& raw, const std::string& from = "127.0.0.1") {
    tcp::socket s = connect(from);
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  // A connection from source address `from` (any 127.0.0.0/8 address), reads bounded by 5 s.
  tcp::socket connect(const std::string& from = "127.0.0.1") {
    tcp::socket s(client_io);
    s.open(tcp::v4());
    s.bind({asio::ip::make_address(from), 0});
    s.connect({asio::ip::make_address("127.0.0.1"), server->local_port()});
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }
  // How many connections the server holds, asked on its own thread.
  std::size_t open_connections() {
    std::promise<std::size_t> p;
    asio::post(io, [&] { p.set_value(server->open_connections()); });
    return p.get_future().get();
  }
  // Waits (at most 5 s) until the server has accepted `n` connections.
  bool wait_open(std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (open_connections() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  asio::io_context io;
  asio::io_context client_io;
  std::unique_ptr<admin::HttpServer> server;
  std::thread thread;
};

// Whether the server closed `s` (end of stream or reset) within 5 s. `received` gets any bytes
// read before that. poll() and recv() directly: Asio's blocking reads would wait past
// SO_RCVTIMEO.
bool closed_by_server(tcp::socket& s, std::string* received = nullptr) {
  std::string out;
  bool closed = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int i = 0; i < 10'000; ++i) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{s.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    char buf[512];
    auto n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    break;
  }
  if (received != nullptr) *received = out;
  return closed;
}

// Whether `s` still has no data and no end of stream waiting (the server holds it open).
bool still_open(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// Reads one response whose body is `Content-Length` bytes (0 when there is none).
std::string read_response(tcp::socket& s, bool head = false) {
  std::string out;
  boost::system::error_code ec;
  std::size_t end = std::string::npos;
  while ((end = out.find("\r\n\r\n")) == std::string::npos && !ec) {
    char c[512];
    std::size_t n = s.read_some(asio::buffer(c), ec);
    out.append(c, n);
  }
  if (end == std::string::npos) return out;
  std::size_t length = 0;
  if (auto at = out.find("Content-Length: "); at != std::string::npos && at < end) {
    length = std::stoul(out.substr(at + 16));
  }
  std::size_t want = end + 4 + (head ? 0 : length);
  while (out.size() < want && !ec) {
    char c[512];
    std::size_t n = s.read_some(asio::buffer(c, std::min(sizeof c, want - out.size())), ec);
    out.append(c, n);
  }
  return out;
}

// Sends `header` one byte every 20 ms (at most 250 bytes, 5 s) until the server closes the
// connection. Returns whether it did before the trickle ended; `received` gets what came back.
bool trickle_until_closed(tcp::socket& s, const std::string& header, std::string& received) {
  for (std::size_t i = 0; i < header.size() && i < 250; ++i) {
    boost::system::error_code ec;
    asio::write(s, asio::buffer(header.data() + i, 1), ec);
    if (ec) return true;
    pollfd p{s.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 20) == 1) return closed_by_server(s, &received);
  }
  return false;
}

const std::string kSlowHeader =
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 's');

}  // namespace

TEST_SUITE("admin.http_server") {
  TEST_CASE("a well-formed request reaches the handler and its answer comes back") {
    ServerFixture f;
    auto out = f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 200 OK", 0) == 0);
    CHECK(out.find("GET /healthz 0") != std::string::npos);
  }

  TEST_CASE("a body over the limit gets 413 without reaching the handler") {
    admin::ServerOptions o;
    o.max_body_bytes = 16;
    ServerFixture f(o);
    auto out = f.exchange("POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                          std::string(100, 'a'));
    CHECK(out.rfind("HTTP/1.1 413", 0) == 0);
  }

  TEST_CASE("headers over the limit get 431") {
    admin::ServerOptions o;
    o.max_header_bytes = 256;
    ServerFixture f(o);
    auto out = f.exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1000, 'b') + "\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 431", 0) == 0);
  }

  TEST_CASE("garbage gets 400 and the connection is closed") {
    ServerFixture f;
    auto out = f.exchange("\x01\x02 not http at all\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 400", 0) == 0);
  }

  TEST_CASE("binding a port already in use is an error, not an exception") {
    ServerFixture f;
    asio::io_context io;
    admin::ServerOptions o;
    o.listen = {"127.0.0.1", f.server->local_port()};
    admin::HttpServer second(io, o, [](const admin::Request&) { return admin::Response{}; });
    auto err = second.start();
    REQUIRE(err.has_value());
    CHECK(err->find("Address already in use") != std::string::npos);
  }

  TEST_CASE("a listen host that is not an IP address is refused") {
    asio::io_context io;
    admin::ServerOptions o;
    o.listen = {"localhost", 0};
    admin::HttpServer s(io, o, [](const admin::Request&) { return admin::Response{}; });
    auto err = s.start();
    REQUIRE(err.has_value());
    CHECK(*err == "listen address localhost:0 is not an IP address");
  }

  TEST_CASE("HEAD gets GET's headers and no body, so a kept-alive client stays in step") {
    ServerFixture f;
    auto get = f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto out = f.exchange(
        "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto end = out.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    std::string head = out.substr(0, end);
    CHECK(head.rfind("HTTP/1.1 200 OK", 0) == 0);
    // The length GET would send ("HEAD /healthz 0" is as long as "GET /healthz 0" plus one).
    CHECK(head.find("Content-Length: 15") != std::string::npos);
    // Right after HEAD's headers comes the next response, not a body.
    CHECK(out.substr(end + 4).rfind("HTTP/1.1 200 OK", 0) == 0);
    CHECK(out.find("GET /next 0") != std::string::npos);
    CHECK(out.find("HEAD /healthz") == std::string::npos);
    CHECK(get.find("GET /healthz 0") != std::string::npos);
  }

  TEST_CASE("a header trickled byte by byte is cut off at the header deadline; others are served") {
    admin::ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(300);
    o.io_timeout = std::chrono::seconds(30);  // reads and writes may be slow; headers may not
    ServerFixture f(o);
    SUBCASE("the first request") {
      tcp::socket slow = f.connect("127.0.0.2");
      asio::write(slow, asio::buffer(kSlowHeader.substr(0, 10)));
      auto good = f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      CHECK(good.find("GET /healthz 0") != std::string::npos);
      std::string received;
      CHECK(trickle_until_closed(slow, kSlowHeader.substr(10), received));
      CHECK(received.empty());  // closed, not answered
    }
    SUBCASE("a request on a kept-alive connection") {
      tcp::socket slow = f.connect("127.0.0.2");
      asio::write(slow, asio::buffer(std::string("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")));
      CHECK(read_response(slow).find("GET /first 0") != std::string::npos);
      std::string received;
      CHECK(trickle_until_closed(slow, kSlowHeader, received));
      CHECK(received.empty());
    }
  }

  TEST_CASE("an idle kept-alive connection and one that never sends are closed") {
    admin::ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(200);
    o.io_timeout = std::chrono::seconds(30);
    ServerFixture f(o);
    tcp::socket silent = f.connect();
    tcp::socket idle = f.connect();
    asio::write(idle, asio::buffer(std::string("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")));
    CHECK(read_response(idle).find("GET /a 0") != std::string::npos);
    std::string received;
    CHECK(closed_by_server(idle, &received));
    CHECK(received.empty());
    CHECK(closed_by_server(silent, &received));
    CHECK(received.empty());
    CHECK(f.wait_open(0));
  }

  TEST_CASE("a full listener evicts the oldest stranger for a newcomer and keeps operators") {
    admin::ServerOptions o;
    o.max_connections = 4;
    o.header_timeout = std::chrono::seconds(20);
    ServerFixture f(o);
    tcp::socket op = f.connect("127.0.0.2");
    asio::write(op,
                asio::buffer(std::string(
                    "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n")));
    CHECK(read_response(op).find("GET /v1/status 0") != std::string::npos);
    // Strangers fill the rest: one idle, one trickling, one that sent a bad token.
    tcp::socket idle = f.connect("127.0.0.3");
    REQUIRE(f.wait_open(2));
    tcp::socket slow = f.connect("127.0.0.4");
    asio::write(slow, asio::buffer(kSlowHeader.substr(0, 20)));
    REQUIRE(f.wait_open(3));
    tcp::socket bad = f.connect("127.0.0.5");
    asio::write(bad,
                asio::buffer(std::string(
                    "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bad\r\n\r\n")));
    CHECK(read_response(bad).find("GET /v1/status 0") != std::string::npos);
    REQUIRE(f.wait_open(4));

    // A liveness probe arrives: served, at the cost of the oldest stranger (the idle one).
    auto probe = f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(probe.find("GET /healthz 0") != std::string::npos);
    CHECK(closed_by_server(idle));
    // Full again; the next newcomer evicts the next oldest stranger, the trickling one.
    tcp::socket late = f.connect("127.0.0.7");
    REQUIRE(f.wait_open(4));
    auto second =
        f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.6");
    CHECK(second.find("GET /healthz 0") != std::string::npos);
    CHECK(closed_by_server(slow));
    CHECK(still_open(bad));
    CHECK(still_open(late));
    // The operator's kept-alive connection, the oldest of all, was never touched.
    asio::write(op, asio::buffer(std::string("GET /v1/again HTTP/1.1\r\nHost: x\r\n\r\n")));
    CHECK(read_response(op).find("GET /v1/again 0") != std::string::npos);
  }

  TEST_CASE("one client address holds at most its cap; its own oldest connection makes room") {
    admin::ServerOptions o;
    o.max_connections_per_client = 2;
    o.header_timeout = std::chrono::seconds(20);
    ServerFixture f(o);
    tcp::socket other = f.connect("127.0.0.9");
    REQUIRE(f.wait_open(1));
    tcp::socket first = f.connect("127.0.0.8");
    REQUIRE(f.wait_open(2));
    tcp::socket second = f.connect("127.0.0.8");
    REQUIRE(f.wait_open(3));
    auto out =
        f.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.8");
    CHECK(out.find("GET /healthz 0") != std::string::npos);
    CHECK(closed_by_server(first));
    CHECK(still_open(second));
    // The other client's connection, older than all of them, is still served.
    asio::write(other, asio::buffer(std::string("GET /o HTTP/1.1\r\nHost: x\r\n\r\n")));
    CHECK(read_response(other).find("GET /o 0") != std::string::npos);
  }

  TEST_CASE("with TLS, a client that never starts its handshake is closed at the header deadline") {
    failoverd::testing::TempDir dir("admin-tls");
    failoverd::testing::TestCa ca(dir.path());
    auto cert = ca.issue("server", {"localhost"}, {"127.0.0.1"});
    admin::ServerOptions o;
    o.tls_cert_file = cert.cert;
    o.tls_key_file = cert.key;
    o.header_timeout = std::chrono::milliseconds(300);
    o.io_timeout = std::chrono::seconds(30);
    ServerFixture f(o);
    tcp::socket silent = f.connect("127.0.0.2");
    tcp::socket partial = f.connect("127.0.0.3");
    asio::write(partial, asio::buffer(std::string("\x16\x03\x01", 3)));  // a record header only
    // A real client is served meanwhile.
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    asio::ssl::stream<tcp::socket> tls(f.connect(), ctx);
    tls.handshake(asio::ssl::stream_base::client);
    asio::write(
        tls, asio::buffer(std::string("GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
    std::string out;
    boost::system::error_code ec;
    asio::read(tls, asio::dynamic_buffer(out), ec);
    CHECK(out.find("GET /s 0") != std::string::npos);
    std::string received;
    CHECK(closed_by_server(silent, &received));
    CHECK(received.empty());
    CHECK(closed_by_server(partial, &received));
    CHECK(received.empty());
  }
}
