// The DNS prober and its c-ares/Asio glue against a tiny fake UDP name server on loopback port 0.
// (The real-server tests, BIND 9, are in integration/dnsprobe.)
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <optional>

#include "probe/dns_probe.h"
#include "probe/dns_wire.h"
#include "probe/resolver.h"

namespace failoverd::probe {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using core::ProbeReason;
using namespace std::chrono_literals;
// Sockets on the io_context's own executor: any_io_executor trips GCC 12's -Wnull-dereference
// inside Boost 1.81 at -O2.
using UdpSocket = asio::basic_datagram_socket<udp, asio::io_context::executor_type>;

// Answers every query on 127.0.0.1:<port> according to its mode.
class FakeDnsServer {
 public:
  enum class Mode { Answer, Silent, Malformed };

  FakeDnsServer(asio::io_context& io, Mode mode,
                asio::ip::address address = asio::ip::address_v4::loopback())
      : mode_(mode), socket_(io.get_executor(), udp::endpoint(address, 0)) {
    receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  int queries = 0;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), peer_,
                               [this](const boost::system::error_code& ec, std::size_t n) {
                                 if (ec) return;
                                 ++queries;
                                 respond(n);
                                 receive();
                               });
  }

  void respond(std::size_t n) {
    if (mode_ == Mode::Silent || n < 12) return;
    test::WireBuilder w;
    w.bytes.assign(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    w.bytes[2] = static_cast<std::uint8_t>(0x84 | (w.bytes[2] & 0x01));  // QR AA, RD copied
    w.bytes[3] = 0x00;
    w.bytes[7] = 1;  // one answer
    w.pointer(12).u16(1).u16(1).u32(60).u16(4);
    if (mode_ == Mode::Answer) {
      w.raw({192, 0, 2, 1});
    } else {
      w.raw({192, 0});  // rdata shorter than rdlength
    }
    boost::system::error_code ignored;
    socket_.send_to(asio::buffer(w.bytes), peer_, 0, ignored);
  }

  Mode mode_;
  UdpSocket socket_;
  udp::endpoint peer_;
  std::array<std::uint8_t, 512> buf_{};
};

config::Endpoint dns_endpoint(std::string host, std::uint16_t port,
                              std::vector<std::string> expect = {},
                              std::chrono::milliseconds timeout = 1000ms) {
  config::Endpoint e;
  e.name = core::EndpointId("dns-test");
  e.kind = config::ProbeKind::Dns;
  e.timeout = timeout;
  e.dns.server = {std::move(host), port};
  e.dns.query_name = "www.example.test.";
  e.dns.query_type = "A";
  e.dns.expect_answer = std::move(expect);
  return e;
}

// Runs the io_context until pred() holds or `limit` passes (bounded in time).
template <typename Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // Each turn runs the loop for at most 5 ms, so the count bound is never the tighter one.
  for (int turn = 0; turn < 1'000'000 && !pred() && std::chrono::steady_clock::now() < deadline;
       ++turn) {
    io.run_for(5ms);
    if (io.stopped()) io.restart();
  }
  return pred();
}

// A UDP port on loopback that nobody listens on (bound, then closed).
std::uint16_t closed_udp_port(asio::io_context& io) {
  UdpSocket s(io.get_executor(), udp::endpoint(asio::ip::address_v4::loopback(), 0));
  return s.local_endpoint().port();
}

}  // namespace

TEST_SUITE("probe.dns.channel") {
  TEST_CASE("a probe with the expected answer succeeds and measures latency") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Answer);
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    start_dns_probe(prober, dns_endpoint("127.0.0.1", server.port(), {"192.0.2.1"}),
                    [&](ProbeResult r) { result = std::move(r); });
    CHECK_FALSE(result.has_value());  // never completed from inside start
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK_MESSAGE(result->outcome.reason == ProbeReason::Ok, result->detail);
    CHECK(result->endpoint.str() == "dns-test");
    CHECK(result->outcome.latency > core::Duration::zero());
    CHECK(result->outcome.latency < 1s);
    CHECK(server.queries == 1);
    CHECK(prober.in_flight() == 0);
  }

  TEST_CASE("a server on ::1 is probed over IPv6, with or without brackets") {
    asio::io_context io;
    std::unique_ptr<FakeDnsServer> server;
    try {
      server = std::make_unique<FakeDnsServer>(io, FakeDnsServer::Mode::Answer,
                                               asio::ip::address_v6::loopback());
    } catch (const boost::system::system_error&) {
      MESSAGE("no IPv6 loopback here; skipped");
      return;
    }
    DnsProber prober(io);
    for (const char* host : {"::1", "[::1]"}) {
      std::optional<ProbeResult> result;
      prober.start(dns_endpoint(host, server->port(), {"192.0.2.1"}),
                   [&](ProbeResult r) { result = std::move(r); });
      REQUIRE(run_until(io, [&] { return result.has_value(); }));
      CHECK_MESSAGE(result->outcome.reason == ProbeReason::Ok, result->detail);
    }
    CHECK(server->queries == 2);
    CHECK(prober.channels() == 1);
  }

  TEST_CASE("a wrong expected answer is a mismatch") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Answer);
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    prober.start(dns_endpoint("127.0.0.1", server.port(), {"192.0.2.99"}),
                 [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK(result->outcome.reason == ProbeReason::DnsAnswerMismatch);
  }

  TEST_CASE("a malformed reply is a protocol error") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Malformed);
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    prober.start(dns_endpoint("127.0.0.1", server.port()),
                 [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK_MESSAGE(result->outcome.reason == ProbeReason::ProtocolError, result->detail);
  }

  TEST_CASE("a server that never answers times out after the endpoint's timeout") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Silent);
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    const auto t0 = std::chrono::steady_clock::now();
    prober.start(dns_endpoint("127.0.0.1", server.port(), {}, 200ms),
                 [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(
        io, [&] { return result.has_value(); }, 3000ms));
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(result->outcome.reason == ProbeReason::Timeout);
    CHECK(result->detail == "no reply within 200ms");
    CHECK(waited >= 190ms);
    CHECK(waited < 1000ms);
  }

  TEST_CASE("a closed UDP port is refused (ICMP port unreachable)") {
    asio::io_context io;
    const auto port = closed_udp_port(io);
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    prober.start(dns_endpoint("127.0.0.1", port, {}, 2000ms),
                 [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK_MESSAGE(result->outcome.reason == ProbeReason::Refused, result->detail);
    CHECK(result->outcome.latency < 1s);
  }

  TEST_CASE("probes of one server share one channel; many run at once") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Answer);
    DnsProber prober(io);
    int ok = 0;
    int done = 0;
    constexpr int kProbes = 200;
    for (int i = 0; i < kProbes; ++i) {
      prober.start(dns_endpoint("127.0.0.1", server.port(), {"192.0.2.1"}), [&](ProbeResult r) {
        ++done;
        if (r.outcome.reason == ProbeReason::Ok) ++ok;
      });
    }
    CHECK(prober.in_flight() == kProbes);
    REQUIRE(run_until(io, [&] { return done == kProbes; }));
    CHECK(ok == kProbes);
    CHECK(prober.channels() == 1);
    CHECK(prober.in_flight() == 0);
  }

  TEST_CASE("bad settings fail the probe without touching the network") {
    asio::io_context io;
    DnsProber prober(io);
    std::optional<ProbeResult> result;
    auto run = [&](config::Endpoint e) {
      result.reset();
      prober.start(e, [&](ProbeResult r) { result = std::move(r); });
      REQUIRE(run_until(io, [&] { return result.has_value(); }));
    };
    auto e = dns_endpoint("127.0.0.1", 53);
    e.dns.query_type = "SRV";
    run(e);
    CHECK(result->outcome.reason == ProbeReason::Internal);
    e = dns_endpoint("127.0.0.1", 53);
    e.dns.expect_rcode = "WHATEVER";
    run(e);
    CHECK(result->outcome.reason == ProbeReason::Internal);
    run(dns_endpoint("dns.example.test", 53));  // a host name, and no resolver given
    CHECK(result->outcome.reason == ProbeReason::ResolveError);
    CHECK(prober.channels() == 0);
  }

  TEST_CASE("destroying the prober abandons probes in flight without calling back") {
    asio::io_context io;
    FakeDnsServer server(io, FakeDnsServer::Mode::Silent);
    bool called = false;
    {
      DnsProber prober(io);
      prober.start(dns_endpoint("127.0.0.1", server.port()), [&](ProbeResult) { called = true; });
      io.run_for(20ms);
    }
    io.restart();
    io.run_for(50ms);
    CHECK_FALSE(called);
  }

  TEST_CASE("the resolver answers IP literals and localhost without a query") {
    asio::io_context io;
    Resolver resolver(io, Resolver::Options{.servers = "127.0.0.1:9"});
    std::vector<Resolution> got;
    resolver.resolve("192.0.2.5", [&](const Resolution& r) { got.push_back(r); });
    resolver.resolve("[::1]", [&](const Resolution& r) { got.push_back(r); });
    resolver.resolve("LocalHost.", [&](const Resolution& r) { got.push_back(r); });
    CHECK(got.empty());
    REQUIRE(run_until(io, [&] { return got.size() == 3; }));
    CHECK(got[0].status == ResolveStatus::Ok);
    CHECK(got[0].addresses.at(0).to_string() == "192.0.2.5");
    CHECK(got[1].addresses.at(0).to_string() == "::1");
    CHECK(got[2].addresses.size() == 2);
    CHECK(resolver.queries_sent() == 0);
  }
}

}  // namespace failoverd::probe
