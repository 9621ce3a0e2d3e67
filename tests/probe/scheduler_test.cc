#include "probe/scheduler.h"

#include <doctest/doctest.h>

#include <algorithm>
// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#pragma GCC diagnostic pop
#include <map>

#include "probe/probe_support.h"
#include "support/hostile_server.h"

using namespace failoverd;
using namespace failoverd::probe;
using namespace failoverd::probe::test;
using namespace failoverd::testing;
using core::ProbeReason;
namespace asio = boost::asio;

namespace {

std::vector<config::Endpoint> endpoints(std::uint16_t port, int n, config::Duration interval,
                                        config::Duration timeout = 1s) {
  std::vector<config::Endpoint> out;
  for (int i = 0; i < n; ++i) {
    auto ep = http_endpoint(local_url(port, "/e" + std::to_string(i)), timeout);
    ep.name = core::EndpointId("e" + std::to_string(i));
    ep.interval = interval;
    out.push_back(ep);
  }
  return out;
}

HostileOptions canned_ok() {
  HostileOptions o;
  o.mode = HostileMode::Canned;
  o.canned = http_response(200, "ok");
  return o;
}

}  // namespace

TEST_SUITE("probe.scheduler") {
  TEST_CASE("every endpoint is probed about once per interval, first probes spread out") {
    asio::io_context io;
    HostileServer server(io, canned_ok());
    std::map<std::string, int> count;
    std::map<std::string, core::TimePoint> first;
    Scheduler sched(io, endpoints(server.port(), 20, 100ms), {}, [&](const ProbeResult& r) {
      CHECK(r.outcome.reason == ProbeReason::Ok);
      CHECK(r.lateness >= -core::Duration(1ms));  // may start up to 0.5 ms early
      CHECK(r.scheduled != core::TimePoint{});
      if (count[r.endpoint.str()]++ == 0) first[r.endpoint.str()] = r.scheduled;
    });
    CHECK(sched.errors().empty());
    sched.start();
    io.run_for(550ms);
    sched.stop();
    REQUIRE(count.size() == 20);
    for (const auto& [name, n] : count) {
      CHECK_MESSAGE(n >= 3, name);
      CHECK_MESSAGE(n <= 7, name);
    }
    auto [lo, hi] = std::minmax_element(first.begin(), first.end(),
                                        [](auto& a, auto& b) { return a.second < b.second; });
    CHECK(hi->second - lo->second >= 40ms);  // spread over the first interval, not a burst
    CHECK(hi->second - lo->second < 100ms);
    CHECK(sched.lateness().count >= 60);
  }

  TEST_CASE("in-flight probes are capped; the rest wait and nothing is retried") {
    asio::io_context io;
    HostileOptions silent;
    silent.mode = HostileMode::Silent;
    HostileServer server(io, silent);
    SchedulerOptions opts;
    opts.max_in_flight = 3;
    std::size_t max_seen = 0;
    int results = 0;
    Scheduler* self = nullptr;
    Scheduler sched(io, endpoints(server.port(), 10, 50ms, 200ms), opts, [&](const ProbeResult& r) {
      ++results;
      CHECK(r.outcome.reason == ProbeReason::Timeout);
      max_seen = std::max(max_seen, self->prober().stats().in_flight + 1);
    });
    self = &sched;
    sched.start();
    io.run_for(1s);
    sched.stop();
    CHECK(max_seen <= 3);
    CHECK(sched.prober().stats().pooled_connections <= 3);
    // 3 slots, each probe takes 200 ms: at most ~15 probes in 1 s, whatever the interval says.
    CHECK(results <= 18);
    CHECK(results >= 6);
    CHECK(server.accepted() <= 18);
  }

  TEST_CASE("a round that comes due while a probe times out starts when it ends, not skipped") {
    asio::io_context io;
    HostileOptions silent;
    silent.mode = HostileMode::Silent;
    HostileServer server(io, silent);
    // Timeout as long as the interval: every round comes due while the last probe still runs.
    std::vector<core::TimePoint> scheduled;
    Scheduler sched(io, endpoints(server.port(), 1, 100ms, 100ms), {}, [&](const ProbeResult& r) {
      CHECK(r.outcome.reason == ProbeReason::Timeout);
      scheduled.push_back(r.scheduled);
    });
    sched.start();
    for (int i = 0; i < 100 && scheduled.size() < 8; ++i) io.run_for(50ms);
    sched.stop();
    REQUIRE(scheduled.size() >= 8);
    // Each probe stands for the round after the previous one (the schedule's due times, which
    // do not depend on how busy the machine is): one interval apart (±5 % jitter), never two.
    for (std::size_t k = 1; k < scheduled.size(); ++k) {
      CHECK_MESSAGE(scheduled[k] - scheduled[k - 1] < 150ms, k);
    }
    CHECK(sched.skipped() >= scheduled.size() - 2);
    CHECK(server.accepted() <= scheduled.size() + 1);  // one connection per probe, no retries
  }

  TEST_CASE("a successor continues the rounds, and runs again a round still in flight") {
    asio::io_context io;
    HostileServer ok(io, canned_ok());
    HostileOptions silent_options;
    silent_options.mode = HostileMode::Silent;
    HostileServer silent(io, silent_options);
    // e0 answers (interval 1 s); e1 never answers: its first probe stays in flight.
    std::vector<config::Endpoint> eps = endpoints(ok.port(), 1, 1s);
    auto stuck = endpoints(silent.port(), 1, 100ms, 5s);
    stuck[0].name = core::EndpointId("e1");
    eps.push_back(stuck[0]);
    std::map<std::string, int> before;
    Scheduler old(io, eps, {}, [&](const ProbeResult& r) { before[r.endpoint.str()]++; });
    CHECK_FALSE(old.next_due(core::EndpointId("e0")));  // not started
    old.start();
    io.run_for(1050ms);  // e0 probed; e1's first probe hangs
    old.stop();
    const auto stopped = core::Clock::now();
    REQUIRE(before["e0"] >= 1);
    REQUIRE(before.count("e1") == 0);
    const auto e0 = old.next_due(core::EndpointId("e0"));
    const auto e1 = old.next_due(core::EndpointId("e1"));
    REQUIRE(e0);
    REQUIRE(e1);
    CHECK(*e0 > stopped);
    CHECK(*e0 <= stopped + 1050ms);  // one interval, jitter included
    CHECK(*e1 <= stopped);  // the round in flight
    CHECK_FALSE(old.next_due(core::EndpointId("nope")));

    Scheduler next(io, eps, {}, [](const ProbeResult&) {});
    next.start([&](const core::EndpointId& id) { return old.next_due(id); });
    // e0 keeps its time (cut to one interval from now at most); e1 is due again at once.
    const auto continued = next.next_due(core::EndpointId("e0"));
    REQUIRE(continued);
    CHECK(*continued <= *e0);
    CHECK(*continued >= *e0 - 100ms);
    CHECK(*next.next_due(core::EndpointId("e1")) <= core::Clock::now());
    next.stop();
  }

  TEST_CASE("set_interval takes effect at once and rejects unknown endpoints") {
    asio::io_context io;
    HostileServer server(io, canned_ok());
    std::map<std::string, int> count;
    auto eps = endpoints(server.port(), 2, 10s);
    Scheduler sched(io, eps, {}, [&](const ProbeResult& r) { count[r.endpoint.str()]++; });
    CHECK_FALSE(sched.set_interval(core::EndpointId("nope"), 1s));
    CHECK_FALSE(sched.set_interval(core::EndpointId("e0"), 0s));
    sched.start();
    CHECK(sched.set_interval(core::EndpointId("e0"), 50ms));
    io.run_for(400ms);
    sched.stop();
    CHECK(count["e0"] >= 3);
    CHECK(count["e1"] <= 1);
  }

  TEST_CASE("probe_now starts a probe out of turn, or right after the one in flight") {
    asio::io_context io;
    HostileOptions silent;
    silent.mode = HostileMode::Silent;
    HostileServer server(io, silent);
    std::map<std::string, std::vector<core::TimePoint>> started;
    // 1000 s interval: without probe_now, nothing here would be probed (the first turns fall
    // within the first 1000 s, at times fixed by the default seed; none in this test's second).
    Scheduler sched(io, endpoints(server.port(), 2, 1000s, 200ms), {}, [&](const ProbeResult& r) {
      CHECK(r.outcome.reason == ProbeReason::Timeout);
      started[r.endpoint.str()].push_back(r.started);
    });
    CHECK_FALSE(sched.probe_now(core::EndpointId("e0")));  // not started yet
    sched.start();
    CHECK_FALSE(sched.probe_now(core::EndpointId("nope")));
    io.run_for(20ms);
    const auto asked = core::Clock::now();
    CHECK(sched.probe_now(core::EndpointId("e0")));
    CHECK(sched.in_flight() >= 1);
    // Asked again while that probe runs: one more, the moment it ends; asking a third time
    // meanwhile adds nothing.
    CHECK(sched.probe_now(core::EndpointId("e0")));
    CHECK(sched.probe_now(core::EndpointId("e0")));
    for (int i = 0; i < 40 && started["e0"].size() < 2; ++i) io.run_for(25ms);
    io.run_for(300ms);  // room for a third probe, which must not come
    sched.stop();
    const auto& e0 = started["e0"];
    REQUIRE(e0.size() == 2);
    CHECK(e0[0] >= asked);
    CHECK(e0[1] - e0[0] >= 190ms);  // the second waited for the first to time out
    CHECK(started["e1"].empty());
  }

  TEST_CASE("a probe out of turn leaves the regular rounds where they were") {
    asio::io_context io;
    HostileServer server(io, canned_ok());
    std::vector<core::TimePoint> scheduled;
    SchedulerOptions opts;
    opts.jitter = 0;  // the regular rounds exactly one interval apart
    Scheduler sched(io, endpoints(server.port(), 1, 200ms), opts,
                    [&](const ProbeResult& r) { scheduled.push_back(r.scheduled); });
    sched.start();
    for (int i = 0; i < 100 && scheduled.size() < 2; ++i) io.run_for(20ms);
    REQUIRE(scheduled.size() == 2);
    io.run_for(70ms);  // somewhere between two rounds
    const auto asked = core::Clock::now();
    CHECK(sched.probe_now(core::EndpointId("e0")));
    for (int i = 0; i < 100 && scheduled.size() < 5; ++i) io.run_for(20ms);
    sched.stop();
    REQUIRE(scheduled.size() >= 5);
    // The extra one, stamped with the time it was asked for; the others still on the grid
    // that the first two set.
    std::vector<core::TimePoint> regular;
    int extra = 0;
    for (auto t : scheduled) {
      if (t >= asked && t - asked < 5ms) {
        ++extra;
      } else {
        regular.push_back(t);
      }
    }
    CHECK(extra == 1);
    for (std::size_t k = 1; k < regular.size(); ++k) {
      CHECK_MESSAGE(regular[k] - regular[k - 1] == 200ms, k);
    }
  }

  TEST_CASE("endpoints that cannot be prepared report Internal instead of vanishing") {
    asio::io_context io;
    auto eps = endpoints(1, 1, 50ms);
    eps[0].http.url = "gopher://nope/";
    config::Endpoint dns;
    dns.name = core::EndpointId("dns");
    dns.kind = config::ProbeKind::Dns;
    dns.interval = 50ms;
    eps.push_back(dns);
    int internal = 0, external = 0;
    SchedulerOptions opts;
    opts.external_probe = [&](const config::Endpoint& ep, Prober::Completion done) {
      ++external;
      ProbeResult r;
      r.endpoint = ep.name;
      asio::post(io, [d = std::move(done), r]() mutable { d(std::move(r)); });
    };
    Scheduler sched(io, eps, opts, [&](const ProbeResult& r) {
      if (r.outcome.reason == ProbeReason::Internal) ++internal;
    });
    CHECK(sched.errors().size() == 1);
    sched.start();
    io.run_for(200ms);
    sched.stop();
    CHECK(internal >= 1);
    CHECK(external >= 1);
  }

  TEST_CASE("destroying a running scheduler stops every callback") {
    asio::io_context io;
    HostileOptions silent;
    silent.mode = HostileMode::Silent;
    HostileServer server(io, silent);
    int results = 0;
    {
      Scheduler sched(io, endpoints(server.port(), 5, 20ms, 5s), {},
                      [&](const ProbeResult&) { ++results; });
      sched.start();
      io.run_for(100ms);
    }
    io.run_for(100ms);
    CHECK(results == 0);
  }
}
