// The RFC 2136 read and write against a slow server: a fake, TSIG-signing DNS server on a
// loopback TCP port (port 0) that answers each message after a delay set per query type.
// It counts connections and whether a query came only after a reply on its connection (a
// sequential client) or before any (pipelined). Timing is checked only with bounds wide enough
// to tell "one round trip" from "three".
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
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include "actuate/rfc2136.h"

namespace asio = boost::asio;
namespace act = failoverd::actuate;
namespace dns = failoverd::actuate::dns;
namespace tsig = failoverd::actuate::tsig;
namespace core = failoverd::core;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

std::uint64_t wall_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

tsig::Key test_key() {
  return tsig::Key{"failoverd-key.", tsig::Algorithm::HmacSha256,
                   std::vector<std::uint8_t>(32, 0x5a)};
}

class SlowDns {
 public:
  explicit SlowDns(asio::io_context& io)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  core::Duration delay = 1500ms;                 // for any message without its own below
  std::map<std::uint16_t, core::Duration> by_type;  // query type -> delay
  int connections = 0;
  int queries = 0;
  int after_a_reply = 0;  // queries that arrived after a reply was sent on their connection
  int updates = 0;

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    int replies_sent = 0;
  };

  asio::awaitable<void> accept_loop() {
    for (int n = 0; n < 32; ++n) {
      auto [ec, socket] = co_await acceptor_.async_accept(kUse);
      if (ec) co_return;
      ++connections;
      asio::co_spawn(io_, serve(std::make_shared<Conn>(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Conn> c) {
    for (int n = 0; n < 16; ++n) {
      std::array<std::uint8_t, 2> len{};
      auto [e1, n1] = co_await asio::async_read(c->socket, asio::buffer(len), kUse);
      if (e1) co_return;
      std::vector<std::uint8_t> msg((std::size_t{len[0]} << 8) | len[1]);
      auto [e2, n2] = co_await asio::async_read(c->socket, asio::buffer(msg), kUse);
      if (e2) co_return;
      auto decoded = dns::decode(msg);
      auto v = tsig::verify(msg, test_key(), {}, wall_seconds());
      if (!decoded.message || decoded.message->questions.empty() || v.status != tsig::Status::Ok) {
        co_return;  // a broken request: the client sees the connection end
      }
      const dns::Message& q = *decoded.message;
      core::Duration d = delay;
      if (q.header.opcode == dns::Opcode::Update) {
        ++updates;
      } else {
        ++queries;
        if (c->replies_sent > 0) ++after_a_reply;
        if (auto it = by_type.find(q.questions[0].type); it != by_type.end()) d = it->second;
      }
      asio::co_spawn(io_, reply_later(c, answer(q, v.mac), d), asio::detached);
    }
  }

  static std::vector<std::uint8_t> answer(const dns::Message& q,
                                          const std::vector<std::uint8_t>& request_mac) {
    dns::Message r;
    r.header = q.header;
    r.header.qr = true;
    r.header.aa = true;
    r.header.rcode = dns::rcode::kNoError;
    r.questions = q.questions;
    if (q.header.opcode == dns::Opcode::Query) {
      const auto& question = q.questions[0];
      std::optional<std::vector<std::uint8_t>> rd;
      if (question.type == dns::type::kA) rd = dns::rdata_from_text(dns::type::kA, "192.0.2.1");
      if (question.type == dns::type::kTxt) {
        rd = dns::rdata_from_text(dns::type::kTxt, "gen=3 writer=obs-b");
      }
      if (question.type == dns::type::kSoa) {
        rd = dns::rdata_from_text(dns::type::kSoa,
                                  "ns.example.test. admin.example.test. 7 3600 600 86400 30");
      }
      if (rd) r.answers.push_back(dns::Rr{question.name, question.type, dns::klass::kIn, 30, *rd});
    }
    auto wire = dns::encode(r);
    REQUIRE(wire);
    auto s = tsig::sign(*wire, test_key(), wall_seconds(), tsig::kDefaultFudge, request_mac);
    REQUIRE(s);
    return s->wire;
  }

  asio::awaitable<void> reply_later(std::shared_ptr<Conn> c, std::vector<std::uint8_t> reply,
                                    core::Duration d) {
    asio::steady_timer t(io_);
    t.expires_after(d);
    co_await t.async_wait(kUse);
    std::array<std::uint8_t, 2> len{static_cast<std::uint8_t>(reply.size() >> 8),
                                    static_cast<std::uint8_t>(reply.size() & 0xff)};
    std::array<asio::const_buffer, 2> frame{asio::buffer(len), asio::buffer(reply)};
    // Synchronous: a few hundred bytes on loopback never block, and no two replies interleave.
    boost::system::error_code ignored;
    asio::write(c->socket, frame, ignored);
    ++c->replies_sent;
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
};

failoverd::config::Rfc2136Target target(std::uint16_t port, core::Duration timeout) {
  failoverd::config::Rfc2136Target t;
  t.server = {"127.0.0.1", port};
  t.zone = "example.test.";
  t.name = "www.example.test.";
  t.type = "A";
  t.ttl = 30;
  t.tsig_key_name = "failoverd-key.";
  t.timeout = timeout;
  return t;
}

struct Timed {
  act::ReadResult result;
  core::Duration took{};
};

// Runs `reads` reads one after the other and returns each with its duration; the io_context
// runs for at most 30 s.
std::vector<Timed> run_reads(asio::io_context& io, SlowDns& server, act::Rfc2136Actuator& a,
                             int reads) {
  std::vector<Timed> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < reads; ++i) {
          auto start = core::Clock::now();
          auto r = co_await a.read();
          out.push_back(Timed{std::move(r), core::Clock::now() - start});
        }
        server.stop();
      },
      asio::detached);
  io.run_for(30s);
  return out;
}

}  // namespace

TEST_SUITE("actuate.dns.rfc2136.slow") {
  TEST_CASE("the three queries go out together on one connection: one round trip, not three") {
    asio::io_context io;
    SlowDns server(io);  // every reply 1.5 s late; the configured timeout is 2 s
    act::Rfc2136Actuator a(target(server.port(), 2s), test_key(), "obs-a");
    auto reads = run_reads(io, server, a, 1);
    REQUIRE(reads.size() == 1);
    const auto& r = reads[0].result;
    REQUIRE_MESSAGE(r.status == act::ReadStatus::Ok, r.detail);
    REQUIRE(r.state.members.size() == 1);
    CHECK(r.state.members[0].value == "192.0.2.1");
    REQUIRE(r.state.fence);
    CHECK(r.state.fence->generation == 3);
    CHECK(r.state.serial == 7u);
    CHECK(server.connections == 1);
    CHECK(server.queries == 3);
    CHECK(server.after_a_reply == 0);  // pipelined: none waited for an earlier reply
    // Sequential, this is three delays (4.5 s); pipelined, one (1.5 s).
    CHECK(reads[0].took < 3500ms);
  }

  TEST_CASE("replies in another order than the queries are matched by id") {
    asio::io_context io;
    SlowDns server(io);
    server.by_type = {{dns::type::kA, 600ms}, {dns::type::kTxt, 300ms}, {dns::type::kSoa, 10ms}};
    act::Rfc2136Actuator a(target(server.port(), 2s), test_key(), "obs-a");
    auto reads = run_reads(io, server, a, 1);
    REQUIRE(reads.size() == 1);
    const auto& r = reads[0].result;
    REQUIRE_MESSAGE(r.status == act::ReadStatus::Ok, r.detail);
    REQUIRE(r.state.members.size() == 1);
    CHECK(r.state.members[0].value == "192.0.2.1");
    REQUIRE(r.state.fence);
    CHECK(r.state.fence->writer == "obs-b");
    CHECK(r.state.serial == 7u);
  }

  TEST_CASE("a server slower than the configured timeout is read on the next attempt") {
    asio::io_context io;
    SlowDns server(io);  // 1.5 s, against a configured 500 ms
    act::Rfc2136Actuator a(target(server.port(), 500ms), test_key(), "obs-a");
    auto reads = run_reads(io, server, a, 3);
    REQUIRE(reads.size() == 3);
    // First: the whole read's deadline (2 x 500 ms) passes before any reply; nothing answered.
    CHECK(reads[0].result.status == act::ReadStatus::Unreachable);
    CHECK_FALSE(reads[0].result.answered);
    // Then the doubled deadline holds a round trip, and later ones follow the measured RTT.
    CHECK_MESSAGE(reads[1].result.status == act::ReadStatus::Ok, reads[1].result.detail);
    CHECK_MESSAGE(reads[2].result.status == act::ReadStatus::Ok, reads[2].result.detail);
    REQUIRE(a.rtt().srtt());
    CHECK(*a.rtt().srtt() >= 1400ms);
    CHECK(*a.rtt().srtt() < 3s);
    CHECK(a.rtt().timeout() > 1500ms);
    CHECK(server.connections == 3);
  }

  TEST_CASE("a read cut off after some of its answers says the server answered") {
    asio::io_context io;
    SlowDns server(io);
    server.by_type = {{dns::type::kA, 10ms}, {dns::type::kTxt, 10ms}, {dns::type::kSoa, 1500ms}};
    act::Rfc2136Actuator a(target(server.port(), 300ms), test_key(), "obs-a");
    auto reads = run_reads(io, server, a, 1);
    REQUIRE(reads.size() == 1);
    CHECK(reads[0].result.status == act::ReadStatus::Unreachable);
    CHECK(reads[0].result.answered);
    CHECK(reads[0].result.detail.find("2 of 3") != std::string::npos);
    CHECK(a.rtt().timeout() == 600ms);  // doubled for the next read
  }

  TEST_CASE("an UPDATE answered after more than the configured timeout is Applied, not Unknown") {
    asio::io_context io;
    SlowDns server(io);  // 1.5 s, against a configured 1 s: within the write's 2 s deadline
    act::Rfc2136Actuator a(target(server.port(), 1s), test_key(), "obs-a");
    core::Plan p;
    p.service = core::ServiceId("www");
    p.base_generation = 3;
    p.generation = 4;
    p.members.push_back({core::RegionId("r2"), "192.0.2.2", 1});
    act::LiveState expected;
    expected.members.push_back({"192.0.2.1", 1});
    expected.fence = act::Fence{3, "obs-b"};
    std::optional<act::WriteResult> w;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          w = co_await a.write(p, expected);
          server.stop();
        },
        asio::detached);
    io.run_for(30s);
    REQUIRE(w);
    CHECK_MESSAGE(w->status == act::WriteStatus::Applied, w->detail);
    CHECK(server.updates == 1);
    REQUIRE(a.rtt().srtt());
    CHECK(*a.rtt().srtt() >= 1400ms);
  }
}
