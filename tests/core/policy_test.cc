#include "core/policy.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

const RegionId kEast{"east"}, kWest{"west"}, kSouth{"south"};

// Confirmed states of east, west, south, one letter each: U up, G degraded, D down, ? unknown.
// Each confirmed state carries two fresh votes as evidence.
Confirmed confirmed(std::string_view states, Duration now) {
  Confirmed c;
  const RegionId regions[] = {kEast, kWest, kSouth};
  for (std::size_t i = 0; i < 3; ++i) {
    RegionQuorum q;
    switch (states[i]) {
      case 'U': q.state = Verdict::Up; break;
      case 'G': q.state = Verdict::Degraded; break;
      case 'D': q.state = Verdict::Down; break;
      default: q.state = Verdict::Unknown; break;
    }
    if (q.state != Verdict::Unknown) {
      for (const char* o : {"obs-a", "obs-b"}) {
        q.evidence.push_back(Vote{ObserverId{o}, regions[i], q.state, at(now)});
      }
    }
    c[regions[i]] = q;
  }
  return c;
}

struct Harness {
  config::Config cfg = test::cluster_config();
  std::optional<ServicePolicy> policy;

  explicit Harness(config::Policy kind = config::Policy::Priority,
                   void (*tweak)(config::Service&) = nullptr) {
    cfg = test::cluster_config(kind);
    if (tweak) tweak(cfg.services[0]);
    policy.emplace(cfg.services[0], cfg.observer);
  }
  const config::Service& svc() const { return cfg.services[0]; }

  void live(Generation g, const RegionId& r, Duration now, Trigger t = Trigger::Automatic) {
    policy->set_live(LiveState{g, publish_members(svc(), {{r, 1.0}}), t}, at(now));
  }
  Decision decide(std::string_view states, Duration now) {
    return policy->decide(confirmed(states, now), at(now));
  }
  // Applies a plan as the actuator would: the target now holds it.
  void apply(const Plan& p, Duration now) {
    policy->set_live(LiveState{p.generation, p.members, p.trigger}, at(now));
  }
};

// This observer's own evidence: `suspects` failing here, every region seen serving since `seen`.
ServicePolicy::LocalEvidence local(std::set<RegionId> suspects, Duration seen) {
  ServicePolicy::LocalEvidence e;
  e.suspects = std::move(suspects);
  for (const auto& r : {kEast, kWest, kSouth}) e.seen_serving[r] = at(seen);
  return e;
}

bool has(const Decision& d, EventKind kind, std::optional<Rule> rule = std::nullopt) {
  return std::any_of(d.events.begin(), d.events.end(), [&](const Event& e) {
    return e.kind == kind && (!rule || e.rule == rule);
  });
}

}  // namespace

TEST_SUITE("core.policy") {
  TEST_CASE("nothing is decided before the live generation is known") {
    Harness h;
    Decision d = h.decide("DUU", 0s);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::LiveUnknown);
  }

  TEST_CASE("an up or degraded active region stays") {
    Harness h;
    h.live(1, kEast, 0s);
    CHECK_FALSE(h.decide("UUU", 0s).plan);
    CHECK_FALSE(h.decide("GUU", 1s).plan);
    CHECK_FALSE(h.decide("GDD", 2s).plan);
  }

  TEST_CASE("a confirmed down primary fails over to the first standby confirmed up") {
    Harness h;
    h.live(7, kEast, 0s);
    Decision d = h.decide("DDU", 21s);  // after the hold-down of the first read (see below)
    REQUIRE(d.plan);
    const Plan& p = *d.plan;
    CHECK(p.base_generation == 7);
    CHECK(p.generation == 8);
    CHECK(p.active == std::vector<RegionId>{kSouth});
    REQUIRE(p.members.size() == 1);
    CHECK(p.members[0].value == "203.0.113.1");
    CHECK(p.trigger == Trigger::Automatic);
    CHECK(p.decided_at == at(21s));
    CHECK(p.evidence.size() == 4);
    CHECK(has(d, EventKind::PlanMade));
  }

  TEST_CASE("every region off by hand is refused by the never-empty rule, forced or not") {
    Harness h;
    h.live(7, kEast, 0s);
    const RegionId none{std::string(config::kNoRegion)};
    for (bool force : {false, true}) {
      Decision d = h.policy->failover(none, force, confirmed("UUU", 21s), at(21s));
      CHECK_FALSE(d.plan);
      CHECK(d.refused == Rule::EmptySet);
      CHECK(has(d, EventKind::PlanRefused, Rule::EmptySet));
      CHECK_FALSE(has(d, EventKind::Alert));  // a refused request, not an empty live set
    }
    CHECK(h.policy->pin(none, true, confirmed("UUU", 21s), at(21s)).refused == Rule::EmptySet);
    CHECK_FALSE(h.policy->pinned());
    CHECK(h.policy->active() == std::vector<RegionId>{kEast});
  }

  TEST_CASE("no failover to a standby that is failing probes here, even if confirmed up") {
    Harness h;
    h.live(7, kEast, 0s);
    // west and south both confirmed up, both failing here: wait, without an alert.
    Decision d = h.policy->decide(confirmed("DUU", 21s), at(21s), local({kWest, kSouth}, 0s));
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::TargetSuspect);
    CHECK_FALSE(has(d, EventKind::Alert));
    // Only west is: the next standby that is not suspect gets the traffic.
    d = h.policy->decide(confirmed("DUU", 22s), at(22s), local({kWest}, 22s));
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kSouth});
  }

  TEST_CASE("no failover to a standby not seen serving here since the primary went down") {
    Harness h;
    h.live(7, kEast, 0s);
    // east confirmed down at 21 s; west's last good probe here started at 20 s: wait, and ask
    // for a probe of west now rather than at its next turn.
    Decision d = h.policy->decide(confirmed("DUD", 21s), at(21s), local({}, 20s));
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::TargetSuspect);
    CHECK(d.probe_now == std::vector<RegionId>{kWest});
    // Asked once per wait: the steps that follow (one per probe result) do not ask again.
    d = h.policy->decide(confirmed("DUD", 21100ms), at(21100ms), local({}, 20s));
    CHECK(d.refused == Rule::TargetSuspect);
    CHECK(d.probe_now.empty());
    // A probe of west that started at 21.2 s succeeded: go.
    d = h.policy->decide(confirmed("DUD", 21400ms), at(21400ms), local({}, 21200ms));
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kWest});
    // A later standby seen serving does not jump the queue while the first one is unprobed.
    ServicePolicy::LocalEvidence e = local({}, 21200ms);
    e.seen_serving[kWest] = at(20s);
    Harness later;
    later.live(7, kEast, 0s);
    d = later.policy->decide(confirmed("DUU", 21s), at(21s), e);
    d = later.policy->decide(confirmed("DUU", 21400ms), at(21400ms), e);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::TargetSuspect);
    // Without local evidence (nullopt) the policy decides on the quorum alone.
    Harness q;
    q.live(7, kEast, 0s);
    CHECK(q.decide("DUD", 21s).plan);
  }

  TEST_CASE("a suspect standby becomes a target again once its probes succeed") {
    Harness h;
    h.live(7, kEast, 0s);
    CHECK(h.policy->decide(confirmed("DUD", 21s), at(21s), local({kWest}, 21s)).refused == Rule::TargetSuspect);
    CHECK(h.policy->decide(confirmed("DUD", 21s), at(21s), local({kWest}, 21s)).probe_now.empty());
    // Its streak ended in down: nothing to fail over to (the usual alert).
    Decision down = h.policy->decide(confirmed("DDD", 22s), at(22s), local({}, 22s));
    CHECK(down.refused == Rule::AllRegionsDown);
    // Or it recovered: the failover goes ahead.
    Decision d = h.policy->decide(confirmed("DUD", 23s), at(23s), local({}, 23s));
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kWest});
  }

  TEST_CASE("weighted: a suspect region is not added") {
    Harness h(config::Policy::Weighted, [](config::Service& s) {
      s.failback = config::Failback::Auto;
      s.failback_delay = 0s;
    });
    h.live(3, kEast, 0s);
    Decision d = h.policy->decide(confirmed("UUD", 21s), at(21s), local({kWest}, 21s));
    CHECK_FALSE(d.plan);
    d = h.policy->decide(confirmed("UUD", 22s), at(22s), local({}, 22s));
    REQUIRE(d.plan);
    CHECK(std::find(d.plan->active.begin(), d.plan->active.end(), kWest) != d.plan->active.end());
  }

  TEST_CASE("fail static when no standby is confirmed up or degraded, once per reason, with an alert") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision d = h.decide("DD?", 1s);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::TargetNotConfirmedUp);
    CHECK(has(d, EventKind::PlanRefused, Rule::TargetNotConfirmedUp));
    CHECK(has(d, EventKind::Alert, Rule::TargetNotConfirmedUp));
    d = h.decide("DD?", 2s);
    CHECK(d.refused == Rule::TargetNotConfirmedUp);
    CHECK(d.events.empty());
  }

  TEST_CASE("priority: a degraded standby beats a dead primary; an up one beats a degraded one") {
    SUBCASE("the only standby that serves is degraded: fail over to it") {
      Harness h;
      h.live(1, kEast, 0s);
      Decision d = h.decide("DGD", 1s);
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kWest});
      CHECK(d.plan->reason.find("west confirmed degraded") != std::string::npos);
      CHECK_FALSE(has(d, EventKind::Alert));
    }
    SUBCASE("an up standby later in the order goes before a degraded one") {
      Harness h;
      h.live(1, kEast, 0s);
      Decision d = h.decide("DGU", 1s);
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kSouth});
    }
    SUBCASE("degraded standbys in priority order") {
      Harness h;
      h.live(1, kEast, 0s);
      Decision d = h.decide("DGG", 1s);
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kWest});
    }
    SUBCASE("from a later region back to a degraded earlier one when nothing else serves") {
      Harness h;
      h.live(2, kWest, 0s);
      Decision d = h.decide("GDD", 30s);
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kEast});
    }
    SUBCASE("the quorum must confirm it: a degraded vote of this observer alone is not enough") {
      Harness h;
      h.live(1, kEast, 0s);
      CHECK(h.decide("D?D", 1s).refused == Rule::TargetNotConfirmedUp);
    }
    SUBCASE("the local checks apply to a degraded target too") {
      Harness h;
      h.live(1, kEast, 0s);
      // Failing probes here: skipped, and nothing else serves.
      Decision d = h.policy->decide(confirmed("DGD", 21s), at(21s), local({kWest}, 21s));
      CHECK_FALSE(d.plan);
      CHECK(d.refused == Rule::TargetSuspect);
      // Not seen serving here since east was confirmed down: wait for its next probe.
      d = h.policy->decide(confirmed("DGD", 22s), at(22s), local({}, 0s));
      CHECK_FALSE(d.plan);
      CHECK(d.refused == Rule::TargetSuspect);
      CHECK(d.probe_now == std::vector<RegionId>{kWest});
      d = h.policy->decide(confirmed("DGD", 23s), at(23s), local({}, 23s));
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kWest});
    }
    SUBCASE("no failback to a degraded region: failback needs it up for failback_delay") {
      Harness h(config::Policy::Priority,
                [](config::Service& s) { s.failback = config::Failback::Auto; });
      h.live(2, kWest, 0s);
      for (int t = 30; t < 120; t += 5) {
        CAPTURE(t);
        CHECK_FALSE(h.decide("GUU", std::chrono::seconds(t)).plan);
      }
    }
  }

  TEST_CASE("weighted: with nothing else serving a degraded region is added") {
    Harness h(config::Policy::Weighted);
    h.live(3, kEast, 0s);
    Decision d = h.decide("DGD", 30s);
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kWest});
    // Up regions go first: south up, west degraded.
    Harness h2(config::Policy::Weighted);
    h2.live(3, kEast, 0s);
    d = h2.decide("DGU", 30s);
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kSouth});
  }

  TEST_CASE("fail static without a quorum on the active region, or with every region down") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision d = h.decide("???", 0s);
    CHECK(d.refused == Rule::NoQuorum);
    CHECK_FALSE(has(d, EventKind::Alert));  // starting up: no quorum yet is not news
    h.decide("UUU", 0s);
    d = h.decide("?UU", 1s);
    CHECK(d.refused == Rule::NoQuorum);
    CHECK(has(d, EventKind::Alert, Rule::NoQuorum));
    d = h.decide("DDD", 2s);
    CHECK(d.refused == Rule::AllRegionsDown);
    CHECK(has(d, EventKind::Alert, Rule::AllRegionsDown));
  }

  TEST_CASE("fail_static() names the rule holding the service, and only while it holds") {
    Harness h;
    h.live(1, kEast, 0s);
    h.decide("???", 0s);
    CHECK_FALSE(h.policy->fail_static());  // no quorum yet at start-up is not failing static
    h.decide("UUU", 0s);
    CHECK_FALSE(h.policy->fail_static());
    h.decide("?UU", 1s);
    CHECK(h.policy->fail_static() == Rule::NoQuorum);
    h.decide("DDD", 2s);
    CHECK(h.policy->fail_static() == Rule::AllRegionsDown);
    h.decide("DDD", 3s);  // the same refusal again: still held
    CHECK(h.policy->fail_static() == Rule::AllRegionsDown);
    h.decide("DD?", 4s);
    CHECK(h.policy->fail_static() == Rule::TargetNotConfirmedUp);
    h.decide("UUU", 5s);  // the primary serves again: nothing is held back
    CHECK_FALSE(h.policy->fail_static());
    // Pacing is not failing static: hold-down and freeze are not reported by it.
    h.policy->freeze("test", at(6s));
    h.decide("DUU", 6s);
    CHECK_FALSE(h.policy->fail_static());
  }

  TEST_CASE("one plan in flight at a time; the read-back ends it") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision d = h.decide("DUU", 1s);
    REQUIRE(d.plan);
    CHECK_FALSE(h.decide("DUU", 2s).plan);
    h.apply(*d.plan, 2s);
    CHECK(h.policy->active() == std::vector<RegionId>{kWest});
    CHECK_FALSE(h.decide("DUU", 3s).plan);
  }

  TEST_CASE("an unanswered plan expires after max_decision_age and is decided again") {
    Harness h;
    h.live(1, kEast, 0s);
    REQUIRE(h.decide("DUU", 1s).plan);
    CHECK_FALSE(h.decide("DUU", 6s).plan);
    CHECK(h.decide("DUU", 6001ms).plan);
  }

  TEST_CASE("hold-down after a flip, counted from when the flip was seen") {
    Harness h;
    h.live(1, kEast, 0s);
    h.live(2, kWest, 10s, Trigger::Manual);
    Decision d = h.decide("UDU", 15s);
    CHECK(d.refused == Rule::HoldDown);
    CHECK(has(d, EventKind::PlanRefused, Rule::HoldDown));
    CHECK_FALSE(has(d, EventKind::Alert));
    CHECK(h.policy->next_due(at(15s)) == at(30s));
    CHECK_FALSE(h.decide("UDU", 29s).plan);
    CHECK(h.decide("UDU", 30s).plan);
  }

  TEST_CASE("the flip budget freezes the service with an alert") {
    Harness h;  // flip_budget 2 per 5 min, hold_down 20s
    h.live(1, kEast, 0s);
    Decision d = h.decide("DUU", 1s);
    h.apply(*d.plan, 1s);
    d = h.decide("UDU", 30s);
    REQUIRE(d.plan);
    h.apply(*d.plan, 30s);
    d = h.decide("DUU", 60s);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::FlipBudgetExhausted);
    CHECK(has(d, EventKind::ServiceFrozen, Rule::FlipBudgetExhausted));
    CHECK(has(d, EventKind::Alert, Rule::FlipBudgetExhausted));
    CHECK(h.policy->frozen());
    CHECK(h.decide("DUU", 400s).refused == Rule::Frozen);
  }

  TEST_CASE("generations written unseen count against the budget") {
    Harness h;
    h.live(1, kEast, 0s);
    h.live(3, kWest, 10s);  // two writes, one of them never seen
    Decision d = h.decide("UDU", 40s);
    CHECK(d.refused == Rule::FlipBudgetExhausted);
  }

  TEST_CASE("two unseen writes that end where they began are still two flips") {
    Harness h;  // flip_budget 2
    h.live(1, kEast, 0s);
    h.live(3, kEast, 10s);  // east -> ? -> east: generation 2 was never seen
    Decision d = h.decide("DUU", 40s);
    CHECK(d.refused == Rule::FlipBudgetExhausted);
  }

  TEST_CASE("automatic failback only after failback_delay of continuous up") {
    Harness h(config::Policy::Priority,
              [](config::Service& s) { s.failback = config::Failback::Auto; });
    h.live(1, kWest, 0s);
    CHECK_FALSE(h.decide("UUU", 0s).plan);
    CHECK_FALSE(h.decide("UUU", 29s).plan);
    CHECK_FALSE(h.decide("GUU", 29500ms).plan);  // degraded: the clock restarts
    CHECK_FALSE(h.decide("UUU", 30s).plan);
    CHECK(h.policy->next_due(at(30s)) == at(60s));
    CHECK_FALSE(h.decide("UUU", 59s).plan);
    Decision d = h.decide("UUU", 60s);
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kEast});
    CHECK(d.plan->reason.find("failback") != std::string::npos);
  }

  TEST_CASE("manual failback mode never fails back by itself; a manual failback is one plan") {
    Harness h;
    h.live(1, kWest, 0s);
    CHECK_FALSE(h.decide("UUU", 0s).plan);
    CHECK_FALSE(h.decide("UUU", 3600s).plan);
    Decision d = h.policy->failback(false, confirmed("UUU", 3601s), at(3601s));
    REQUIRE(d.plan);
    CHECK(d.plan->trigger == Trigger::Manual);
    CHECK(d.plan->active == std::vector<RegionId>{kEast});
  }

  TEST_CASE("freeze stops automatic plans; unfreeze resumes") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision f = h.policy->freeze("maintenance", at(0s));
    CHECK(has(f, EventKind::ServiceFrozen));
    Decision d = h.decide("DUU", 1s);
    CHECK(d.refused == Rule::Frozen);
    CHECK_FALSE(d.plan);
    CHECK(has(h.policy->unfreeze(at(2s)), EventKind::ServiceUnfrozen));
    CHECK(h.decide("DUU", 3s).plan);
  }

  TEST_CASE("TILT suspends automatic actions for tilt_period") {
    Harness h;
    h.live(1, kEast, 0s);
    Events ev = h.policy->enter_tilt(at(0s));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == EventKind::TiltEntered);
    CHECK(h.decide("DUU", 1s).refused == Rule::Tilt);
    CHECK(h.decide("DUU", 9s).refused == Rule::Tilt);
    Decision d = h.decide("DUU", 10s);
    CHECK(has(d, EventKind::TiltLeft));
    CHECK(d.plan);
  }

  TEST_CASE("propose mode holds the plan until approved, and it expires") {
    Harness h(config::Policy::Priority,
              [](config::Service& s) { s.mode = config::Mode::Propose; });
    h.live(1, kEast, 0s);
    CHECK(h.policy->approve(at(0s)).refused == Rule::NoPendingProposal);
    Decision d = h.decide("DUU", 1s);
    CHECK_FALSE(d.plan);
    CHECK(has(d, EventKind::PlanProposed));
    REQUIRE(h.policy->pending());
    CHECK(h.decide("DUU", 2s).events.empty());

    SUBCASE("approved in time") {
      Decision a = h.policy->approve(at(3s));
      REQUIRE(a.plan);
      CHECK(a.plan->active == std::vector<RegionId>{kWest});
      CHECK(a.plan->reason.rfind("approved", 0) == 0);
      CHECK_FALSE(h.policy->pending());
    }
    SUBCASE("expired, then proposed again while still wanted") {
      Decision e = h.decide("DUU", 7s);
      CHECK(has(e, EventKind::ProposalExpired));
      CHECK(has(e, EventKind::PlanProposed));
      CHECK(h.policy->approve(at(12001ms)).refused == Rule::DecisionTooOld);
      CHECK(h.policy->approve(at(12001ms)).refused == Rule::NoPendingProposal);
    }
    SUBCASE("refused while frozen") {
      h.policy->freeze("", at(2s));
      CHECK(h.policy->approve(at(3s)).refused == Rule::Frozen);
    }
  }

  TEST_CASE("manual failover: refused to a confirmed down region unless forced") {
    Harness h;
    h.live(1, kEast, 0s);
    Confirmed c = confirmed("UDU", 0s);
    CHECK(h.policy->failover(kWest, false, c, at(0s)).refused == Rule::TargetConfirmedDown);
    CHECK(h.policy->failover(RegionId{"mars"}, false, c, at(0s)).refused == Rule::UnknownRegion);
    Decision d = h.policy->failover(kWest, true, c, at(0s));
    REQUIRE(d.plan);
    CHECK(d.plan->trigger == Trigger::Manual);
    CHECK(d.plan->reason.find("forced") != std::string::npos);
  }

  TEST_CASE("manual actions bypass freeze, TILT and hold-down but not the guards") {
    Harness h(config::Policy::Priority, [](config::Service& s) { s.min_targets = 2; });
    h.live(1, kEast, 0s);
    h.policy->freeze("", at(0s));
    h.policy->enter_tilt(at(0s));
    Confirmed c = confirmed("UUU", 0s);
    Decision d = h.policy->failover(kWest, false, c, at(0s));
    CHECK(d.refused == Rule::BelowMinTargets);  // west publishes one value
    d = h.policy->failover(kEast, false, c, at(0s));
    CHECK_FALSE(d.plan);  // already there
  }

  TEST_CASE("after a manual failover there is no automatic failback") {
    Harness h(config::Policy::Priority,
              [](config::Service& s) { s.failback = config::Failback::Auto; });
    h.live(1, kEast, 0s);
    Decision d = h.policy->failover(kWest, false, confirmed("UUU", 0s), at(0s));
    h.apply(*d.plan, 0s);
    CHECK_FALSE(h.decide("UUU", 1s).plan);
    CHECK_FALSE(h.decide("UUU", 600s).plan);
  }

  TEST_CASE("a manual failover made through another observer holds here too, even at the first read") {
    for (bool read_before : {true, false}) {
      CAPTURE(read_before);
      Harness h(config::Policy::Priority,
                [](config::Service& s) { s.failback = config::Failback::Auto; });
      if (read_before) h.live(1, kEast, 0s);
      h.live(2, kWest, 1s, Trigger::Manual);  // the fence says an operator moved it
      CHECK_FALSE(h.decide("UUU", 2s).plan);
      CHECK_FALSE(h.decide("UUU", 600s).plan);
      // An operator's move back to the primary, also through another observer, ends the hold.
      h.live(3, kEast, 601s, Trigger::Manual);
      h.live(4, kWest, 602s);  // an automatic failover later
      CHECK(h.decide("UUU", 603s).plan == std::nullopt);  // failback_delay not over yet
      Decision d = h.decide("UUU", 700s);
      REQUIRE(d.plan);
      CHECK(d.plan->active == std::vector<RegionId>{kEast});
    }
  }

  TEST_CASE("an unpin hands the service back to the automation, failback included") {
    Harness h(config::Policy::Priority,
              [](config::Service& s) { s.failback = config::Failback::Auto; });
    h.live(1, kEast, 0s);
    Decision p = h.policy->pin(kWest, false, confirmed("UUU", 0s), at(0s));
    REQUIRE(p.plan);
    CHECK(p.plan->trigger == Trigger::Manual);
    h.apply(*p.plan, 0s);
    CHECK_FALSE(h.decide("UUU", 100s).plan);
    h.policy->unpin(at(101s));
    h.decide("UUU", 101s);
    Decision d = h.decide("UUU", 200s);  // past failback_delay
    REQUIRE(d.plan);
    CHECK(d.plan->active == std::vector<RegionId>{kEast});
  }

  TEST_CASE("a pinned service takes no automatic action") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision p = h.policy->pin(kWest, false, confirmed("UUU", 0s), at(0s));
    REQUIRE(p.plan);
    h.apply(*p.plan, 0s);
    CHECK(h.policy->pinned() == kWest);
    CHECK(h.decide("UDU", 100s).refused == Rule::Pinned);
    h.policy->unpin(at(101s));
    CHECK(h.decide("UDU", 101s).plan);
  }

  TEST_CASE("a pin restored after a restart holds without writing anything") {
    Harness h;
    h.policy->restore_pin(kWest);
    h.policy->restore_pin(RegionId{"atlantis"});  // no longer configured: ignored
    CHECK(h.policy->pinned() == kWest);
    h.live(1, kEast, 0s);
    Decision d = h.decide("DUU", 10s);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::Pinned);
  }

  TEST_CASE("weighted: down regions get 0, degraded ones a share, weights renormalised") {
    // east 2 (two values), west 1, south 1; recovered regions are added back at once
    Harness h(config::Policy::Weighted, [](config::Service& s) {
      s.failback = config::Failback::Auto;
      s.failback_delay = 0s;
    });
    std::vector<std::pair<RegionId, double>> all{{kEast, 2}, {kWest, 1}, {kSouth, 1}};
    h.policy->set_live(LiveState{1, publish_members(h.svc(), all)}, at(0s));
    // map order: east, south, west
    CHECK(h.policy->live().members.size() == 4);
    CHECK(h.policy->live().members[0].weight == 25);  // 100 * 2/4 over two values
    CHECK_FALSE(h.decide("UUU", 0s).plan);

    Decision d = h.decide("UDG", 1s);
    REQUIRE(d.plan);
    // east 2, south 1 * 0.5: east 100*2/2.5/2 = 40 each, south 100*0.5/2.5 = 20
    REQUIRE(d.plan->members.size() == 3);
    CHECK(d.plan->members[0].weight == 40);
    CHECK(d.plan->members[1].weight == 40);
    CHECK(d.plan->members[2].region == kSouth);
    CHECK(d.plan->members[2].weight == 20);
    h.apply(*d.plan, 1s);

    SUBCASE("a region is added back only when confirmed up") {
      CHECK_FALSE(h.decide("UGG", 30s).plan);
      Decision back = h.decide("UUG", 31s);
      REQUIRE(back.plan);
      CHECK(back.plan->members.size() == 4);
    }
    SUBCASE("a serving region without quorum freezes the decision") {
      CHECK(h.decide("U??", 30s).refused == Rule::NoQuorum);
    }
    SUBCASE("nothing left: fail static") {
      CHECK(h.decide("D?D", 30s).refused == Rule::TargetNotConfirmedUp);
      CHECK(h.decide("DDD", 31s).refused == Rule::AllRegionsDown);
    }
  }

  TEST_CASE("weighted, failback manual: a recovered region waits for the operator's failback") {
    Harness h(config::Policy::Weighted);  // failback = manual (the default)
    REQUIRE(h.svc().failback == config::Failback::Manual);
    std::vector<std::pair<RegionId, double>> all{{kEast, 2}, {kWest, 1}, {kSouth, 1}};
    h.policy->set_live(LiveState{1, publish_members(h.svc(), all)}, at(0s));
    Decision d = h.decide("UDU", 1s);  // west dies: removed
    REQUIRE(d.plan);
    h.apply(*d.plan, 1s);
    CHECK(h.policy->active() == std::vector<RegionId>{kEast, kSouth});
    // west recovers and stays up: never added back by itself, however long it has been up.
    for (int t = 2; t <= 3600; t += 60) {
      CAPTURE(t);
      CHECK_FALSE(h.decide("UUU", std::chrono::seconds(t)).plan);
    }
    // The operator's failback adds it.
    Decision back = h.policy->failback(false, confirmed("UUU", 3601s), at(3601s));
    REQUIRE(back.plan);
    CHECK(back.plan->trigger == Trigger::Manual);
    CHECK(back.plan->members.size() == 4);
    h.apply(*back.plan, 3601s);
    // And each later recovery needs one again.
    d = h.decide("UDU", 3700s);
    REQUIRE(d.plan);
    h.apply(*d.plan, 3700s);
    CHECK_FALSE(h.decide("UUU", 3800s).plan);
  }

  TEST_CASE("weighted, failback manual: when nothing serving stays, recovered regions are a failover") {
    Harness h(config::Policy::Weighted);
    h.live(3, kEast, 0s);  // only east serves; west and south are up but were not added back
    CHECK_FALSE(h.decide("UUU", 30s).plan);
    Decision d = h.decide("DUU", 60s);
    REQUIRE(d.plan);
    CHECK(d.plan->trigger == Trigger::Automatic);
    CHECK(d.plan->active == std::vector<RegionId>{kSouth, kWest});
  }

  TEST_CASE("weighted, failback auto: a recovered region is added back after failback_delay of up") {
    Harness h(config::Policy::Weighted, [](config::Service& s) {
      s.failback = config::Failback::Auto;
      s.failback_delay = 30s;
    });
    std::vector<std::pair<RegionId, double>> all{{kEast, 2}, {kWest, 1}, {kSouth, 1}};
    h.policy->set_live(LiveState{1, publish_members(h.svc(), all)}, at(0s));
    Decision d = h.decide("UDU", 1s);
    REQUIRE(d.plan);
    h.apply(*d.plan, 1s);
    // Up from 100s, but down again at 120s: the delay starts over at 121s.
    for (int t = 100; t < 120; ++t) CHECK_FALSE(h.decide("UUU", std::chrono::seconds(t)).plan);
    CHECK_FALSE(h.decide("UDU", 120s).plan);
    for (int t = 121; t < 151; ++t) {
      CAPTURE(t);
      CHECK_FALSE(h.decide("UUU", std::chrono::seconds(t)).plan);
    }
    CHECK(h.policy->next_due(at(150s)) == at(151s));
    Decision back = h.decide("UUU", 151s);
    REQUIRE(back.plan);
    CHECK(back.plan->members.size() == 4);
  }

  TEST_CASE("a plan below min_targets is refused with an alert") {
    Harness h(config::Policy::Priority, [](config::Service& s) { s.min_targets = 2; });
    h.live(1, kEast, 0s);
    Decision d = h.decide("DUU", 1s);
    CHECK_FALSE(d.plan);
    CHECK(d.refused == Rule::BelowMinTargets);
    CHECK(has(d, EventKind::Alert, Rule::BelowMinTargets));
  }
}

TEST_SUITE("core.policy") {
  TEST_CASE("after a restart the live generation counts as a flip seen now") {
    Harness h;
    h.live(5, kEast, 0s);  // first read, generation 5: when it was written is unknown
    CHECK(h.decide("DUU", 1s).refused == Rule::HoldDown);
    Harness fresh;
    fresh.live(1, kEast, 0s);  // the initial set is not a flip
    CHECK(fresh.decide("DUU", 1s).plan);
  }

  TEST_CASE("a restart that knew the generation counts only the writes it missed") {
    // flip_budget 2 per 5 min, hold_down 20s. What the state file carried: generation 5, read
    // long before; no flip in the window.
    Harness same;
    same.policy->restore_history({5, std::nullopt, {}});
    same.live(5, kEast, 100s);  // the same generation: nothing happened meanwhile
    CHECK(same.decide("DUU", 101s).plan);

    Harness missed;  // two writes happened while it was down: both count, hold-down armed
    missed.policy->restore_history({5, std::nullopt, {}});
    missed.live(7, kEast, 100s);
    CHECK(missed.decide("DUU", 101s).refused == Rule::HoldDown);
    const Decision d = missed.decide("DUU", 121s);
    CHECK(d.refused == Rule::FlipBudgetExhausted);

    Harness kept;  // flips it had counted before the restart still count
    kept.policy->restore_history({5, at(90s), {at(80s), at(90s)}});
    kept.live(5, kEast, 100s);
    CHECK(kept.decide("DUU", 101s).refused == Rule::HoldDown);  // 90 s + 20 s
    CHECK(kept.decide("DUU", 111s).refused == Rule::FlipBudgetExhausted);

    Harness older;  // a generation below the one known: the target was reset; unknown history
    older.policy->restore_history({5, std::nullopt, {}});
    older.live(3, kEast, 100s);
    CHECK(older.decide("DUU", 101s).refused == Rule::HoldDown);
  }

  TEST_CASE("history() is what restore_history() takes back") {
    Harness h;
    h.live(1, kEast, 0s);
    Decision d = h.decide("DUU", 1s);
    REQUIRE(d.plan);
    h.apply(*d.plan, 2s);
    const ServicePolicy::History was = h.policy->history();
    CHECK(was.generation == 2);
    CHECK(was.last_flip == at(2s));
    CHECK(was.automatic_flips == std::vector<TimePoint>{at(2s)});
    Harness next;
    next.policy->restore_history(was);
    CHECK(next.policy->history() == was);
    next.live(2, kSouth, 3s);
    CHECK(next.policy->history() == was);
  }
}
