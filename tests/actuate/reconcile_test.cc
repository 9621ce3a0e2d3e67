#include "actuate/reconcile.h"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace act = failoverd::actuate;
namespace core = failoverd::core;
using act::Fence;
using act::LiveMember;
using act::LiveState;
using act::ReadResult;
using act::ReadStatus;
using act::ReconcileAction;
using Kind = act::ReconcileEvent::Kind;
using act::WriteResult;
using act::WriteStatus;

namespace {

constexpr core::TimePoint kT0{std::chrono::seconds(1000)};

LiveState state(std::vector<std::string> values, std::optional<Fence> fence) {
  LiveState s;
  for (auto& v : values) s.members.push_back(LiveMember{v, 1});
  s.fence = std::move(fence);
  s.serial = 1;
  return s;
}

ReadResult ok(LiveState s) {
  return ReadResult{ReadStatus::Ok, std::move(s), ""};
}

core::Plan plan(core::Generation base, std::vector<std::string> values) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = base;
  p.generation = base + 1;
  for (auto& v : values) p.members.push_back({core::RegionId("r"), v, 1});
  p.reason = "test";
  return p;
}

act::ReconcileOptions options() {
  act::ReconcileOptions o;
  o.service = core::ServiceId("www");
  o.self = core::ObserverId("obs-a");
  o.interval = std::chrono::seconds(30);
  o.retry = core::BackoffPolicy{std::chrono::milliseconds(200), std::chrono::seconds(30)};
  return o;
}

bool has(const std::vector<act::ReconcileEvent>& events, Kind k) {
  for (const auto& e : events) {
    if (e.kind == k) return true;
  }
  return false;
}

// Starts a reconciler that has read a healthy state {old} at generation 5 (by obs-b).
act::Reconciler started(act::ReconcileOptions o = options()) {
  act::Reconciler r(o, 42);
  auto a = r.poll(kT0);
  REQUIRE(a);
  REQUIRE(a->kind == ReconcileAction::Kind::Read);
  r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
  r.take_events();
  return r;
}

// Feeds the new plan, answers its fresh read with `live` and returns the write action.
ReconcileAction write_of_live(act::Reconciler& r, core::Plan p, LiveState live,
                              core::TimePoint now) {
  r.set_desired(std::move(p), now);
  auto read = r.poll(now);
  REQUIRE(read);
  REQUIRE(read->kind == ReconcileAction::Kind::Read);
  r.on_read(ok(std::move(live)), now);
  auto w = r.poll(now);
  REQUIRE(w);
  REQUIRE(w->kind == ReconcileAction::Kind::Write);
  return *w;
}

// Feeds the new plan, reads the state started() saw and returns the write action.
ReconcileAction write_of(act::Reconciler& r, core::Plan p, core::TimePoint now = kT0) {
  return write_of_live(r, std::move(p), state({"192.0.2.10"}, Fence{5, "obs-b"}), now);
}

}  // namespace

TEST_SUITE("actuate.dns.reconcile") {
  TEST_CASE("a plan is written by CAS against the fresh read, then read back") {
    auto r = started();
    auto w = write_of(r, plan(5, {"198.51.100.20"}));
    CHECK(w.plan.generation == 6);
    CHECK(w.expected == state({"192.0.2.10"}, Fence{5, "obs-b"}));
    CHECK_FALSE(r.poll(kT0));  // in flight
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, kT0);
    auto rb = r.poll(kT0);
    REQUIRE(rb);
    CHECK(rb->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), kT0);
    CHECK(has(r.take_events(), Kind::Applied));
    CHECK_FALSE(r.busy());
    CHECK(r.next_due() == kT0 + std::chrono::seconds(30));
  }

  TEST_CASE("A2: the reply was lost but the server applied it: no second write") {
    auto r = started();
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Unknown, "read: timeout", ""}, kT0);
    CHECK(has(r.take_events(), Kind::Unknown));
    auto rb = r.poll(kT0);
    REQUIRE(rb);
    REQUIRE(rb->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), kT0);
    CHECK(has(r.take_events(), Kind::Applied));
    // Next is only the periodic check.
    auto next = r.poll(kT0 + std::chrono::seconds(30));
    REQUIRE(next);
    CHECK(next->kind == ReconcileAction::Kind::Read);
  }

  TEST_CASE("A3: server down during the write: backoff with jitter, same CAS, converges") {
    auto r = started();
    auto w = write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Unknown, "connect: refused", ""}, kT0);
    auto now = kT0;
    // The read-back fails a few times: reads back off, never a write.
    for (int i = 0; i < 5; ++i) {
      auto a = r.poll(now);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);
      r.on_read(ReadResult{ReadStatus::Unreachable, {}, "connect: refused"}, now);
      CHECK(r.next_due() >= now);
      CHECK(r.next_due() <= now + std::chrono::seconds(30));
      now = r.next_due();
    }
    auto ev = r.take_events();
    CHECK(has(ev, Kind::Unreachable));
    // Back: the old state is still there, so the same CAS is retried after a backoff.
    auto a = r.poll(now);
    REQUIRE(a);
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), now);
    CHECK(has(r.take_events(), Kind::Retry));
    CHECK_FALSE(r.poll(now - std::chrono::milliseconds(1)));
    now = r.next_due();
    auto again = r.poll(now);
    REQUIRE(again);
    REQUIRE(again->kind == ReconcileAction::Kind::Write);
    CHECK(again->plan.generation == w.plan.generation);
    CHECK(again->expected == w.expected);
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, now);
    r.poll(now);
    r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), now);
    CHECK(has(r.take_events(), Kind::Applied));
  }

  TEST_CASE("backoff delays are jittered and capped") {
    auto r = started();
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Unknown, "", ""}, kT0);
    auto now = kT0;
    std::vector<core::Duration> delays;
    for (int i = 0; i < 20; ++i) {
      REQUIRE(r.poll(now));
      r.on_read(ReadResult{ReadStatus::Unreachable, {}, ""}, now);
      delays.push_back(r.next_due() - now);
      now = r.next_due();
    }
    for (auto d : delays) CHECK(d <= std::chrono::seconds(30));
    CHECK(std::adjacent_find(delays.begin(), delays.end()) == delays.end());  // jittered
  }

  TEST_CASE("A1: the fence moved while we held an old view: conflict, plan dropped") {
    auto r = started();
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Conflict, "NXRRSET", "NXRRSET"}, kT0);
    REQUIRE(r.poll(kT0));
    r.on_read(ok(state({"203.0.113.30"}, Fence{7, "obs-c"})), kT0);
    auto ev = r.take_events();
    CHECK(has(ev, Kind::Conflict));
    CHECK(has(ev, Kind::Adopted));
    CHECK_FALSE(r.busy());
    // Nothing is written until the policy decides again.
    auto next = r.poll(kT0 + std::chrono::seconds(30));
    REQUIRE(next);
    CHECK(next->kind == ReconcileAction::Kind::Read);
  }

  TEST_CASE("a plan made against an older generation is not written") {
    auto r = started();
    r.set_desired(plan(3, {"198.51.100.20"}), kT0);
    REQUIRE(r.poll(kT0));
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
    CHECK(has(r.take_events(), Kind::Conflict));
    auto next = r.poll(kT0);
    CHECK_FALSE(next);
  }

  TEST_CASE("A4: a refused write stops the loop with an alert until resume") {
    auto r = started();
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Refused, "TSIG BADKEY", "NOTAUTH"}, kT0);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Refused));
    CHECK(ev.front().alert);
    REQUIRE(r.poll(kT0));  // one read-back
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
    CHECK(r.stopped());
    CHECK_FALSE(r.poll(kT0 + std::chrono::hours(24)));
    CHECK(r.next_due() == core::TimePoint::max());
    r.set_desired(plan(5, {"198.51.100.20"}), kT0);
    CHECK(has(r.take_events(), Kind::Rejected));
    r.resume(kT0 + std::chrono::minutes(1));
    CHECK(r.poll(kT0 + std::chrono::minutes(1)));
  }

  TEST_CASE("A4: a refused read stops too") {
    act::Reconciler r(options(), 1);
    REQUIRE(r.poll(kT0));
    r.on_read(ReadResult{ReadStatus::Refused, {}, "TSIG BADSIG"}, kT0);
    CHECK(r.stopped());
    CHECK(has(r.take_events(), Kind::Refused));
  }

  TEST_CASE("an invalid write stops the loop") {
    auto r = started();
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Invalid, "FORMERR", "FORMERR"}, kT0);
    CHECK(r.stopped());
    CHECK(has(r.take_events(), Kind::Invalid));
  }

  TEST_CASE("A5: an emptied RRset freezes; restore writes the last known good by CAS") {
    auto r = started();
    auto t1 = kT0 + std::chrono::seconds(30);
    REQUIRE(r.poll(t1));
    r.on_read(ok(state({}, Fence{5, "obs-b"})), t1);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Frozen));
    CHECK(r.frozen());
    // Frozen: plans are rejected, reads continue.
    r.set_desired(plan(5, {"198.51.100.20"}), t1);
    CHECK(has(r.take_events(), Kind::Rejected));
    auto t2 = t1 + std::chrono::seconds(30);
    auto a = r.poll(t2);
    REQUIRE(a);
    CHECK(a->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({}, Fence{5, "obs-b"})), t2);
    CHECK_FALSE(has(r.take_events(), Kind::Frozen));  // alerted once
    // Restore.
    r.restore(t2);
    a = r.poll(t2);
    REQUIRE(a);
    REQUIRE(a->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({}, Fence{5, "obs-b"})), t2);
    a = r.poll(t2);
    REQUIRE(a);
    REQUIRE(a->kind == ReconcileAction::Kind::Write);
    CHECK(a->plan.trigger == core::Trigger::Restore);
    CHECK(a->plan.service == core::ServiceId("www"));
    CHECK(a->plan.generation == 6);
    CHECK(a->expected == state({}, Fence{5, "obs-b"}));
    CHECK(a->plan.members.size() == 1);
    CHECK(a->plan.members[0].value == "192.0.2.10");
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t2);
    REQUIRE(r.poll(t2));
    r.on_read(ok(state({"192.0.2.10"}, Fence{6, "obs-a"})), t2);
    ev = r.take_events();
    CHECK(has(ev, Kind::Restored));
    CHECK_FALSE(r.frozen());
  }

  TEST_CASE("a missing fence, a corrupt fence and a generation from the future freeze") {
    auto r = started();
    auto t1 = kT0 + std::chrono::seconds(30);
    SUBCASE("missing fence") {
      REQUIRE(r.poll(t1));
      r.on_read(ok(state({"192.0.2.10"}, std::nullopt)), t1);
    }
    SUBCASE("corrupt fence") {
      REQUIRE(r.poll(t1));
      r.on_read(ReadResult{ReadStatus::Error, {}, "corrupt fence"}, t1);
    }
    SUBCASE("a jump far beyond anything seen") {
      REQUIRE(r.poll(t1));
      r.on_read(ok(state({"192.0.2.10"}, Fence{5 + 5000, "obs-b"})), t1);
    }
    SUBCASE("our own id with a generation we never wrote") {
      write_of(r, plan(5, {"198.51.100.20"}));
      r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, kT0);
      REQUIRE(r.poll(kT0));
      r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), kT0);
      r.take_events();
      REQUIRE(r.poll(t1));
      r.on_read(ok(state({"198.51.100.20"}, Fence{9, "obs-a"})), t1);
    }
    CHECK(r.frozen());
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Frozen));
    for (const auto& e : ev) {
      if (e.kind == Kind::Frozen) CHECK(e.alert);
    }
  }

  TEST_CASE("drift behind the fence is repaired by CAS, or only reported") {
    auto o = options();
    SUBCASE("repair") {
      auto r = started(o);
      auto t1 = kT0 + std::chrono::seconds(30);
      REQUIRE(r.poll(t1));
      r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t1);
      CHECK(has(r.take_events(), Kind::Drift));
      auto a = r.poll(t1);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Write);
      CHECK(a->plan.generation == 6);
      CHECK(a->plan.members[0].value == "192.0.2.10");
      CHECK(a->expected == state({"192.0.2.99"}, Fence{5, "obs-b"}));
    }
    SUBCASE("report") {
      o.drift = failoverd::config::DriftAction::Report;
      auto r = started(o);
      auto t1 = kT0 + std::chrono::seconds(30);
      REQUIRE(r.poll(t1));
      r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t1);
      CHECK(has(r.take_events(), Kind::Drift));
      auto a = r.poll(t1);
      CHECK_FALSE(a);
      auto t2 = t1 + std::chrono::seconds(30);
      REQUIRE(r.poll(t2));
      r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t2);
      CHECK_FALSE(has(r.take_events(), Kind::Drift));  // reported once
    }
  }

  TEST_CASE("NOERROR with no change is an unknown outcome: alert, retry the same CAS later") {
    auto r = started();
    auto w = write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, kT0);
    REQUIRE(r.poll(kT0));
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Retry));
    CHECK(ev.back().alert);
    CHECK_FALSE(has(ev, Kind::Applied));
    auto again = r.poll(r.next_due());
    REQUIRE(again);
    CHECK(again->kind == ReconcileAction::Kind::Write);
    CHECK(again->expected == w.expected);
  }

  TEST_CASE("drift does not become the last known good set") {
    auto r = started();
    auto t1 = kT0 + std::chrono::seconds(30);
    REQUIRE(r.poll(t1));
    r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t1);
    REQUIRE(r.last_known_good());
    CHECK(r.last_known_good()->front().value == "192.0.2.10");
  }

  TEST_CASE("reconcile_step performs the due operation with the actuator and feeds it back") {
    // A hand-written fake target: holds a state and applies CAS writes.
    class FakeTarget final : public act::Actuator {
     public:
      LiveState held = state({"192.0.2.10"}, Fence{5, "obs-b"});
      int reads = 0;
      int writes = 0;
      std::string_view kind() const override { return "fake"; }
      boost::asio::awaitable<ReadResult> read() override {
        ++reads;
        co_return ok(held);
      }
      boost::asio::awaitable<WriteResult> write(const core::Plan& p,
                                                const LiveState& expected) override {
        ++writes;
        if (!(expected == held)) co_return WriteResult{WriteStatus::Conflict, "NXRRSET", "NXRRSET"};
        held.members.clear();
        for (const auto& m : p.members) held.members.push_back(LiveMember{m.value, 1});
        held.fence = Fence{p.generation, "obs-a"};
        co_return WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"};
      }
    };
    FakeTarget target;
    act::Reconciler r(options(), 9);
    boost::asio::io_context io;
    auto step = [&] {
      auto f = boost::asio::co_spawn(io, act::reconcile_step(r, target), boost::asio::use_future);
      io.restart();
      io.run();
      return f.get();
    };
    CHECK(step());        // first read
    CHECK_FALSE(step());  // nothing due until the interval
    r.set_desired(plan(5, {"198.51.100.20"}), core::Clock::now());
    for (int i = 0; i < 10 && r.busy(); ++i) step();
    CHECK_FALSE(r.busy());
    CHECK(target.writes == 1);
    CHECK(target.reads == 3);  // first look, fresh read before the write, read-back
    CHECK(target.held.fence == Fence{6, "obs-a"});
    CHECK(has(r.take_events(), Kind::Applied));
  }

  TEST_CASE("A5: another observer's restore is adopted: the freeze ends without a second write") {
    auto r = started();
    auto t = kT0 + std::chrono::seconds(30);
    auto read_at = [&](LiveState s) {
      auto a = r.poll(t);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);
      r.on_read(ok(std::move(s)), t);
      t += std::chrono::seconds(30);
      return r.take_events();
    };
    SUBCASE("the RRset emptied, then restored by obs-c at a higher generation") {
      REQUIRE(has(read_at(state({}, Fence{5, "obs-b"})), Kind::Frozen));
      // Members put back by hand under the same fence: not a restore, still frozen.
      CHECK_FALSE(has(read_at(state({"192.0.2.10"}, Fence{5, "obs-b"})), Kind::Restored));
      CHECK(r.frozen());
      auto ev = read_at(state({"192.0.2.10"}, Fence{6, "obs-c"}));
      REQUIRE(has(ev, Kind::Restored));
      for (const auto& e : ev) {
        if (e.kind == Kind::Restored) CHECK(e.alert);
      }
      CHECK_FALSE(r.frozen());
      // Adopted as the new baseline: a plan against generation 6 is written by CAS.
      auto w =
          write_of_live(r, plan(6, {"198.51.100.20"}), state({"192.0.2.10"}, Fence{6, "obs-c"}), t);
      CHECK(w.expected.fence == Fence{6, "obs-c"});
    }
    SUBCASE("emptied and the fence raised by the same hand edit: that generation is no repair") {
      REQUIRE(has(read_at(state({}, Fence{7, "obs-b"})), Kind::Frozen));
      CHECK_FALSE(has(read_at(state({"192.0.2.10"}, Fence{7, "obs-b"})), Kind::Restored));
      CHECK(r.frozen());
      CHECK(has(read_at(state({"192.0.2.10"}, Fence{8, "obs-c"})), Kind::Restored));
      CHECK_FALSE(r.frozen());
    }
    SUBCASE("a deleted fence, then restored by obs-c") {
      REQUIRE(has(read_at(state({"192.0.2.10"}, std::nullopt)), Kind::Frozen));
      CHECK(has(read_at(state({"192.0.2.10"}, Fence{6, "obs-c"})), Kind::Restored));
      CHECK_FALSE(r.frozen());
    }
  }

  TEST_CASE("A5: a restore that arrives while a read or write is out is not dropped") {
    // The admin API answers "restore started"; the reconciler must then really restore.
    auto r = started();
    auto t1 = kT0 + std::chrono::seconds(30);
    REQUIRE(r.poll(t1));
    r.on_read(ok(state({"192.0.2.10"}, std::nullopt)), t1);  // the fence deleted by hand
    REQUIRE(has(r.take_events(), Kind::Frozen));
    auto t2 = t1 + std::chrono::seconds(30);
    SUBCASE("a periodic read in flight: its answer serves the restore") {
      auto a = r.poll(t2);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);
      r.restore(t2);  // while that read is out
      CHECK_FALSE(has(r.take_events(), Kind::Rejected));
      r.on_read(ok(state({"192.0.2.10"}, std::nullopt)), t2);
      a = r.poll(t2);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Write);
      CHECK(a->plan.trigger == core::Trigger::Restore);
      CHECK(a->plan.generation == 6);
      r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t2);
      REQUIRE(r.poll(t2));
      r.on_read(ok(state({"192.0.2.10"}, Fence{6, "obs-a"})), t2);
      CHECK(has(r.take_events(), Kind::Restored));
      CHECK_FALSE(r.frozen());
    }
    SUBCASE("a write being verified: the restore starts once it is resolved") {
      // Not frozen this time: a plan's write is out when the operator restores.
      auto r2 = started();
      auto w = write_of_live(r2, plan(5, {"198.51.100.20"}), state({"192.0.2.10"}, Fence{5, "obs-b"}),
                             t2);
      REQUIRE(w.kind == ReconcileAction::Kind::Write);
      r2.restore(t2);  // the write is in flight
      r2.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t2);
      auto a = r2.poll(t2);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);  // the read-back
      r2.restore(t2);  // and again while the read-back is out
      r2.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), t2);
      CHECK(has(r2.take_events(), Kind::Applied));
      a = r2.poll(t2);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);  // the restore's fresh read
      r2.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), t2);
      a = r2.poll(t2);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Write);
      CHECK(a->plan.trigger == core::Trigger::Restore);
      CHECK(a->plan.generation == 7);
    }
  }

  TEST_CASE("restore without a known good set is rejected with an alert") {
    act::Reconciler r(options(), 3);
    r.restore(kT0);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Rejected));
  }
}
