// DnsProber and Resolver against a real BIND 9 on 127.0.0.1 (one named for the whole binary).
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "bind_server.h"
#include "probe/ares_channel.h"
#include "probe/dns_probe.h"
#include "probe/resolver.h"

namespace failoverd::integration {
namespace {

namespace asio = boost::asio;
using core::ProbeReason;
using probe::ProbeResult;
using namespace std::chrono_literals;
// Sockets on the io_context's own executor: any_io_executor trips GCC 12's -Wnull-dereference
// inside Boost 1.81 at -O2.
using Executor = asio::io_context::executor_type;
using UdpSocket = asio::basic_datagram_socket<asio::ip::udp, Executor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;

constexpr const char* kExampleZone = R"($TTL 300
@        IN SOA   ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 60
@        IN NS    ns1.example.test.
@        IN MX    10 mail.example.test.
ns1      IN A     127.0.0.1
www      IN A     192.0.2.10
www      IN A     192.0.2.11
v6       IN AAAA  2001:db8::10
alias    IN CNAME www.example.test.
mail     IN A     192.0.2.25
txt      IN TXT   "v=spf1 " "-all"
dual     IN A     192.0.2.40
dual     IN AAAA  2001:db8::40
shared   IN A     192.0.2.41
gone-ttl 1 IN A   192.0.2.42
tcp      IN A     192.0.2.43
)";

// 24 TXT records of 60 characters: the answer does not fit a 512-byte UDP reply.
std::string zone_with_big_rrset() {
  std::string zone = kExampleZone;
  for (int i = 0; i < 24; ++i) {
    const std::string n = std::to_string(100 + i);
    zone += "big IN TXT \"record-" + n + "-" + std::string(49, 'x') + "\"\n";
  }
  return zone;
}

// One named for every test case; started on first use, stopped (by PID) at exit.
BindServer& bind9() {
  static BindServer server(
      {{"example.test", zone_with_big_rrset()}, {"broken.test", "not a zone file\n"}});
  return server;
}

config::Endpoint dns_endpoint(std::string name, std::string type,
                              std::vector<std::string> expect = {},
                              std::chrono::milliseconds timeout = 2000ms) {
  config::Endpoint e;
  e.name = core::EndpointId("bind-" + name);
  e.kind = config::ProbeKind::Dns;
  e.timeout = timeout;
  e.dns.server = {"127.0.0.1", bind9().port()};
  e.dns.query_name = std::move(name);
  e.dns.query_type = std::move(type);
  e.dns.expect_answer = std::move(expect);
  return e;
}

template <typename Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 10000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // Each turn runs the loop for at most 5 ms, so the count bound is never the tighter one.
  for (int turn = 0; turn < 1'000'000 && !pred() && std::chrono::steady_clock::now() < deadline;
       ++turn) {
    io.run_for(5ms);
    if (io.stopped()) io.restart();
  }
  return pred();
}

ProbeResult probe_once(const config::Endpoint& e, probe::Resolver* resolver = nullptr) {
  asio::io_context io;
  probe::DnsProber prober(io, resolver);
  std::optional<ProbeResult> result;
  prober.start(e, [&](ProbeResult r) { result = std::move(r); });
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  return *result;
}

// Waits (bounded) until BIND has logged `want` query lines containing `needle`; returns the count.
int wait_for_log(const std::string& needle, int want, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int n = bind9().count_log_lines(needle);
  for (int turn = 0; turn < 1000 && n < want && std::chrono::steady_clock::now() < deadline;
       ++turn) {
    std::this_thread::sleep_for(20ms);
    n = bind9().count_log_lines(needle);
  }
  return n;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

std::string query_line(const std::string& name, const std::string& type) {
  return "query: " + name + " IN " + type + " ";
}

}  // namespace

TEST_SUITE("integration.dnsprobe") {
  TEST_CASE("a present A record with the expected answer is ok") {
    const auto r = probe_once(dns_endpoint("www.example.test", "A", {"192.0.2.10", "192.0.2.11"}));
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    CHECK(r.detail == "NOERROR, 2 answers");
    CHECK(r.outcome.latency > core::Duration::zero());
    CHECK(r.outcome.latency < 2s);
    CHECK(r.endpoint.str() == "bind-www.example.test");
  }

  TEST_CASE("a wrong expected answer is DnsAnswerMismatch") {
    const auto r = probe_once(dns_endpoint("www.example.test", "A", {"192.0.2.10", "192.0.2.99"}));
    CHECK(r.outcome.reason == ProbeReason::DnsAnswerMismatch);
    CHECK_MESSAGE(r.detail.find("192.0.2.99") != std::string::npos, r.detail);
  }

  TEST_CASE("a name that does not exist is DnsRcode NXDOMAIN") {
    const auto r = probe_once(dns_endpoint("nope.example.test", "A"));
    CHECK(r.outcome.reason == ProbeReason::DnsRcode);
    CHECK(r.detail == "rcode NXDOMAIN, expected NOERROR");
  }

  TEST_CASE("expecting NXDOMAIN for a missing name is ok") {
    auto e = dns_endpoint("nope.example.test", "A");
    e.dns.expect_rcode = "NXDOMAIN";
    const auto r = probe_once(e);
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
  }

  TEST_CASE("a zone the server is not authoritative for is DnsRcode REFUSED") {
    const auto r = probe_once(dns_endpoint("www.other.test", "A"));
    CHECK(r.outcome.reason == ProbeReason::DnsRcode);
    CHECK(r.detail == "rcode REFUSED, expected NOERROR");
  }

  TEST_CASE("a zone that failed to load is DnsRcode SERVFAIL") {
    const auto r = probe_once(dns_endpoint("www.broken.test", "A"));
    CHECK(r.outcome.reason == ProbeReason::DnsRcode);
    CHECK(r.detail == "rcode SERVFAIL, expected NOERROR");
  }

  TEST_CASE("every supported query type is checked against its expected answer") {
    struct Case {
      const char* name;
      const char* type;
      const char* expected;
    };
    const Case cases[] = {
        {"v6.example.test", "AAAA", "2001:db8:0::10"},
        {"txt.example.test", "TXT", "v=spf1 -all"},
        {"alias.example.test", "CNAME", "www.example.test"},
        {"example.test", "MX", "10 mail.example.test."},
        {"example.test", "NS", "ns1.example.test."},
        {"example.test", "SOA", "ns1.example.test. hostmaster.example.test. 2024010101"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.type);
      const auto ok = probe_once(dns_endpoint(c.name, c.type, {c.expected}));
      CHECK_MESSAGE(ok.outcome.reason == ProbeReason::Ok, ok.detail);
      const auto bad = probe_once(dns_endpoint(c.name, c.type, {"wrong.invalid."}));
      CHECK_MESSAGE(bad.outcome.reason == ProbeReason::DnsAnswerMismatch, bad.detail);
    }
  }

  TEST_CASE("TCP mode works and BIND sees the query over TCP") {
    auto e = dns_endpoint("tcp.example.test", "A", {"192.0.2.43"});
    e.dns.tcp = true;
    const auto r = probe_once(e);
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    REQUIRE(wait_for_log(query_line("tcp.example.test", "A"), 1) == 1);
    // The query-log flags after the type carry T for TCP: "... IN A +T (127.0.0.1)".
    std::istringstream log(bind9().log());
    std::string flags;
    for (std::string line; std::getline(log, line);) {
      const auto at = line.find(query_line("tcp.example.test", "A"));
      if (at == std::string::npos) continue;
      std::istringstream rest(line.substr(at + query_line("tcp.example.test", "A").size()));
      rest >> flags;
    }
    CHECK_MESSAGE(flags.find('T') != std::string::npos, flags);
  }

  TEST_CASE("a truncated UDP answer is retried over TCP") {
    const std::string last = "record-123-" + std::string(49, 'x');
    const auto r = probe_once(dns_endpoint("big.example.test", "TXT", {last}));
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Ok, r.detail);
    CHECK(r.detail == "NOERROR, 24 answers");
    CHECK(wait_for_log(query_line("big.example.test", "TXT"), 2) == 2);  // UDP, then TCP
  }

  TEST_CASE("a UDP port where nothing answers times out within the timeout plus slack") {
    asio::io_context io;
    UdpSocket silent(io.get_executor(), {asio::ip::address_v4::loopback(), 0});  // never read
    auto e = dns_endpoint("www.example.test", "A", {}, 300ms);
    e.dns.server.port = silent.local_endpoint().port();
    probe::DnsProber prober(io);
    std::optional<ProbeResult> result;
    const auto t0 = std::chrono::steady_clock::now();
    prober.start(e, [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(
        io, [&] { return result.has_value(); }, 3000ms));
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(result->outcome.reason == ProbeReason::Timeout);
    CHECK(waited >= 290ms);
    CHECK(waited <= 300ms + 500ms);
    CHECK(result->outcome.latency >= 290ms);
  }

  TEST_CASE("c-ares keeps its sockets: none is left watched or open after TCP queries end") {
    asio::io_context io;
    UdpSocket warm_up(io.get_executor(),
                      {asio::ip::address_v4::loopback(), 0});  // the reactor's fds
    const std::size_t fds_before = open_fds();
    {
      probe::AresChannel channel(io, {.servers = bind9().address(), .tcp = true});
      const auto query = probe::make_query("www.example.test", 1, false);
      int replies = 0;
      for (int round = 0; round < 20; ++round) {  // a fresh connection each round
        channel.send(query, [&](int status, std::span<const std::uint8_t> reply) {
          if (status == probe::ares_status::kSuccess && !reply.empty()) ++replies;
        });
        REQUIRE(run_until(io, [&] { return replies == round + 1; }));
        REQUIRE(run_until(io, [&] { return channel.watched_sockets() == 0; }));
      }
      CHECK(channel.in_flight() == 0);
    }
    io.restart();
    io.poll();  // handlers of released descriptors
    CHECK(open_fds() == fds_before);
  }

  TEST_CASE("a closed TCP port is Refused") {
    asio::io_context io;
    std::uint16_t port = 0;
    {
      TcpAcceptor a(io.get_executor(), {asio::ip::address_v4::loopback(), 0});
      port = a.local_endpoint().port();
    }
    auto e = dns_endpoint("www.example.test", "A");
    e.dns.server.port = port;
    e.dns.tcp = true;
    const auto r = probe_once(e);
    CHECK_MESSAGE(r.outcome.reason == ProbeReason::Refused, r.detail);
  }

  // A burst, not a flood: a single-threaded named drops UDP queries beyond its socket buffer
  // (a few hundred small datagrams), and a probe does not retry.
  TEST_CASE("a burst of 200 probes, over UDP and TCP, all succeed on one thread") {
    asio::io_context io;
    probe::DnsProber prober(io);
    constexpr int kEach = 100;
    int ok = 0;
    int done = 0;
    std::string last_failure;
    for (int i = 0; i < kEach; ++i) {
      for (bool tcp : {false, true}) {
        auto e = dns_endpoint("www.example.test", "A", {"192.0.2.10"});
        e.dns.tcp = tcp;
        prober.start(e, [&, tcp](ProbeResult r) {
          ++done;
          if (r.outcome.reason == ProbeReason::Ok) {
            ++ok;
          } else {
            last_failure = (tcp ? "tcp: " : "udp: ") + r.detail;
          }
        });
      }
    }
    REQUIRE(run_until(
        io, [&] { return done == 2 * kEach; }, 20000ms));
    CHECK_MESSAGE(ok == 2 * kEach, last_failure);
    CHECK(prober.channels() == 2);
  }

  TEST_CASE("a server given by host name is found through the resolver") {
    asio::io_context io;
    probe::Resolver resolver(io, {.servers = bind9().address()});
    probe::DnsProber prober(io, &resolver);
    auto e = dns_endpoint("www.example.test", "A", {"192.0.2.10"});
    e.dns.server.host = "ns1.example.test";  // A 127.0.0.1 in the zone
    std::optional<ProbeResult> result;
    prober.start(e, [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK_MESSAGE(result->outcome.reason == ProbeReason::Ok, result->detail);

    e.dns.server.host = "missing.example.test";
    result.reset();
    prober.start(e, [&](ProbeResult r) { result = std::move(r); });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    CHECK(result->outcome.reason == ProbeReason::ResolveError);
  }

  TEST_CASE(
      "the resolver resolves through BIND and a second lookup within the TTL sends no query") {
    asio::io_context io;
    probe::Resolver resolver(io, {.servers = bind9().address()});
    std::optional<probe::Resolution> got;
    resolver.resolve("dual.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    REQUIRE_MESSAGE(got->status == probe::ResolveStatus::Ok, got->detail);
    REQUIRE(got->addresses.size() == 2);
    CHECK(got->addresses[0].to_string() == "192.0.2.40");
    CHECK(got->addresses[1].to_string() == "2001:db8::40");
    CHECK_FALSE(got->from_cache);
    CHECK(resolver.queries_sent() == 2);
    CHECK(wait_for_log(query_line("dual.example.test", "A"), 1) == 1);
    CHECK(wait_for_log(query_line("dual.example.test", "AAAA"), 1) == 1);

    got.reset();
    resolver.resolve("DUAL.example.test.", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->status == probe::ResolveStatus::Ok);
    CHECK(got->from_cache);
    CHECK(got->addresses.size() == 2);
    CHECK(resolver.queries_sent() == 2);
    std::this_thread::sleep_for(300ms);  // give a stray query time to reach BIND's log
    CHECK(bind9().count_log_lines(query_line("dual.example.test", "A")) == 1);
    CHECK(bind9().count_log_lines(query_line("dual.example.test", "AAAA")) == 1);
  }

  TEST_CASE("concurrent lookups of one name share one pair of queries") {
    asio::io_context io;
    probe::Resolver resolver(io, {.servers = bind9().address()});
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
      resolver.resolve("shared.example.test", [&](const probe::Resolution& r) {
        if (r.status == probe::ResolveStatus::Ok && r.addresses.size() == 1) ++ok;
      });
    }
    CHECK(resolver.pending() == 1);
    REQUIRE(run_until(io, [&] { return ok == 10; }));
    CHECK(resolver.queries_sent() == 2);
    CHECK(wait_for_log(query_line("shared.example.test", "A"), 1) == 1);
  }

  TEST_CASE("after the TTL runs out the resolver asks again") {
    asio::io_context io;
    probe::Resolver resolver(io, {.servers = bind9().address(), .ipv6 = false});
    std::optional<probe::Resolution> got;
    resolver.resolve("gone-ttl.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    REQUIRE(got->status == probe::ResolveStatus::Ok);
    CHECK(resolver.queries_sent() == 1);
    got.reset();
    resolver.resolve("gone-ttl.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->from_cache);
    CHECK(resolver.queries_sent() == 1);

    std::this_thread::sleep_for(1100ms);  // the record's TTL is 1 s
    got.reset();
    resolver.resolve("gone-ttl.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->status == probe::ResolveStatus::Ok);
    CHECK_FALSE(got->from_cache);
    CHECK(resolver.queries_sent() == 2);
    CHECK(wait_for_log(query_line("gone-ttl.example.test", "A"), 2) == 2);
  }

  TEST_CASE("a missing name is NotFound and cached negatively") {
    asio::io_context io;
    probe::Resolver resolver(io, {.servers = bind9().address()});
    std::optional<probe::Resolution> got;
    resolver.resolve("absent.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->status == probe::ResolveStatus::NotFound);
    CHECK(got->detail == "NXDOMAIN");
    got.reset();
    resolver.resolve("absent.example.test", [&](const probe::Resolution& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->status == probe::ResolveStatus::NotFound);
    CHECK(got->from_cache);
    CHECK(resolver.queries_sent() == 2);

    got.reset();
    resolver.resolve("www.other.test", [&](const probe::Resolution& r) { got = r; });  // REFUSED
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    CHECK(got->status == probe::ResolveStatus::Failed);
  }
}

}  // namespace failoverd::integration
