#include "actuate/reconcile.h"

#include <doctest/doctest.h>


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
  p.decided_at = kT0;
  return p;
}

act::ReconcileOptions options() {
  act::ReconcileOptions o;
  o.service = core::ServiceId("www");
  o.self = core::ObserverId("obs-a");
  o.interval = std::chrono::seconds(30);
  o.retry = core::BackoffPolicy{std::chrono::milliseconds(200), std::chrono::seconds(30)};
  o.max_decision_age = std::chrono::hours(1);  // the guards have their own tests below
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

  TEST_CASE("a read that got part of its answers is retried at once, without backoff") {
    // A slow server (replies arriving, deadline too short): reading again at once with the
    // actuator's longer deadline; backing off would delay a failover by up to retry.cap.
    auto r = started();
    r.set_desired(plan(5, {"198.51.100.20"}), kT0);
    auto now = kT0;
    for (int i = 0; i < 6; ++i) {
      auto a = r.poll(now);
      REQUIRE(a);
      REQUIRE(a->kind == ReconcileAction::Kind::Read);
      ReadResult slow{ReadStatus::Unreachable, {}, "timeout with 2 of 3 answers"};
      slow.answered = true;
      r.on_read(slow, now);
      CHECK(r.next_due() == now);
      now += std::chrono::seconds(2);  // each such read takes its deadline
    }
    auto ev = r.take_events();
    CHECK(has(ev, Kind::Unreachable));
    for (const auto& e : ev) CHECK_FALSE(e.alert);
    // The plan is still pending: the next full answer leads to its write.
    auto a = r.poll(now);
    REQUIRE(a);
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), now);
    auto w = r.poll(now);
    REQUIRE(w);
    CHECK(w->kind == ReconcileAction::Kind::Write);
    CHECK(w->plan.generation == 6);
  }

  TEST_CASE("slow reads do not count as failed attempts: a later outage starts its backoff afresh") {
    auto r = started();
    r.set_desired(plan(5, {"198.51.100.20"}), kT0);
    auto now = kT0;
    for (int i = 0; i < 6; ++i) {
      REQUIRE(r.poll(now));
      ReadResult slow{ReadStatus::Unreachable, {}, "timeout with 1 of 3 answers"};
      slow.answered = true;
      r.on_read(slow, now);
    }
    r.take_events();
    // The first real failure after them is attempt 0: no alert (alerts start at attempt 3), and
    // its delay is within the first backoff step.
    REQUIRE(r.poll(now));
    r.on_read(ReadResult{ReadStatus::Unreachable, {}, "connect: refused"}, now);
    auto ev = r.take_events();
    REQUIRE(ev.size() == 1);
    CHECK_FALSE(ev[0].alert);
    CHECK(r.next_due() <= now + std::chrono::milliseconds(200));
  }

  TEST_CASE("a plan that wants a fresh read is not served by a read already in flight") {
    // A deferred writer (core/writer.h) must see what the writer before it did: the read that
    // went out before its plan came may predate that write.
    auto r = started();
    const auto later = kT0 + std::chrono::seconds(30);
    auto inflight = r.poll(later);  // the periodic read, sent before the plan
    REQUIRE(inflight);
    REQUIRE(inflight->kind == ReconcileAction::Kind::Read);
    r.set_desired(plan(5, {"198.51.100.20"}), later, /*fresh_read=*/true);
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), later);
    auto next = r.poll(later);
    REQUIRE(next);
    CHECK(next->kind == ReconcileAction::Kind::Read);  // not the write: a read sent now
    // That read finds the writer before us done: the plan is not written.
    r.on_read(ok(state({"203.0.113.30"}, Fence{6, "obs-a"})), later);
    CHECK(has(r.take_events(), Kind::Conflict));
    auto after = r.poll(later);
    CHECK_FALSE((after && after->kind == ReconcileAction::Kind::Write));
  }

  TEST_CASE("without fresh_read the read in flight serves the plan") {
    auto r = started();
    const auto later = kT0 + std::chrono::seconds(30);
    REQUIRE(r.poll(later));
    r.set_desired(plan(5, {"198.51.100.20"}), later);
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), later);
    auto next = r.poll(later);
    REQUIRE(next);
    CHECK(next->kind == ReconcileAction::Kind::Write);
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

  // The events of one kind among `events`.
  std::vector<act::ReconcileEvent> of(const std::vector<act::ReconcileEvent>& events, Kind k) {
    std::vector<act::ReconcileEvent> out;
    for (const auto& e : events) {
      if (e.kind == k) out.push_back(e);
    }
    return out;
  }

  TEST_CASE("A4: a refused write blocks with one alert, is retried after backoff, resumes") {
    auto o = options();
    o.write_budget = 100;  // the write budget would freeze it after 10 (see below)
    auto r = started(o);
    write_of(r, plan(5, {"198.51.100.20"}));
    r.on_write(WriteResult{WriteStatus::Refused, "TSIG BADKEY", "NOTAUTH"}, kT0);
    REQUIRE(r.poll(kT0));  // one read-back
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
    auto refused = of(r.take_events(), Kind::Refused);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].alert);
    CHECK(refused[0].detail.find("TSIG BADKEY") != std::string::npos);
    REQUIRE(r.blocked());
    CHECK(*r.blocked() == "TSIG BADKEY");
    CHECK_FALSE(r.stopped());
    CHECK_FALSE(r.busy());  // the plan was dropped: the policy re-decides
    // Refused again and again: the backoff grows to its cap (30 s), no second alert.
    auto t = kT0;
    core::Duration last{};
    for (int i = 0; i < 12; ++i) {
      const auto due = r.next_due();
      REQUIRE(due != core::TimePoint::max());
      CHECK(due - t <= std::chrono::seconds(30));
      last = due - t;
      t = due;
      CHECK_FALSE(r.poll(t - std::chrono::milliseconds(1)));  // nothing before the backoff
      // The policy plans again meanwhile: it waits for the backoff's read.
      r.set_desired(plan(5, {"198.51.100.20"}), t - std::chrono::milliseconds(1));
      CHECK(r.next_due() == t);
      auto read = r.poll(t);
      REQUIRE(read);
      REQUIRE(read->kind == ReconcileAction::Kind::Read);
      r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t);
      CHECK(r.blocked());  // reads work; only a write that is applied ends a refused write
      auto w = r.poll(t);
      REQUIRE(w);
      REQUIRE(w->kind == ReconcileAction::Kind::Write);
      r.on_write(WriteResult{WriteStatus::Refused, "TSIG BADKEY", "NOTAUTH"}, t);
      REQUIRE(r.poll(t));
      r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t);
      for (const auto& e : of(r.take_events(), Kind::Refused)) CHECK_FALSE(e.alert);
    }
    CHECK(last > std::chrono::seconds(1));  // backed off, not a hot loop
    // The key is fixed: the next write is applied and the block ends by itself.
    t = r.next_due();
    r.set_desired(plan(5, {"198.51.100.20"}), t);
    REQUIRE(r.poll(t));
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t);
    auto w = r.poll(t);
    REQUIRE(w);
    REQUIRE(w->kind == ReconcileAction::Kind::Write);
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t);
    REQUIRE(r.poll(t));
    r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), t);
    auto ev = r.take_events();
    CHECK(has(ev, Kind::Applied));
    CHECK(has(ev, Kind::Resumed));
    CHECK_FALSE(r.blocked());
  }

  TEST_CASE("A4: a refused read (a clock off: BADTIME) blocks, retries, and resumes on its own") {
    act::Reconciler r(options(), 1);
    REQUIRE(r.poll(kT0));
    r.on_read(ReadResult{ReadStatus::Refused, {}, "SOA lab.test.: TSIG BADTIME"}, kT0);
    CHECK_FALSE(r.stopped());
    REQUIRE(r.blocked());
    auto refused = of(r.take_events(), Kind::Refused);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].alert);
    auto t = kT0;
    for (int i = 0; i < 10; ++i) {
      t = r.next_due();
      REQUIRE(r.poll(t));
      r.on_read(ReadResult{ReadStatus::Refused, {}, "SOA lab.test.: TSIG BADTIME"}, t);
      for (const auto& e : of(r.take_events(), Kind::Refused)) CHECK_FALSE(e.alert);
    }
    CHECK(r.next_due() - t <= std::chrono::seconds(30));
    // Another cause is news: alerted once more.
    t = r.next_due();
    REQUIRE(r.poll(t));
    r.on_read(ReadResult{ReadStatus::Refused, {}, "SOA lab.test.: TSIG BADKEY"}, t);
    refused = of(r.take_events(), Kind::Refused);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].alert);
    // The clock is put right: the next read succeeds, the loop resumes, no restart.
    t = r.next_due();
    REQUIRE(r.poll(t));
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t);
    CHECK(has(r.take_events(), Kind::Resumed));
    CHECK_FALSE(r.blocked());
    CHECK(r.next_due() == t + std::chrono::seconds(30));  // the regular interval again
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

  TEST_CASE("the plan guards are checked at sending: a plan grown too old is never written") {
    auto o = options();
    o.max_decision_age = std::chrono::seconds(10);
    auto r = started(o);
    // The fresh read comes back 11 s after the decision (a slow target, a deferred writer).
    r.set_desired(plan(5, {"198.51.100.20"}), kT0);
    auto read = r.poll(kT0);
    REQUIRE(read);
    REQUIRE(read->kind == ReconcileAction::Kind::Read);
    const auto late = kT0 + std::chrono::seconds(11);
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), late);
    auto next = r.poll(late);
    REQUIRE(next);
    CHECK(next->kind == ReconcileAction::Kind::Read);  // not the write
    auto events = r.take_events();
    REQUIRE(has(events, Kind::Rejected));
    for (const auto& e : events) {
      if (e.kind == Kind::Rejected) CHECK(e.rule == core::Rule::DecisionTooOld);
    }
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), late);
    CHECK_FALSE(r.busy());  // dropped, not retried: the policy decides again
  }

  TEST_CASE("the plan guards at sending: below min_targets and a stale generation are refused") {
    auto o = options();
    o.min_targets = 2;
    auto r = started(o);
    auto send = [&](core::Plan p) {
      r.set_desired(std::move(p), kT0);
      auto read = r.poll(kT0);
      REQUIRE(read);
      r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
      auto next = r.poll(kT0);
      REQUIRE(next);
      CHECK(next->kind == ReconcileAction::Kind::Read);  // not the write
      r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), kT0);
      std::optional<core::Rule> rule;
      for (const auto& e : r.take_events()) {
        if (e.kind == Kind::Rejected) rule = e.rule;
      }
      return rule;
    };
    CHECK(send(plan(5, {"198.51.100.20"})) == core::Rule::BelowMinTargets);
    auto stale = plan(5, {"198.51.100.20", "198.51.100.21"});
    stale.generation = 5;  // not above the live generation
    CHECK(send(stale) == core::Rule::StaleGeneration);
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

  // One reconcile_interval of a fight with a hand edit: the periodic read finds other members
  // under the fence; returns whether a repair write was sent (and answers it as applied).
  bool drift_round(act::Reconciler& r, core::TimePoint t, core::Generation& gen) {
    auto a = r.poll(t);
    REQUIRE(a);
    REQUIRE(a->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({"192.0.2.99"}, Fence{gen, gen == 5 ? "obs-b" : "obs-a"})), t);
    auto w = r.poll(t);
    if (!w) return false;
    REQUIRE(w->kind == ReconcileAction::Kind::Write);
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t);
    REQUIRE(r.poll(t));
    gen = w->plan.generation;
    r.on_read(ok(state({"192.0.2.10"}, Fence{gen, "obs-a"})), t);
    return true;
  }

  TEST_CASE("write budget: a fight with a hand edit costs write_budget writes, then freezes") {
    auto o = options();
    o.write_budget = 3;
    o.write_budget_window = std::chrono::minutes(10);
    auto r = started(o);
    core::Generation gen = 5;
    int writes = 0, alerts = 0, rejected = 0;
    // 15 rounds of 30 s: all inside the 10 min window.
    for (int i = 1; i <= 15; ++i) {
      if (drift_round(r, kT0 + std::chrono::seconds(30 * i), gen)) ++writes;
      for (const auto& e : r.take_events()) {
        if (e.kind == Kind::BudgetExhausted) {
          ++alerts;
          CHECK(e.alert);
          CHECK(e.detail.find("write_budget") != std::string::npos);
        }
        if (e.kind == Kind::Rejected) ++rejected;
      }
    }
    CHECK(writes == 3);
    CHECK(alerts == 1);     // once, not at every refused write
    CHECK(rejected == 11);  // the later ones are dropped quietly
    CHECK(r.automated_writes(kT0 + std::chrono::seconds(450)) == 3);
    // Once the window has room again, a repair goes out (the shell has frozen the service by
    // then, which holds repairs: see the next case).
    const auto later = kT0 + std::chrono::seconds(30 * 15) + std::chrono::minutes(10);
    CHECK(drift_round(r, later, gen));
  }

  TEST_CASE("write budget: retries count whoever asked; a manual plan and a restore do not") {
    auto o = options();
    o.write_budget = 2;
    auto r = started(o);
    auto p = plan(5, {"198.51.100.20"});
    p.trigger = core::Trigger::Manual;
    write_of(r, p);  // the operator's own write: not counted
    CHECK(r.automated_writes(kT0) == 0);
    auto t = kT0;
    int sent = 1;
    bool exhausted = false;
    for (int i = 0; i < 10 && !exhausted; ++i) {
      // NOERROR but nothing changed: the same CAS again after a backoff (a retry).
      r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t);
      REQUIRE(r.poll(t));
      r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t);
      exhausted = has(r.take_events(), Kind::BudgetExhausted);
      t = r.next_due();
      auto a = r.poll(t);
      if (a && a->kind == ReconcileAction::Kind::Write) ++sent;
      if (exhausted) CHECK_FALSE((a && a->kind == ReconcileAction::Kind::Write));
    }
    CHECK(exhausted);
    CHECK(sent == 3);  // the manual write and two retries
    // An operator's unfreeze forgets the count.
    r.reset_budget();
    CHECK(r.automated_writes(t) == 0);
  }

  TEST_CASE("held (automation frozen): drift is reported, not repaired; automatic plans wait") {
    auto r = started();
    r.set_held(true);
    auto t1 = kT0 + std::chrono::seconds(30);
    REQUIRE(r.poll(t1));
    r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t1);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Drift));
    CHECK(ev.front().detail.find("not repaired") != std::string::npos);
    CHECK_FALSE(r.poll(t1));  // no repair write
    r.set_desired(plan(5, {"198.51.100.20"}), t1);
    CHECK(has(r.take_events(), Kind::Rejected));
    auto manual = plan(5, {"198.51.100.20"});
    manual.trigger = core::Trigger::Manual;
    r.set_desired(manual, t1);  // an operator's move still goes through the freeze
    auto a = r.poll(t1);
    REQUIRE(a);
    CHECK(a->kind == ReconcileAction::Kind::Read);
    r.on_read(ok(state({"192.0.2.99"}, Fence{5, "obs-b"})), t1);
    a = r.poll(t1);
    REQUIRE(a);
    CHECK(a->kind == ReconcileAction::Kind::Write);
    // Released, the next periodic read repairs the drift.
    r.set_held(false);
    r.on_write(WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"}, t1);
    REQUIRE(r.poll(t1));
    r.on_read(ok(state({"198.51.100.20"}, Fence{6, "obs-a"})), t1);
    CHECK(has(r.take_events(), Kind::Applied));
  }

  TEST_CASE("an automatic plan taken before the hold is not written after it") {
    auto r = started();
    auto t1 = kT0 + std::chrono::seconds(1);
    r.set_desired(plan(5, {"198.51.100.20"}), t1);  // accepted: its prepare read goes out
    auto a = r.poll(t1);
    REQUIRE(a);
    REQUIRE(a->kind == ReconcileAction::Kind::Read);
    r.take_events();
    r.set_held(true);  // a freeze (here or adopted from a peer) while the read is out
    r.on_read(ok(state({"192.0.2.10"}, Fence{5, "obs-b"})), t1);
    auto ev = r.take_events();
    CHECK(has(ev, Kind::Rejected));
    a = r.poll(t1);
    CHECK_FALSE((a && a->kind == ReconcileAction::Kind::Write));
  }

  TEST_CASE("restore without a known good set is rejected with an alert") {
    act::Reconciler r(options(), 3);
    r.restore(kT0);
    auto ev = r.take_events();
    REQUIRE(has(ev, Kind::Rejected));
  }
}
