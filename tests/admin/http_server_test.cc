#include "admin/http_server.h"

#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

using namespace failoverd;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Runs an HttpServer on 127.0.0.1:0 in a background thread for the duration of a test.
struct ServerFixture {
  explicit ServerFixture(admin::ServerOptions options = {}) {
    options.listen = {"127.0.0.1", 0};
    server = std::make_unique<admin::HttpServer>(io, options, [](const admin::Request& req) {
      admin::Response r;
      r.body = req.method + " " + req.target + " " + std::to_string(req.body.size());
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
  // Sends raw bytes, then reads until the server closes (bounded by SO_RCVTIMEO).
  std::string exchange(const std::string& raw) {
    asio::io_context client_io;
    tcp::socket s(client_io);
    s.connect({asio::ip::make_address("127.0.0.1"), server->local_port()});
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  asio::io_context io;
  std::unique_ptr<admin::HttpServer> server;
  std::thread thread;
};

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
}
