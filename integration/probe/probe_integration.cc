// Probes against a real nginx (HTTP, HTTPS with a throwaway CA, mTLS) and a TCP echo, on
// loopback only. CTest label `integration`. Every wait is bounded in count and time.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#pragma GCC diagnostic pop
#include <array>
#include <map>
#include <memory>
#include <optional>

#include "bind_server.h"
#include "nginx.h"
#include "probe/prober.h"
#include "probe/resolver.h"
#include "probe/scheduler.h"
#include "support/hostile_server.h"
#include "support/test_ca.h"

using namespace failoverd;
using namespace failoverd::probe;
using namespace failoverd::testing;
using namespace std::chrono_literals;
using core::ProbeReason;
namespace asio = boost::asio;

namespace {

struct Lab {
  TempDir dir{"failoverd-nginx"};
  TestCa ca{dir.path()};
  TestCa other{dir.path(), "another CA", "other-ca"};
  CertFiles server = ca.issue("server", {"localhost"}, {"127.0.0.1"});
  CertFiles client = ca.issue("client", {"observer-1"}, {}, 30, true);
  CertFiles stranger = other.issue("stranger", {"observer-x"}, {}, 30, true);
  std::unique_ptr<Nginx> nginx;
  Lab() {
    NginxOptions o;
    o.prefix = dir.path();
    o.tls_cert = server.cert;
    o.tls_key = server.key;
    o.client_ca = ca.cert_file();
    o.ipv6 = have_ipv6_loopback();
    o.extra_http = R"(
      location = /moved { return 302 /health; }
      location = /moved2 { return 301 /moved; }
      location = /loop { return 302 /loop; }
      location = /rel/a { absolute_redirect off; return 302 /health; }
      location = /other { return 302 https://127.0.0.1/health; }
)";
    nginx = std::make_unique<Nginx>(o);
  }
};

Lab& lab() {
  static Lab instance;
  return instance;
}

config::Endpoint http(const std::string& url) {
  config::Endpoint e;
  e.name = core::EndpointId("nginx");
  e.kind = url.starts_with("https") ? config::ProbeKind::Https : config::ProbeKind::Http;
  e.http.url = url;
  e.timeout = 2s;
  e.tls.ca_file = lab().ca.cert_file();
  return e;
}

std::string url(std::uint16_t port, const std::string& path, bool tls = false) {
  return (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port) + path;
}

ProbeResult run(const config::Endpoint& ep) {
  asio::io_context io;
  Prober prober(io);
  PrepareResult prep = prober.prepare(ep);
  REQUIRE_MESSAGE(prep.spec.has_value(), prep.error);
  std::optional<ProbeResult> got;
  prober.start(*prep.spec, [&](ProbeResult&& r) { got = std::move(r); });
  for (int i = 0; i < 300 && !got; ++i) io.run_one_for(100ms);
  REQUIRE(got.has_value());
  return *got;
}

// A real BIND 9 serving probe.test: health.probe.test has an A record (127.0.0.1, TTL 60 s) and
// no AAAA; nowhere.probe.test does not exist (NXDOMAIN).
integration::BindServer& bind9() {
  static integration::BindServer server(std::map<std::string, std::string>{{"probe.test", R"($TTL 60
@        IN SOA   ns1.probe.test. hostmaster.probe.test. 1 3600 600 86400 60
@        IN NS    ns1.probe.test.
ns1      IN A     127.0.0.1
health   IN A     127.0.0.1
)"}});
  return server;
}

ProbeResult run_on(asio::io_context& io, Prober& prober, const config::Endpoint& ep) {
  PrepareResult prep = prober.prepare(ep);
  REQUIRE_MESSAGE(prep.spec.has_value(), prep.error);
  std::optional<ProbeResult> got;
  prober.start(*prep.spec, [&](ProbeResult&& r) { got = std::move(r); });
  for (int i = 0; i < 300 && !got; ++i) io.run_one_for(100ms);
  REQUIRE(got.has_value());
  return *got;
}

}  // namespace

TEST_SUITE("probe.integration.resolve") {
  TEST_CASE("host names are resolved on the loop, through the resolver's cache") {
    asio::io_context io;
    Resolver resolver(io, {.servers = bind9().address()});
    Prober prober(io, &resolver);
    const std::string port = std::to_string(lab().nginx->http_port());

    auto local = run_on(io, prober, http("http://localhost:" + port + "/health"));
    CHECK_MESSAGE(local.outcome.reason == ProbeReason::Ok, local.detail);
    CHECK(resolver.queries_sent() == 0);  // localhost is answered without a query

    auto named = run_on(io, prober, http("http://health.probe.test:" + port + "/health"));
    CHECK_MESSAGE(named.outcome.reason == ProbeReason::Ok, named.detail);
    const auto sent = resolver.queries_sent();
    CHECK(sent > 0);
    auto again = run_on(io, prober, http("http://health.probe.test:" + port + "/health"));
    CHECK(again.outcome.reason == ProbeReason::Ok);
    CHECK(resolver.queries_sent() == sent);  // the cached answer is still fresh

    auto gone = run_on(io, prober, http("http://nowhere.probe.test:" + port + "/health"));
    CHECK(gone.outcome.reason == ProbeReason::ResolveError);
    CHECK(gone.detail.find("nowhere.probe.test") != std::string::npos);
  }

  TEST_CASE("without a resolver a host name is a ResolveError") {
    auto r = run(http("http://localhost:" + std::to_string(lab().nginx->http_port()) + "/"));
    CHECK(r.outcome.reason == ProbeReason::ResolveError);
  }
}

TEST_SUITE("probe.integration.redirects") {
  TEST_CASE("redirects are followed when configured, up to max_redirects") {
    const auto port = lab().nginx->http_port();
    auto ep = http(url(port, "/moved"));
    ep.http.follow_redirects = true;
    ep.http.max_redirects = 3;
    SUBCASE("one hop (nginx sends an absolute Location)") {
      auto r = run(ep);
      CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
      CHECK(r.http_status == 200);
    }
    SUBCASE("two hops") {
      ep.http.url = url(port, "/moved2");
      CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("a relative Location") {
      ep.http.url = url(port, "/rel/a");
      CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("a body check applies to the final response") {
      ep.http.expect_body = "ok";
      CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    }
    SUBCASE("more hops than max_redirects") {
      ep.http.url = url(port, "/moved2");
      ep.http.max_redirects = 1;
      auto r = run(ep);
      CHECK(r.outcome.reason == ProbeReason::ProtocolError);
      CHECK(r.detail == "too many redirects");
    }
    SUBCASE("a loop") {
      ep.http.url = url(port, "/loop");
      ep.http.max_redirects = 10;
      auto r = run(ep);
      CHECK(r.outcome.reason == ProbeReason::ProtocolError);
      CHECK(r.detail == "too many redirects");
    }
    SUBCASE("another scheme is not followed") {
      ep.http.url = url(port, "/other");
      CHECK(run(ep).outcome.reason == ProbeReason::ProtocolError);
    }
  }

  TEST_CASE("without follow_redirects a 302 is classified by expect_status") {
    auto ep = http(url(lab().nginx->http_port(), "/moved"));
    ep.http.expect_status = {{200, 299}};
    auto r = run(ep);
    CHECK(r.outcome.reason == ProbeReason::BadStatus);
    CHECK(r.http_status == 302);
    ep.http.expect_status = {{302, 302}};
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
  }
}

TEST_SUITE("probe.integration.keepalive") {
  // Five probes of one endpoint on one Prober; returns how many connections nginx accepted for
  // them (its stub_status counts its own request's connection too: one is taken off).
  std::uint64_t connections_for_five(config::Endpoint ep, ProberStats& stats) {
    asio::io_context io;
    Prober prober(io);
    PrepareResult prep = prober.prepare(ep);
    REQUIRE_MESSAGE(prep.spec.has_value(), prep.error);
    std::uint64_t before = lab().nginx->accepts();
    for (int n = 0; n < 5; ++n) {
      std::optional<ProbeResult> got;
      prober.start(*prep.spec, [&](ProbeResult&& r) { got = std::move(r); });
      for (int i = 0; i < 300 && !got; ++i) io.run_one_for(100ms);
      REQUIRE(got.has_value());
      CHECK_MESSAGE(got->outcome.reason == ProbeReason::Ok, got->detail);
      if (ep.kind == config::ProbeKind::Https) CHECK(got->cert_days_left.has_value());
    }
    stats = prober.stats();
    return lab().nginx->accepts() - before - 1;
  }

  TEST_CASE("http and https: keepalive sends five probes on one connection, the default on five") {
    for (bool tls : {false, true}) {
      CAPTURE(tls);
      auto ep = http(url(tls ? lab().nginx->https_port() : lab().nginx->http_port(), "/health", tls));
      ep.http.expect_body = "ok";
      ProberStats stats;
      CHECK(connections_for_five(ep, stats) == 5);
      CHECK(stats.reused == 0);
      ep.http.keepalive = true;
      CHECK(connections_for_five(ep, stats) == 1);
      CHECK(stats.reused == 4);
    }
  }
}

TEST_SUITE("probe.integration.nginx") {
  TEST_CASE("http: ok, bad status, body match and mismatch") {
    auto port = lab().nginx->http_port();
    CHECK(run(http(url(port, "/health"))).outcome.reason == ProbeReason::Ok);
    auto bad = run(http(url(port, "/fail")));
    CHECK(bad.outcome.reason == ProbeReason::BadStatus);
    CHECK(bad.http_status == 503);
    auto ep = http(url(port, "/health"));
    ep.http.expect_body = "ok";
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    ep.http.expect_body = "not there";
    CHECK(run(ep).outcome.reason == ProbeReason::BodyMismatch);
    ep.http.expect_body.clear();
    ep.http.expect_body_regex = "^hello";
    ep.http.url = url(port, "/");
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    ep.http.method = "HEAD";
    ep.http.expect_body_regex.clear();
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("http: a body larger than body_limit is cut at the limit") {
    auto ep = http(url(lab().nginx->http_port(), "/big"));
    ep.http.expect_body = "not in there";
    ep.http.body_limit = 4096;
    CHECK(run(ep).outcome.reason == ProbeReason::TooLarge);
    ep.http.expect_body = "bbbb";
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("http over IPv6 loopback") {
    if (!have_ipv6_loopback()) {
      MESSAGE("no IPv6 loopback; skipped");
      return;
    }
    auto ep = http("http://[::1]:" + std::to_string(lab().nginx->http_port()) + "/health");
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("https: ok with the test CA, TlsError with the wrong CA or name") {
    auto port = lab().nginx->https_port();
    auto ok = run(http(url(port, "/health", true)));
    CHECK_MESSAGE(ok.outcome.reason == ProbeReason::Ok, ok.detail);
    CHECK(ok.cert_days_left.value_or(-1) >= 29);
    auto ep = http(url(port, "/health", true));
    ep.tls.ca_file = lab().other.cert_file();
    CHECK(run(ep).outcome.reason == ProbeReason::TlsError);
    ep = http(url(port, "/health", true));
    ep.tls.server_name = "wrong.example";
    CHECK(run(ep).outcome.reason == ProbeReason::TlsError);
    ep.tls.server_name = "localhost";
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("mTLS: ok with a client certificate from the trusted CA") {
    auto port = lab().nginx->mtls_port();
    auto ep = http(url(port, "/health", true));
    ep.tls.client_cert_file = lab().client.cert;
    ep.tls.client_key_file = lab().client.key;
    auto r = run(ep);
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    // nginx completes the handshake and answers 400 when the client certificate is missing or
    // untrusted: the probe reports what it saw.
    ep.tls.client_cert_file = lab().stranger.cert;
    ep.tls.client_key_file = lab().stranger.key;
    auto stranger = run(ep);
    CHECK((stranger.outcome.reason == ProbeReason::BadStatus ||
           stranger.outcome.reason == ProbeReason::TlsError));
    ep.tls.client_cert_file.clear();
    ep.tls.client_key_file.clear();
    auto none = run(ep);
    CHECK(none.outcome.reason == ProbeReason::BadStatus);
    CHECK(none.http_status == 400);
  }

  TEST_CASE("tcp: connect-only to nginx, refused on a closed port, send/expect on an echo") {
    config::Endpoint ep;
    ep.name = core::EndpointId("tcp");
    ep.kind = config::ProbeKind::Tcp;
    ep.timeout = 2s;
    ep.tcp.address = {"127.0.0.1", lab().nginx->http_port()};
    CHECK(run(ep).outcome.reason == ProbeReason::Ok);
    ep.tcp.address.port = free_port();
    CHECK(run(ep).outcome.reason == ProbeReason::Refused);

    asio::io_context io;
    HostileOptions o;
    o.mode = HostileMode::Echo;
    HostileServer echo(io, o);
    Prober prober(io);
    ep.tcp.address.port = echo.port();
    ep.tcp.send = "PING\\r\\n";
    ep.tcp.expect = "PING";
    auto prep = prober.prepare(ep);
    REQUIRE(prep.spec);
    std::optional<ProbeResult> got;
    prober.start(*prep.spec, [&](ProbeResult&& r) { got = std::move(r); });
    for (int i = 0; i < 100 && !got; ++i) io.run_one_for(100ms);
    REQUIRE(got);
    CHECK(got->outcome.reason == ProbeReason::Ok);
  }

  TEST_CASE("tls handshake probe against nginx reports the certificate's days left") {
    config::Endpoint ep;
    ep.name = core::EndpointId("tls");
    ep.kind = config::ProbeKind::Tls;
    ep.timeout = 2s;
    ep.tcp.address = {"127.0.0.1", lab().nginx->https_port()};
    ep.tls.ca_file = lab().ca.cert_file();
    auto r = run(ep);
    CHECK(r.outcome.reason == ProbeReason::Ok);
    CHECK(r.cert_days_left.value_or(-1) >= 29);
    ep.tls.cert_expiry_warning = std::chrono::hours(24 * 60);
    CHECK(run(ep).outcome.reason == ProbeReason::CertExpiring);
  }

  TEST_CASE("scheduler: 50 endpoints on nginx for one second are all healthy") {
    asio::io_context io;
    std::vector<config::Endpoint> eps;
    for (int i = 0; i < 50; ++i) {
      auto ep = http(url(lab().nginx->http_port(), "/e" + std::to_string(i)));
      ep.name = core::EndpointId("e" + std::to_string(i));
      ep.interval = 200ms;
      eps.push_back(ep);
    }
    std::map<ProbeReason, int> reasons;
    Scheduler sched(io, eps, {}, [&](const ProbeResult& r) { reasons[r.outcome.reason]++; });
    sched.start();
    io.run_for(1s);
    sched.stop();
    io.run_for(200ms);
    CHECK(reasons[ProbeReason::Ok] >= 150);
    CHECK(reasons.size() == 1);
  }
}
