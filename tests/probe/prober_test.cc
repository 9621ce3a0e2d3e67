#include "probe/prober.h"

#include <doctest/doctest.h>

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#pragma GCC diagnostic pop

#include "probe/probe_support.h"
#include "probe/resolver.h"
#include "support/hostile_server.h"
#include "support/test_ca.h"

using namespace failoverd;
using namespace failoverd::probe;
using namespace failoverd::probe::test;
using namespace failoverd::testing;
using core::ProbeReason;
namespace asio = boost::asio;

namespace {

// Generous: the machine is shared. The assertion is about "bounded", not about speed.
constexpr auto kSlack = 1500ms;

HostileOptions canned(std::string response) {
  HostileOptions o;
  o.mode = HostileMode::Canned;
  o.canned = std::move(response);
  return o;
}

HostileOptions mode(HostileMode m) {
  HostileOptions o;
  o.mode = m;
  return o;
}

}  // namespace

TEST_SUITE("probe.http") {
  TEST_CASE("a 200 is ok and the request carries method, path, host and extra headers") {
    asio::io_context io;
    HostileServer server(io, canned(http_response(200, "fine")));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/health?x=1"));
    ep.http.headers["X-Probe"] = "yes";
    ep.http.host_header = "svc.example";
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::Ok);
    CHECK(r.http_status == 200);
    CHECK(r.endpoint.str() == "ep");
    const std::string& req = server.last_request();
    CHECK(req.starts_with("GET /health?x=1 HTTP/1.1\r\n"));
    CHECK(req.find("Host: svc.example\r\n") != std::string::npos);
    CHECK(req.find("X-Probe: yes\r\n") != std::string::npos);
    CHECK(req.find("Connection: close\r\n") != std::string::npos);
  }

  TEST_CASE("the Host header defaults to the URL's host and port") {
    asio::io_context io;
    HostileServer server(io, canned(http_response(204, "")));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, http_endpoint(local_url(server.port(), "")));
    CHECK(r.outcome.reason == ProbeReason::Ok);
    CHECK(server.last_request().starts_with("GET / HTTP/1.1\r\n"));
    CHECK(server.last_request().find("Host: 127.0.0.1:" + std::to_string(server.port())) !=
          std::string::npos);
  }

  TEST_CASE("status outside the expected ranges is BadStatus") {
    asio::io_context io;
    HostileServer server(io, canned(http_response(503, "down")));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    SUBCASE("default ranges") {
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::BadStatus);
      CHECK(r.http_status == 503);
      CHECK(r.detail == "status 503");
    }
    SUBCASE("a configured range accepts it") {
      ep.http.expect_status = {{500, 503}};
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
  }

  TEST_CASE("redirects are not followed: a 302 is judged by its status") {
    asio::io_context io;
    HostileServer server(io, canned(http_response(302, "", "Location: /elsewhere\r\n")));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    ep.http.expect_status = {{200, 299}};
    CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::BadStatus);
    CHECK(server.requests() == 1);
  }

  TEST_CASE("body substring and regex are searched in the body") {
    asio::io_context io;
    Prober prober(io);
    SUBCASE("substring found") {
      HostileServer server(io, canned(http_response(200, "status: all good")));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body = "all good";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("substring missing") {
      HostileServer server(io, canned(http_response(200, "status: degraded")));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body = "all good";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::BodyMismatch);
    }
    SUBCASE("regex") {
      HostileServer server(io, canned(http_response(200, "{\"healthy\": true}")));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body_regex = "\"healthy\":\\s*true";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
      ep.http.expect_body_regex = "\"healthy\":\\s*false";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::BodyMismatch);
    }
    SUBCASE("chunked body, match split across chunks") {
      HostileServer server(io, canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "4\r\nall \r\n4\r\ngood\r\n0\r\n\r\n"));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body = "all good";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("close-delimited body") {
      HostileServer server(io, canned("HTTP/1.1 200 OK\r\n\r\nbody then close"));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body = "then close";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("the match must lie in the first body_limit bytes") {
      HostileServer server(io, canned(http_response(200, std::string(100, 'a') + "needle")));
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.expect_body = "needle";
      ep.http.body_limit = 50;
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::TooLarge);
    }
  }

  TEST_CASE("a closed port is Refused") {
    asio::io_context io;
    std::uint16_t port;
    {
      asio::ip::tcp::acceptor a(io, {asio::ip::address_v4::loopback(), 0});
      port = a.local_endpoint().port();
    }
    Prober prober(io);
    CHECK(run_probe(io, prober, http_endpoint(local_url(port))).outcome.reason ==
          ProbeReason::Refused);
  }

  TEST_CASE("IPv6 literal addresses") {
    asio::io_context io;
    boost::system::error_code ec;
    asio::ip::tcp::acceptor probe_v6(io);
    probe_v6.open(asio::ip::tcp::v6(), ec);
    if (!ec) probe_v6.bind({asio::ip::address_v6::loopback(), 0}, ec);
    if (ec) {
      MESSAGE("no IPv6 loopback here; skipped");
      return;
    }
    probe_v6.close();
    HostileOptions o = canned(http_response(200, "v6"));
    o.ipv6 = true;
    HostileServer server(io, o);
    Prober prober(io);
    auto ep = http_endpoint("http://[::1]:" + std::to_string(server.port()) + "/");
    CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    CHECK(server.last_request().find("Host: [::1]:") != std::string::npos);
  }

  TEST_CASE("bad endpoint definitions are refused by prepare") {
    asio::io_context io;
    Prober prober(io);
    CHECK_FALSE(prober.prepare(http_endpoint("ftp://x/")).spec);
    CHECK_FALSE(prober.prepare(http_endpoint("http://127.0.0.1:99999/")).spec);
    CHECK_FALSE(prober.prepare(http_endpoint("http://[::1/")).spec);
    auto ep = http_endpoint("http://127.0.0.1/");
    ep.http.headers["X-Bad"] = "a\r\nInjected: 1";
    CHECK_FALSE(prober.prepare(ep).spec);
    ep = http_endpoint("http://127.0.0.1/");
    ep.http.expect_body_regex = "(unclosed";
    CHECK_FALSE(prober.prepare(ep).spec);
    ep = http_endpoint("http://127.0.0.1/");
    ep.http.follow_redirects = true;
    CHECK(prober.prepare(ep).spec);  // followed since redirects are implemented
    ep = http_endpoint("https://127.0.0.1/");
    ep.kind = config::ProbeKind::Http;
    CHECK_FALSE(prober.prepare(ep).spec);
  }

  TEST_CASE("a host name without a resolver ends with ResolveError, not a hang") {
    asio::io_context io;
    Prober prober(io);
    auto r = run_probe(io, prober, http_endpoint("http://db.example.invalid/"));
    CHECK(r.outcome.reason == ProbeReason::ResolveError);
  }

  TEST_CASE("with a resolver, localhost is probed without a DNS query") {
    asio::io_context io;
    HostileServer server(io, canned(http_response(200, "fine")));
    Resolver resolver(io, {.servers = "127.0.0.1:9"});
    Prober prober(io, &resolver);
    auto r = run_probe(io, prober,
                       http_endpoint("http://localhost:" + std::to_string(server.port()) + "/"));
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    CHECK(resolver.queries_sent() == 0);
  }

  TEST_CASE("a lookup that does not answer counts against the probe's timeout") {
    asio::io_context io;
    // A name server that reads nothing and answers nothing.
    asio::basic_datagram_socket<asio::ip::udp, asio::io_context::executor_type> silent(
        io.get_executor(), {asio::ip::address_v4::loopback(), 0});
    Resolver resolver(
        io, {.servers = "127.0.0.1:" + std::to_string(silent.local_endpoint().port())});
    Prober prober(io, &resolver);
    auto r = run_probe(io, prober, http_endpoint("http://db.example.test/", 300ms));
    CHECK(r.outcome.reason == ProbeReason::Timeout);
    CHECK(r.detail == "resolve timeout");
    CHECK(r.outcome.latency >= 300ms);
    CHECK(r.outcome.latency < 300ms + kSlack);
  }
}

TEST_SUITE("probe.http.empty_reply") {
  TEST_CASE("a server that closes without a byte is a ProtocolError, with or without body check") {
    asio::io_context io;
    HostileServer server(io, canned(""));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    SUBCASE("status only") {}
    SUBCASE("body check") { ep.http.expect_body = "ok"; }
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::ProtocolError);
    CHECK(r.detail == "connection closed before a complete header");
  }
}

TEST_SUITE("probe.http.keepalive") {
  HostileOptions keepalive_server(std::string response, unsigned answers = 0) {
    HostileOptions o;
    o.mode = HostileMode::KeepAlive;
    o.canned = std::move(response);
    o.answers_per_connection = answers;
    return o;
  }

  TEST_CASE("keepalive reuses one connection; the default opens one per probe") {
    asio::io_context io;
    HostileServer server(io, keepalive_server(http_response(200, "fine")));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    ep.http.expect_body = "fine";
    SUBCASE("keepalive") {
      ep.http.keepalive = true;
      for (int i = 0; i < 3; ++i) {
        ProbeResult r = run_probe(io, prober, ep);
        CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
      }
      CHECK(server.accepted() == 1);
      CHECK(server.requests() == 3);
      CHECK(prober.stats().reused == 2);
      CHECK(prober.stats().idle_connections == 1);
      CHECK(server.last_request().find("Connection: close") == std::string::npos);
    }
    SUBCASE("default") {
      for (int i = 0; i < 3; ++i) CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
      CHECK(server.accepted() == 3);
      CHECK(prober.stats().reused == 0);
      CHECK(prober.stats().idle_connections == 0);
      CHECK(server.last_request().find("Connection: close\r\n") != std::string::npos);
    }
  }

  TEST_CASE("a kept connection the server closes on the next request is retried once, fresh") {
    asio::io_context io;
    HostileServer server(io, keepalive_server(http_response(200, "fine"), 1));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    ep.http.keepalive = true;
    for (int i = 0; i < 3; ++i) {
      ProbeResult r = run_probe(io, prober, ep);
      CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    }
    // Each later probe: the kept connection is closed unanswered, a fresh one answers.
    CHECK(server.accepted() == 3);
    CHECK(prober.stats().reused == 2);
  }

  TEST_CASE("a server that says Connection: close, or a failed check, is not reused") {
    asio::io_context io;
    SUBCASE("Connection: close") {
      HostileServer server(
          io, keepalive_server(http_response(200, "fine", "Connection: close\r\n")));
      Prober prober(io);
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.keepalive = true;
      for (int i = 0; i < 2; ++i) CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
      CHECK(server.accepted() == 2);
      CHECK(prober.stats().reused == 0);
    }
    SUBCASE("body larger than body_limit") {
      // More than the read buffer holds: the rest of the body is never read, so not reusable.
      HostileServer server(io,
                           keepalive_server(http_response(200, std::string(1024 * 1024, 'x'))));
      Prober prober(io);
      auto ep = http_endpoint(local_url(server.port()));
      ep.http.keepalive = true;
      ep.http.expect_body = "not there";
      ep.http.body_limit = 100;
      for (int i = 0; i < 2; ++i) {
        CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::TooLarge);
      }
      CHECK(server.accepted() == 2);
      CHECK(prober.stats().idle_connections == 0);
    }
  }

  TEST_CASE("a bad status is still read to the end and the connection kept") {
    asio::io_context io;
    HostileServer server(io, keepalive_server(http_response(503, "busy")));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()));
    ep.http.keepalive = true;
    for (int i = 0; i < 2; ++i) {
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::BadStatus);
      CHECK(r.http_status == 503);
    }
    CHECK(server.accepted() == 1);
  }
}

TEST_SUITE("probe.http.redirects") {
  const std::string kSelf =
      "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";

  TEST_CASE("a redirect loop or a hop past max_redirects is ProtocolError") {
    asio::io_context io;
    HostileServer server(io, canned(kSelf));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/y"));
    ep.http.follow_redirects = true;
    SUBCASE("max_redirects 0") { ep.http.max_redirects = 0; }
    SUBCASE("a loop ends before the limit") { ep.http.max_redirects = 50; }
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::ProtocolError);
    CHECK(r.detail == "too many redirects");
    CHECK(r.http_status == 302);
  }

  TEST_CASE("without follow_redirects a 302 is only a status") {
    asio::io_context io;
    HostileServer server(io, canned(kSelf));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/x"));
    // The default expect_status (200-399) takes the redirect itself as healthy, never following it.
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::Ok);
    CHECK(r.http_status == 302);
    CHECK(server.accepted() == 1);
    ep.http.expect_status = {{200, 299}};
    r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::BadStatus);
    CHECK(r.http_status == 302);
  }
}

TEST_SUITE("probe.hostile") {
  TEST_CASE("accept and never answer: Timeout at the deadline") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Silent));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, http_endpoint(local_url(server.port()), 300ms));
    CHECK(r.outcome.reason == ProbeReason::Timeout);
    CHECK(r.outcome.latency >= 300ms);
    CHECK(r.outcome.latency < 300ms + kSlack);
  }

  TEST_CASE("a response dripped one byte per second: Timeout at the total deadline") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Drip));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, http_endpoint(local_url(server.port()), 1500ms));
    CHECK(r.outcome.reason == ProbeReason::Timeout);
    CHECK(r.outcome.latency < 1500ms + kSlack);
    CHECK(server.bytes_sent() >= 1);
  }

  TEST_CASE("endless headers: TooLarge, with at most the header limit buffered") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::EndlessHeaders));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, http_endpoint(local_url(server.port()), 2s));
    CHECK(r.outcome.reason == ProbeReason::TooLarge);
    CHECK(r.outcome.latency < 2s + kSlack);
    CHECK(prober.stats().peak_buffered_bytes <= kHeaderLimit);
  }

  TEST_CASE("a 1 GiB body is never buffered beyond body_limit") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::HugeBody));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()), 3s);
    SUBCASE("with a body check: TooLarge once the window is full") {
      ep.http.expect_body = "needle that is not there";
      ep.http.body_limit = 64 * 1024;
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::TooLarge);
      CHECK(r.outcome.latency < 3s + kSlack);
      CHECK(prober.stats().peak_buffered_bytes <= ep.http.body_limit + kHeaderLimit);
    }
    SUBCASE("without a body check the body is not read at all") {
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::Ok);
      CHECK(prober.stats().peak_buffered_bytes <= kHeaderLimit);
    }
    // The server only got as far as socket buffers let it: nowhere near 1 GiB.
    CHECK(server.bytes_sent() < (std::uint64_t{64} << 20));
  }

  TEST_CASE("garbage instead of HTTP: ProtocolError") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Garbage));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, http_endpoint(local_url(server.port()), 2s));
    CHECK(r.outcome.reason == ProbeReason::ProtocolError);
    CHECK(r.outcome.latency < 2s + kSlack);
  }

  TEST_CASE("reset in the middle of the response: Reset") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::ResetMidResponse));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port()), 2s);
    ep.http.expect_body = "the rest that never comes";
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::Reset);
    CHECK(r.outcome.latency < 2s + kSlack);
  }

  TEST_CASE("garbage instead of a TLS handshake: TlsError") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Garbage));
    Prober prober(io);
    ProbeResult r =
        run_probe(io, prober, http_endpoint(local_url(server.port(), "/", "https"), 2s));
    CHECK(r.outcome.reason == ProbeReason::TlsError);
    CHECK(r.outcome.latency < 2s + kSlack);
  }

  TEST_CASE("a silent TLS server: Timeout during the handshake") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Silent));
    Prober prober(io);
    ProbeResult r =
        run_probe(io, prober, http_endpoint(local_url(server.port(), "/", "https"), 300ms));
    CHECK(r.outcome.reason == ProbeReason::Timeout);
    CHECK(r.outcome.latency < 300ms + kSlack);
  }
}

TEST_SUITE("probe.https") {
  struct Pki {
    TempDir dir{"failoverd-probe-tls"};
    TestCa ca{dir.path()};
    TestCa other{dir.path(), "some other CA", "other-ca"};
    CertFiles server = ca.issue("server", {"localhost"}, {"127.0.0.1", "::1"});
    CertFiles wrong = other.issue("wrong", {"localhost"}, {"127.0.0.1"});
    CertFiles client = ca.issue("client", {"observer-1"}, {}, 30, true);
    CertFiles soon = ca.issue("soon", {"localhost"}, {"127.0.0.1"}, 3);
  };

  HostileOptions tls_canned(const CertFiles& cert, const std::string& client_ca = {}) {
    HostileOptions o;
    o.mode = HostileMode::TlsCanned;
    o.canned = http_response(200, "tls ok");
    o.tls_cert = cert.cert;
    o.tls_key = cert.key;
    o.tls_client_ca = client_ca;
    return o;
  }

  TEST_CASE("https with the configured CA is ok and reports days to expiry") {
    Pki pki;
    asio::io_context io;
    HostileServer server(io, tls_canned(pki.server));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
    ep.tls.ca_file = pki.ca.cert_file();
    ep.http.expect_body = "tls ok";
    ProbeResult r = run_probe(io, prober, ep);
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    REQUIRE(r.cert_days_left.has_value());
    CHECK(*r.cert_days_left >= 29);
    CHECK(*r.cert_days_left <= 30);
  }

  TEST_CASE("TLS failures: wrong CA, wrong name, system store") {
    Pki pki;
    asio::io_context io;
    Prober prober(io);
    SUBCASE("signed by another CA") {
      HostileServer server(io, tls_canned(pki.wrong));
      auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
      ep.tls.ca_file = pki.ca.cert_file();
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::TlsError);
      CHECK(r.detail.find("verify") != std::string::npos);
    }
    SUBCASE("name does not match the certificate") {
      HostileServer server(io, tls_canned(pki.server));
      auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
      ep.tls.ca_file = pki.ca.cert_file();
      ep.tls.server_name = "not-this-host.example";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::TlsError);
    }
    SUBCASE("the system store does not know the test CA") {
      HostileServer server(io, tls_canned(pki.server));
      auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::TlsError);
    }
    SUBCASE("verify off accepts anything") {
      HostileServer server(io, tls_canned(pki.wrong));
      auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
      ep.tls.verify = false;
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("SNI name that matches") {
      HostileServer server(io, tls_canned(pki.server));
      auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
      ep.tls.ca_file = pki.ca.cert_file();
      ep.tls.server_name = "localhost";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
  }

  TEST_CASE("mTLS: the server demands a client certificate") {
    Pki pki;
    asio::io_context io;
    HostileServer server(io, tls_canned(pki.server, pki.ca.cert_file()));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
    ep.tls.ca_file = pki.ca.cert_file();
    SUBCASE("without one") {
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::TlsError);
    }
    SUBCASE("with one") {
      ep.tls.client_cert_file = pki.client.cert;
      ep.tls.client_key_file = pki.client.key;
      ProbeResult r = run_probe(io, prober, ep);
      CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    }
  }

  TEST_CASE("TLS probe: a certificate close to expiry is CertExpiring (degraded, not down)") {
    Pki pki;
    asio::io_context io;
    HostileServer server(io, tls_canned(pki.soon));
    Prober prober(io);
    config::Endpoint ep = tcp_endpoint("127.0.0.1", server.port(), 2s);
    ep.kind = config::ProbeKind::Tls;
    ep.tls.ca_file = pki.ca.cert_file();
    ProbeResult r = run_probe(io, prober, ep);
    CHECK(r.outcome.reason == ProbeReason::CertExpiring);
    CHECK(r.outcome.ok());
    REQUIRE(r.cert_days_left.has_value());
    CHECK(*r.cert_days_left >= 2);
    CHECK(*r.cert_days_left <= 3);
    ep.tls.cert_expiry_warning = std::chrono::hours(24);
    CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("TLS minimum version 1.3 is honoured") {
    Pki pki;
    asio::io_context io;
    HostileServer server(io, tls_canned(pki.server));
    Prober prober(io);
    auto ep = http_endpoint(local_url(server.port(), "/", "https"), 2s);
    ep.tls.ca_file = pki.ca.cert_file();
    ep.tls.min_version = "1.3";
    CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    ep.tls.min_version = "1.1";
    CHECK_FALSE(prober.prepare(ep).spec);
  }
}

TEST_SUITE("probe.tcp") {
  TEST_CASE("connect-only check resets right after the handshake: the server never accepts") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Silent));
    Prober prober(io);
    ProbeResult r = run_probe(io, prober, tcp_endpoint("127.0.0.1", server.port()));
    CHECK(r.outcome.reason == ProbeReason::Ok);
    io.run_for(50ms);
    CHECK(server.accepted() == 0);
  }

  TEST_CASE("connect-only check with reset_after_connect off completes the handshake") {
    asio::io_context io;
    HostileServer server(io, mode(HostileMode::Silent));
    Prober prober(io);
    auto ep = tcp_endpoint("127.0.0.1", server.port());
    ep.tcp.reset_after_connect = false;
    CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    for (int i = 0; i < 50 && server.accepted() == 0; ++i) io.run_for(10ms);
    CHECK(server.accepted() == 1);
  }

  TEST_CASE("send and expect") {
    asio::io_context io;
    Prober prober(io);
    SUBCASE("echo") {
      HostileServer server(io, mode(HostileMode::Echo));
      auto ep = tcp_endpoint("127.0.0.1", server.port());
      ep.tcp.send = "PING\\r\\n";
      ep.tcp.expect = "PING";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("wrong reply, then close") {
      HostileServer server(io, canned("500 go away\r\n"));
      auto ep = tcp_endpoint("127.0.0.1", server.port());
      ep.tcp.send = "HELLO\\r\\n\\r\\n";
      ep.tcp.expect = "220";
      CHECK(run_probe(io, prober, ep).outcome.reason == ProbeReason::BodyMismatch);
    }
    SUBCASE("no reply at all: Timeout") {
      HostileServer server(io, mode(HostileMode::Silent));
      auto ep = tcp_endpoint("127.0.0.1", server.port(), 300ms);
      ep.tcp.expect = "220";
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == ProbeReason::Timeout);
      CHECK(r.outcome.latency < 300ms + kSlack);
    }
  }

  TEST_CASE("connect to a closed port is Refused") {
    asio::io_context io;
    std::uint16_t port;
    {
      asio::ip::tcp::acceptor a(io, {asio::ip::address_v4::loopback(), 0});
      port = a.local_endpoint().port();
    }
    Prober prober(io);
    CHECK(run_probe(io, prober, tcp_endpoint("127.0.0.1", port)).outcome.reason ==
          ProbeReason::Refused);
  }
}
