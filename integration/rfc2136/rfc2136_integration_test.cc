// RFC 2136 actuator and reconciler against real BIND9 and Knot (scenarios F1, A1-A5), and
// rcode mapping against a fake server. A watcher polls the managed name every 10 ms throughout
// and fails the test on an empty answer or a decreasing fence generation.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>

#include "actuate/reconcile.h"
#include "actuate/rfc2136.h"
#include "harness.h"

namespace act = failoverd::actuate;
namespace core = failoverd::core;
namespace dns = failoverd::actuate::dns;
namespace it = failoverd::itest;
using act::ReadStatus;
using act::WriteStatus;
using Kind = act::ReconcileEvent::Kind;
using namespace std::chrono_literals;

namespace {

using ServerFactory = std::unique_ptr<it::DnsServer> (*)(const std::filesystem::path&);
const std::vector<std::pair<std::string, ServerFactory>> kServers{{"bind9", &it::make_bind},
                                                                  {"knot", &it::make_knot}};

core::Plan plan(core::Generation base, std::vector<std::string> values) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = base;
  p.generation = base + 1;
  for (auto& v : values) p.members.push_back({core::RegionId("r"), v, 1});
  p.reason = "integration";
  p.decided_at = core::Clock::now();  // decided now: the guards at sending allow max_decision_age
  return p;
}

std::vector<std::string> values(const act::LiveState& s) {
  std::vector<std::string> v;
  for (const auto& m : s.members) v.push_back(m.value);
  return v;
}

act::ReadResult read(boost::asio::io_context& io, act::Actuator& a) {
  return it::run(io, a.read());
}

act::WriteResult write(boost::asio::io_context& io, act::Actuator& a, const core::Plan& p,
                       const act::LiveState& expected) {
  return it::run(io, a.write(p, expected));
}

// Drives the reconciler against the actuator until `done` holds, for at most `limit`.
// Returns every event; counts writes in `writes`.
std::vector<act::ReconcileEvent> drive(boost::asio::io_context& io, act::Reconciler& r,
                                       act::Actuator& a, const std::function<bool()>& done,
                                       std::chrono::milliseconds limit, int* writes = nullptr) {
  std::vector<act::ReconcileEvent> all;
  auto deadline = core::Clock::now() + limit;
  for (int i = 0; i < 100000 && core::Clock::now() < deadline; ++i) {
    auto now = core::Clock::now();
    auto action = r.poll(now);
    if (action) {
      if (action->kind == act::ReconcileAction::Kind::Write) {
        if (writes) ++*writes;
        r.on_write(it::run(io, a.write(action->plan, action->expected)), core::Clock::now());
      } else {
        r.on_read(it::run(io, a.read()), core::Clock::now());
      }
    } else {
      auto wake = std::min(r.next_due(), now + std::chrono::milliseconds(20));
      std::this_thread::sleep_until(std::max(wake, now));
    }
    for (auto& e : r.take_events()) {
      if (std::getenv("FAILOVERD_ITEST_VERBOSE") != nullptr) {
        std::string line = std::string(act::to_string(e.kind)) + ": " + e.detail;
        MESSAGE(line);
      }
      all.push_back(std::move(e));
    }
    if (done()) break;
  }
  return all;
}

bool has(const std::vector<act::ReconcileEvent>& ev, Kind k) {
  return std::any_of(ev.begin(), ev.end(), [k](const auto& e) { return e.kind == k; });
}

act::ReconcileOptions fast_options(std::string self) {
  act::ReconcileOptions o;
  o.self = core::ObserverId(std::move(self));
  o.interval = 200ms;
  o.retry = core::BackoffPolicy{std::chrono::milliseconds(50), std::chrono::milliseconds(400)};
  return o;
}

struct Lab {
  it::TempDir dir{"failoverd-rfc2136"};
  std::unique_ptr<it::DnsServer> server;
  std::unique_ptr<it::Watcher> watcher;
  boost::asio::io_context io;

  explicit Lab(ServerFactory factory) {
    server = factory(dir.path());
    bool up = server->start();
    if (!up) MESSAGE(server->log_tail());
    REQUIRE(up);
    watcher = std::make_unique<it::Watcher>(server->port());
  }
  ~Lab() {
    watcher->stop();
    CHECK_MESSAGE(watcher->empty_answers() == 0, "the managed name had an empty answer");
    CHECK_MESSAGE(watcher->fence_decreases() == 0, "the fence generation decreased");
    CHECK(watcher->polls() > 0);
  }
  act::Rfc2136Actuator actuator(std::string observer, std::uint16_t port = 0,
                                std::string_view secret = it::kSecret) {
    return act::Rfc2136Actuator(it::test_target(port ? port : server->port()), it::test_key(secret),
                                std::move(observer));
  }
};

}  // namespace

TEST_SUITE("integration.rfc2136") {
  TEST_CASE("F1: a failover moves the answer from the old set to the new with one UPDATE") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto a = lab.actuator("obs-a");
      auto before = read(lab.io, a);
      REQUIRE_MESSAGE(before.status == ReadStatus::Ok, before.detail);
      CHECK(values(before.state) == std::vector<std::string>{"192.0.2.10"});
      REQUIRE(before.state.fence);
      CHECK(*before.state.fence == act::Fence{1, "init"});
      REQUIRE(before.state.serial);

      auto w = write(lab.io, a, plan(1, {"198.51.100.20", "198.51.100.21"}), before.state);
      CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      auto after = read(lab.io, a);
      REQUIRE(after.status == ReadStatus::Ok);
      CHECK(values(after.state) == std::vector<std::string>{"198.51.100.20", "198.51.100.21"});
      CHECK(after.state.fence == act::Fence{2, "obs-a"});
      CHECK(*after.state.serial > *before.state.serial);
      std::this_thread::sleep_for(100ms);
      auto seen = lab.watcher->answers_seen();
      REQUIRE(!seen.empty());
      CHECK(seen.front() == "192.0.2.10");
      CHECK(seen.back() == "198.51.100.20,198.51.100.21");
      CHECK(seen.size() == 2);  // old -> new, nothing in between
      CHECK(lab.watcher->max_generation() == 2);

      // empty_set / stale_generation locally: nothing is sent for an empty or stale plan.
      CHECK(write(lab.io, a, plan(2, {}), after.state).status == WriteStatus::Invalid);
      CHECK(write(lab.io, a, plan(0, {"192.0.2.1"}), after.state).status == WriteStatus::Invalid);
      CHECK(read(lab.io, a).state == after.state);
    }
  }

  TEST_CASE("A1: a delayed writer's stale CAS fails; nothing regresses") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto delayed = lab.actuator("obs-b");
      auto fresh = lab.actuator("obs-a");
      auto stale_view = read(lab.io, delayed);  // reads g=1, then pauses
      REQUIRE(stale_view.status == ReadStatus::Ok);
      auto g1 = stale_view.state;
      CHECK(write(lab.io, fresh, plan(1, {"198.51.100.20"}), g1).status == WriteStatus::Applied);
      auto g2 = read(lab.io, fresh).state;
      CHECK(write(lab.io, fresh, plan(2, {"203.0.113.30"}), g2).status == WriteStatus::Applied);
      // The delayed writer resumes with its g=1 view and its old plan.
      auto w = write(lab.io, delayed, plan(1, {"192.0.2.99"}), g1);
      CHECK_MESSAGE(w.status == WriteStatus::Conflict, w.detail);
      CHECK(w.rcode == "NXRRSET");
      auto now = read(lab.io, fresh);
      CHECK(values(now.state) == std::vector<std::string>{"203.0.113.30"});
      CHECK(now.state.fence == act::Fence{3, "obs-a"});
      // Even with the right fence but a wrong view of the members, the CAS fails.
      auto wrong = now.state;
      wrong.members = {{"192.0.2.10", 1}};
      CHECK(write(lab.io, delayed, plan(3, {"192.0.2.99"}), wrong).status == WriteStatus::Conflict);
      // And a plan made without any fence ("does not exist") fails too.
      CHECK(write(lab.io, delayed, plan(0, {"192.0.2.99"}), act::LiveState{}).status ==
            WriteStatus::Conflict);
      CHECK(read(lab.io, fresh).state.fence == act::Fence{3, "obs-a"});
    }
  }

  TEST_CASE("A2: the reply is lost after apply; read-back finds our generation, no second write") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      it::DropUpdateReplyProxy proxy(lab.server->port());
      auto a = lab.actuator("obs-a", proxy.port());
      // The raw write through the proxy is Unknown.
      auto start = read(lab.io, a);
      REQUIRE(start.status == ReadStatus::Ok);
      auto raw = write(lab.io, a, plan(1, {"198.51.100.20"}), start.state);
      CHECK_MESSAGE(raw.status == WriteStatus::Unknown, raw.detail);
      CHECK(proxy.updates_forwarded() == 1);

      // Through the reconciler: Unknown -> read-back -> Applied, exactly one UPDATE sent.
      act::Reconciler r(fast_options("obs-a"), 7);
      int writes = 0;
      drive(
          lab.io, r, a, [&] { return r.live().has_value(); }, 5s, &writes);
      r.set_desired(plan(2, {"203.0.113.30"}), core::Clock::now());
      auto ev = drive(
          lab.io, r, a, [&] { return !r.busy(); }, 10s, &writes);
      CHECK(has(ev, Kind::Unknown));
      CHECK(has(ev, Kind::Applied));
      CHECK_FALSE(has(ev, Kind::Retry));
      CHECK(writes == 1);
      CHECK(proxy.updates_forwarded() == 2);
      CHECK(r.live()->fence == act::Fence{3, "obs-a"});
      CHECK(values(*r.live()) == std::vector<std::string>{"203.0.113.30"});
    }
  }

  TEST_CASE("A3: the server is down during a write; backoff, then convergence after restart") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto a = lab.actuator("obs-a");
      act::Reconciler r(fast_options("obs-a"), 11);
      drive(
          lab.io, r, a, [&] { return r.live().has_value(); }, 5s);
      REQUIRE(r.live());
      // The decision is prepared against a fresh read, then the server dies before the write.
      r.set_desired(plan(1, {"198.51.100.20"}), core::Clock::now());
      auto prep = r.poll(core::Clock::now());
      REQUIRE(prep);
      REQUIRE(prep->kind == act::ReconcileAction::Kind::Read);
      r.on_read(read(lab.io, a), core::Clock::now());
      auto wr = r.poll(core::Clock::now());
      REQUIRE(wr);
      REQUIRE(wr->kind == act::ReconcileAction::Kind::Write);
      lab.server->stop();
      auto lost = write(lab.io, a, wr->plan, wr->expected);
      CHECK_MESSAGE(lost.status == WriteStatus::Unknown, lost.detail);
      r.on_write(lost, core::Clock::now());
      int writes = 1;
      auto down = drive(
          lab.io, r, a, [] { return false; }, 1500ms, &writes);
      CHECK(has(down, Kind::Unreachable));
      CHECK(writes == 1);  // unresolved: reads only, no blind re-send
      CHECK(r.busy());
      // Backoff keeps the attempt rate low: far fewer than one per 20 ms poll.
      CHECK(down.size() < 40);
      REQUIRE(lab.server->start());
      auto up = drive(
          lab.io, r, a, [&] { return !r.busy(); }, 15s, &writes);
      CHECK(has(up, Kind::Applied));
      CHECK(r.live()->fence == act::Fence{2, "obs-a"});
      CHECK(values(*r.live()) == std::vector<std::string>{"198.51.100.20"});
      CHECK(writes >= 1);
    }
  }

  TEST_CASE("A4: a wrong TSIG key is refused, alerts once, and retries only after backoff") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto good = lab.actuator("obs-a");
      auto bad = lab.actuator("obs-a", 0, it::kWrongSecret);
      auto start = read(lab.io, good);
      REQUIRE(start.status == ReadStatus::Ok);
      auto w = write(lab.io, bad, plan(1, {"198.51.100.20"}), start.state);
      CHECK_MESSAGE(w.status == WriteStatus::Refused, w.detail);
      auto rr = read(lab.io, bad);
      CHECK_MESSAGE(rr.status == ReadStatus::Refused, rr.detail);

      act::Reconciler r(fast_options("obs-a"), 5);
      drive(
          lab.io, r, good, [&] { return r.live().has_value(); }, 5s);
      r.set_desired(plan(1, {"198.51.100.20"}), core::Clock::now());
      int writes = 0;
      auto ev = drive(
          lab.io, r, bad, [] { return false; }, 1500ms, &writes);
      // Reads are signed with the same key, so the fresh read before the write is refused
      // already: one alert, blocked, nothing sent; tried again only after a backoff (50 ms
      // doubling to 400 ms here, full jitter): far fewer reads in 1.5 s than a loop would make.
      const auto refusals = std::count_if(ev.begin(), ev.end(),
                                          [](const auto& e) { return e.kind == Kind::Refused; });
      CHECK(refusals >= 2);   // it does try again
      CHECK(refusals <= 40);  // but not in a hot loop
      CHECK(std::count_if(ev.begin(), ev.end(), [](const auto& e) { return e.alert; }) == 1);
      CHECK(r.blocked());
      CHECK_FALSE(r.stopped());
      CHECK(writes == 0);
      // The key is right again (a reload): the next read resumes the loop by itself.
      auto back = drive(
          lab.io, r, good, [&] { return !r.blocked(); }, 5s);
      CHECK(has(back, Kind::Resumed));
      // A write refused by the server (read with the good key, write with the bad one) blocks
      // the loop after one attempt and its read-back; reads that work do not end that block.
      act::Reconciler r2(fast_options("obs-a"), 6);
      drive(
          lab.io, r2, good, [&] { return r2.live().has_value(); }, 5s);
      r2.set_desired(plan(1, {"198.51.100.20"}), core::Clock::now());
      auto prep = r2.poll(core::Clock::now());
      REQUIRE(prep);
      r2.on_read(read(lab.io, good), core::Clock::now());
      auto wr = r2.poll(core::Clock::now());
      REQUIRE(wr);
      REQUIRE(wr->kind == act::ReconcileAction::Kind::Write);
      r2.on_write(write(lab.io, bad, wr->plan, wr->expected), core::Clock::now());
      auto ev2 = drive(
          lab.io, r2, good, [] { return false; }, 1500ms, &writes);
      CHECK(has(ev2, Kind::Refused));
      CHECK(r2.blocked());
      CHECK(writes == 0);
      CHECK(read(lab.io, good).state == start.state);  // nothing applied
    }
  }

  TEST_CASE(
      "A5: an RRset emptied by hand freezes the service; restore puts back the last good set") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto a = lab.actuator("obs-a");
      act::Reconciler r(fast_options("obs-a"), 3);
      drive(
          lab.io, r, a, [&] { return r.live().has_value(); }, 5s);
      REQUIRE(r.last_known_good());

      lab.watcher->allow_empty(true);  // the operator's mistake, on purpose
      REQUIRE(it::nsupdate(lab.server->port(), it::kSecret, "update delete www.example.test. A") ==
              0);
      auto ev = drive(
          lab.io, r, a, [&] { return r.frozen(); }, 5s);
      CHECK(has(ev, Kind::Frozen));
      REQUIRE(r.frozen());
      r.set_desired(plan(1, {"198.51.100.20"}), core::Clock::now());
      CHECK(has(r.take_events(), Kind::Rejected));

      r.restore(core::Clock::now());
      ev = drive(
          lab.io, r, a, [&] { return !r.frozen(); }, 10s);
      CHECK(has(ev, Kind::Restored));
      auto now = read(lab.io, a);
      REQUIRE(now.status == ReadStatus::Ok);
      CHECK(values(now.state) == std::vector<std::string>{"192.0.2.10"});
      CHECK(now.state.fence == (act::Fence{2, "obs-a", core::Trigger::Restore}));
      std::this_thread::sleep_for(100ms);
      lab.watcher->allow_empty(false);
      std::this_thread::sleep_for(100ms);
    }
  }

  TEST_CASE("A5: a deleted fence freezes the service too") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto a = lab.actuator("obs-a");
      act::Reconciler r(fast_options("obs-a"), 4);
      drive(
          lab.io, r, a, [&] { return r.live().has_value(); }, 5s);
      REQUIRE(it::nsupdate(lab.server->port(), it::kSecret,
                           "update delete _failoverd.www.example.test. TXT") == 0);
      auto ev = drive(
          lab.io, r, a, [&] { return r.frozen(); }, 5s);
      CHECK(has(ev, Kind::Frozen));
      r.restore(core::Clock::now());
      ev = drive(
          lab.io, r, a, [&] { return !r.frozen(); }, 10s);
      CHECK(has(ev, Kind::Restored));
      CHECK(read(lab.io, a).state.fence == (act::Fence{2, "obs-a", core::Trigger::Restore}));
    }
  }

  TEST_CASE("hmac-sha1 and hmac-sha512 keys sign and verify against the real servers") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      core::Generation gen = 1;
      for (const auto& [key_name, alg] :
           std::vector<std::pair<std::string, failoverd::actuate::tsig::Algorithm>>{
               {"failoverd-sha1.", failoverd::actuate::tsig::Algorithm::HmacSha1},
               {"failoverd-sha512.", failoverd::actuate::tsig::Algorithm::HmacSha512}}) {
        CAPTURE(key_name);
        act::Rfc2136Actuator a(it::test_target(lab.server->port()),
                               it::test_key(it::kSecret, key_name, alg), "obs-a");
        auto r = read(lab.io, a);
        REQUIRE_MESSAGE(r.status == ReadStatus::Ok, r.detail);
        auto w = write(lab.io, a, plan(gen, {"198.51.100." + std::to_string(gen)}), r.state);
        CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
        ++gen;
        CHECK(read(lab.io, a).state.fence == act::Fence{gen, "obs-a"});
      }
    }
  }

  TEST_CASE("a new AAAA name with no RRset and no fence is created by a does-not-exist CAS") {
    for (const auto& [name, factory] : kServers) {
      CAPTURE(name);
      Lab lab(factory);
      auto target = it::test_target(lab.server->port());
      target.name = "v6.example.test.";
      target.type = "AAAA";
      act::Rfc2136Actuator a(target, it::test_key(), "obs-a");
      act::Rfc2136Actuator other(target, it::test_key(), "obs-b");
      auto r = read(lab.io, a);
      REQUIRE_MESSAGE(r.status == ReadStatus::Ok, r.detail);
      CHECK(r.state.members.empty());
      CHECK_FALSE(r.state.fence);
      auto w = write(lab.io, a, plan(0, {"2001:DB8::1", "2001:db8::2"}), r.state);
      CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      // A second writer with the same empty view loses.
      auto lost = write(lab.io, other, plan(0, {"2001:db8::99"}), r.state);
      CHECK(lost.status == WriteStatus::Conflict);
      CHECK(lost.rcode == "YXRRSET");
      auto after = read(lab.io, a);
      CHECK(values(after.state) == std::vector<std::string>{"2001:db8::1", "2001:db8::2"});
      CHECK(after.state.fence == act::Fence{1, "obs-a"});
      CHECK(after.state.serial.has_value());
    }
  }

  TEST_CASE("rcodes real servers will not produce on demand map as specified") {
    struct Case {
      std::uint16_t rcode;
      it::FakeDnsServer::Sign sign;
      WriteStatus want;
    };
    using S = it::FakeDnsServer::Sign;
    const std::vector<Case> cases{
        {dns::rcode::kNoError, S::Valid, WriteStatus::Applied},
        {dns::rcode::kRefused, S::Valid, WriteStatus::Refused},
        {dns::rcode::kNotAuth, S::Valid, WriteStatus::Refused},
        {dns::rcode::kNotZone, S::Valid, WriteStatus::Refused},
        {dns::rcode::kServFail, S::Valid, WriteStatus::Unknown},
        {dns::rcode::kFormErr, S::Valid, WriteStatus::Invalid},
        {dns::rcode::kNxRrset, S::Valid, WriteStatus::Conflict},
        {dns::rcode::kYxRrset, S::Valid, WriteStatus::Conflict},
        {dns::rcode::kNoError, S::Unsigned, WriteStatus::Refused},
        {dns::rcode::kNoError, S::BadMac, WriteStatus::Refused},
        {dns::rcode::kNotAuth, S::BadKeyError, WriteStatus::Refused},
        {dns::rcode::kNoError, S::NoReply, WriteStatus::Unknown},
    };
    boost::asio::io_context io;
    for (const auto& c : cases) {
      CAPTURE(dns::rcode_name(c.rcode));
      CAPTURE(static_cast<int>(c.sign));
      it::FakeDnsServer fake(it::test_key(), c.rcode, c.sign);
      act::Rfc2136Actuator a(it::test_target(fake.port()), it::test_key(), "obs-a");
      act::LiveState expected;
      expected.members = {{"192.0.2.10", 1}};
      expected.fence = act::Fence{1, "init"};
      auto w = write(io, a, plan(1, {"198.51.100.20"}), expected);
      CHECK_MESSAGE(w.status == c.want, w.detail);
      CHECK(fake.requests() == 1);  // exactly one UPDATE, never a retry
    }
    // Reads: SERVFAIL is unreachable (retry later), REFUSED and bad signatures are refused.
    for (const auto& [rc, sign, want] :
         std::vector<std::tuple<std::uint16_t, it::FakeDnsServer::Sign, ReadStatus>>{
             {dns::rcode::kServFail, S::Valid, ReadStatus::Unreachable},
             {dns::rcode::kRefused, S::Valid, ReadStatus::Refused},
             {dns::rcode::kNoError, S::Unsigned, ReadStatus::Refused},
             {dns::rcode::kNoError, S::BadMac, ReadStatus::Refused},
             {dns::rcode::kNoError, S::NoReply, ReadStatus::Unreachable}}) {
      it::FakeDnsServer fake(it::test_key(), rc, sign);
      act::Rfc2136Actuator a(it::test_target(fake.port()), it::test_key(), "obs-a");
      auto r = read(io, a);
      CHECK_MESSAGE(r.status == want, r.detail);
    }
    // Nothing listening at all.
    act::Rfc2136Actuator nobody(it::test_target(it::free_port()), it::test_key(), "obs-a");
    auto w = write(io, nobody, plan(1, {"198.51.100.20"}), act::LiveState{});
    CHECK(w.status == WriteStatus::Unknown);
    CHECK(read(io, nobody).status == ReadStatus::Unreachable);
  }
}
