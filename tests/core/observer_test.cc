#include "core/observer.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

// Probes every due endpoint with `east` for east's endpoints and ok elsewhere, then steps.
StepResult tick(ObserverEngine& o, ProbeReason east, Duration now) {
  for (const EndpointId& e : o.due(at(now))) {
    const bool is_east = e.str()[0] == 'e';
    o.observe(e, ProbeOutcome{is_east ? east : ProbeReason::Ok, 10ms}, at(now));
  }
  return o.step(at(now));
}

bool has(const Events& events, EventKind kind) {
  return std::any_of(events.begin(), events.end(), [&](const Event& e) { return e.kind == kind; });
}

}  // namespace

TEST_SUITE("core.observer") {
  TEST_CASE("a lone observer's own verdicts are a minority and never confirm anything") {
    ObserverEngine o(test::cluster_config(), at(0s));
    o.set_live(ServiceId{"www"}, LiveState{1, {{RegionId{"east"}, "192.0.2.1", 1}}}, at(0s));
    for (int s = 0; s < 30; ++s) {
      StepResult r = tick(o, ProbeReason::Timeout, std::chrono::seconds(s));
      CHECK(r.plans.empty());
    }
    CHECK(o.view().verdicts().at(RegionId{"east"}) == Verdict::Down);
    CHECK(o.quorum().state(RegionId{"east"}) == Verdict::Unknown);
  }

  TEST_CASE("with one peer agreeing, the quorum confirms and the policy plans") {
    ObserverEngine o(test::cluster_config(), at(0s));
    o.set_live(ServiceId{"www"}, LiveState{1, {{RegionId{"east"}, "192.0.2.1", 1}}}, at(0s));
    StepResult r;
    Events seen;
    int planned_at = -1, confirmed_at = -1;
    for (int s = 0; s < 6 && r.plans.empty(); ++s) {
      const Duration now = std::chrono::seconds(s);
      for (const char* region : {"east", "west", "south"}) {
        Verdict v = s >= 2 && region[0] == 'e' ? Verdict::Down : Verdict::Up;
        o.receive(Vote{ObserverId{"obs-b"}, RegionId{region}, v, {}}, at(now));
      }
      r = tick(o, s >= 2 ? ProbeReason::Timeout : ProbeReason::Ok, now);
      if (o.quorum().state(RegionId{"east"}) == Verdict::Down && confirmed_at < 0) confirmed_at = s;
      if (!r.plans.empty()) planned_at = s;
      seen.insert(seen.end(), r.events.begin(), r.events.end());
    }
    REQUIRE(r.plans.size() == 1);
    CHECK(r.plans[0].active == std::vector<RegionId>{RegionId{"west"}});
    CHECK(has(seen, EventKind::QuorumChanged));
    CHECK(has(r.events, EventKind::PlanMade));
    // West must answer a probe started after east was confirmed down: one probe round later,
    // when nobody probes it out of turn (this test ignores probe_now).
    CHECK(planned_at == confirmed_at + 1);
  }

  TEST_CASE("the step that waits to see the standby serving asks to probe it at once") {
    ObserverEngine o(test::cluster_config(), at(0s));
    o.set_live(ServiceId{"www"}, LiveState{1, {{RegionId{"east"}, "192.0.2.1", 1}}}, at(0s));
    StepResult r;
    Duration now{};
    for (int s = 0; s < 6 && o.quorum().state(RegionId{"east"}) != Verdict::Down; ++s) {
      now = std::chrono::seconds(s);
      for (const char* region : {"east", "west", "south"}) {
        Verdict v = s >= 2 && region[0] == 'e' ? Verdict::Down : Verdict::Up;
        o.receive(Vote{ObserverId{"obs-b"}, RegionId{region}, v, {}}, at(now));
      }
      r = tick(o, s >= 2 ? ProbeReason::Timeout : ProbeReason::Ok, now);
      CHECK(r.plans.empty());
    }
    REQUIRE(o.quorum().state(RegionId{"east"}) == Verdict::Down);
    // Every endpoint of west (the first standby), nothing else.
    std::vector<EndpointId> west;
    for (const auto& region : o.config().regions) {
      if (region.name == RegionId{"west"}) {
        for (const auto& ep : region.endpoints) west.push_back(ep.name);
      }
    }
    REQUIRE_FALSE(west.empty());
    CHECK(r.probe_now == west);
    // The next step, with nothing new, does not ask again.
    CHECK(o.step(at(now + 10ms)).probe_now.empty());
    // Those probes, started 20 ms after confirmation, succeed: the plan goes out then.
    for (const EndpointId& e : west) o.observe(e, ProbeOutcome{ProbeReason::Ok, 5ms}, at(now + 25ms));
    r = o.step(at(now + 25ms));
    REQUIRE(r.plans.size() == 1);
    CHECK(r.plans[0].active == std::vector<RegionId>{RegionId{"west"}});
  }

  TEST_CASE("an endpoint's first failure asks for its region's other endpoints at once") {
    config::Config cfg = test::cluster_config();
    // Two endpoints in east (the fixture may have one: add a second).
    config::Region* east = nullptr;
    for (auto& region : cfg.regions) {
      if (region.name == RegionId{"east"}) east = &region;
    }
    REQUIRE(east != nullptr);
    if (east->endpoints.size() < 2) {
      east->endpoints.push_back(east->endpoints.front());
      east->endpoints.back().name = EndpointId{"e-second"};
    }
    const EndpointId first = east->endpoints[0].name, second = east->endpoints[1].name;
    ObserverEngine o(cfg, at(0s));
    for (int s = 0; s < 3; ++s) tick(o, ProbeReason::Ok, std::chrono::seconds(s));
    REQUIRE(o.view().tracker(second)->state() == Health::Up);
    // The first failure of `first`: `second` (serving, not failing) is asked for, nothing else.
    o.observe(first, ProbeOutcome{ProbeReason::Refused, 1ms}, at(3100ms));
    StepResult r = o.step(at(3100ms));
    CHECK(r.probe_now == std::vector<EndpointId>{second});
    // Its second failure (already on a streak) asks nothing more.
    o.observe(first, ProbeOutcome{ProbeReason::Refused, 1ms}, at(3200ms));
    CHECK(o.step(at(3200ms)).probe_now.empty());
    // A new streak within one interval of the last ask: not again (at most once per interval).
    o.observe(first, ProbeOutcome{ProbeReason::Ok, 1ms}, at(3300ms));
    o.observe(first, ProbeOutcome{ProbeReason::Ok, 1ms}, at(3400ms));
    o.observe(first, ProbeOutcome{ProbeReason::Refused, 1ms}, at(3500ms));
    CHECK(o.step(at(3500ms)).probe_now.empty());
    // A failing sibling is not asked for: it is already telling.
    o.observe(second, ProbeOutcome{ProbeReason::Refused, 1ms}, at(5s));
    CHECK(o.step(at(5s)).probe_now.empty());
  }

  TEST_CASE("a stall reported by the shell means TILT and abstaining") {
    ObserverEngine o(test::cluster_config(), at(0s));
    tick(o, ProbeReason::Ok, 0s);
    tick(o, ProbeReason::Ok, 1s);
    CHECK(o.view().verdicts().at(RegionId{"east"}) == Verdict::Up);
    Events ev = o.report_loop_lag(3s, at(5s));
    CHECK(has(ev, EventKind::TiltEntered));
    StepResult r = tick(o, ProbeReason::Ok, 5s);
    CHECK(has(r.events, EventKind::ObserverImpaired));
    CHECK(o.view().verdicts().at(RegionId{"east"}) == Verdict::Unknown);
    CHECK(o.policy(ServiceId{"www"})->in_tilt(at(14s)));
    CHECK_FALSE(o.policy(ServiceId{"www"})->in_tilt(at(15s)));
    CHECK(o.report_loop_lag(100ms, at(6s)).empty());
  }

  TEST_CASE("next_due is the earliest probe, vote expiry or policy timer") {
    ObserverEngine o(test::cluster_config(), at(0s));
    CHECK(o.next_due(at(0s)) == at(0s));
    tick(o, ProbeReason::Ok, 0s);
    CHECK(o.next_due(at(0s)) == at(1s));  // pending endpoints: fast_interval, here interval
    CHECK(o.admin(AdminAction{AdminAction::Kind::Freeze, ServiceId{"nope"}, {}, false, ""},
                  at(0s))
              .refused == Rule::UnknownService);
  }
}

TEST_SUITE("core.observer") {
  TEST_CASE("a reload keeps the health, votes and policy of what it did not change") {
    config::Config cfg = test::cluster_config();
    for (auto& r : cfg.regions) {
      for (auto& e : r.endpoints) e.fall = 3;
    }
    ObserverEngine old(cfg, at(0s));
    old.set_live(ServiceId{"www"}, LiveState{4, {{RegionId{"east"}, "192.0.2.1", 1}}}, at(0s));
    for (int s = 0; s < 3; ++s) tick(old, ProbeReason::Ok, std::chrono::seconds(s));  // all up
    old.receive(Vote{ObserverId{"obs-b"}, RegionId{"west"}, Verdict::Up, {}}, at(3s));
    old.step(at(3s));
    REQUIRE(old.quorum().state(RegionId{"west"}) == Verdict::Up);
    old.admin(AdminAction{AdminAction::Kind::Pin, ServiceId{"www"}, RegionId{"east"}, false, {}},
              at(3s));
    // Two failures of east's endpoints: one short of fall = 3.
    tick(old, ProbeReason::Timeout, 3s);
    tick(old, ProbeReason::Timeout, 4s);
    REQUIRE(old.view().tracker(EndpointId{"e1"})->state() == Health::Up);

    config::Config next = cfg;
    next.regions[2].endpoints[0].tcp.address = {"192.0.2.99", 80};  // s1 redefined
    next.services[0].reconcile_interval = std::chrono::seconds(7);  // www changed: fresh policy
    ObserverEngine fresh(next, at(5s));
    ObserverEngine kept(next, at(5s));
    const auto same = kept.adopt(old);
    CHECK(same.count(EndpointId{"e1"}) == 1);
    CHECK(same.count(EndpointId{"s1"}) == 0);
    CHECK(kept.view().tracker(EndpointId{"s1"})->state() == Health::Pending);
    CHECK(kept.view().tracker(EndpointId{"s2"})->state() == Health::Up);
    CHECK(kept.view().tracker(EndpointId{"e1"})->next_due() ==
          old.view().tracker(EndpointId{"e1"})->next_due());
    // The third failure, counted across the reload, brings east's endpoints down.
    for (ObserverEngine* o : {&kept, &fresh}) {
      o->observe(EndpointId{"e1"}, ProbeOutcome{ProbeReason::Timeout, 10ms}, at(5s));
      o->observe(EndpointId{"e2"}, ProbeOutcome{ProbeReason::Timeout, 10ms}, at(5s));
    }
    CHECK(kept.view().tracker(EndpointId{"e1"})->state() == Health::Down);
    CHECK(fresh.view().tracker(EndpointId{"e1"})->state() == Health::Pending);
    // The peer's vote on an unchanged region is kept; south was redefined (s1): its votes go.
    CHECK(kept.quorum().confirmed().at(RegionId{"west"}).up == 2);
    CHECK(kept.quorum().confirmed().at(RegionId{"south"}).up == 0);
    // www's definition changed: a fresh policy (no pin), with the flip history of the old one.
    CHECK_FALSE(kept.policy(ServiceId{"www"})->pinned());
    CHECK(kept.policy(ServiceId{"www"})->history() == old.policy(ServiceId{"www"})->history());
    CHECK_FALSE(kept.policy(ServiceId{"www"})->live_known());

    // www alike: the whole policy comes over (pin, live state).
    config::Config alike = cfg;
    ObserverEngine same_www(alike, at(5s));
    same_www.adopt(old);
    CHECK(same_www.policy(ServiceId{"www"})->pinned() == RegionId{"east"});
    CHECK(same_www.policy(ServiceId{"www"})->live_known());
    CHECK(same_www.policy(ServiceId{"www"})->live().generation == 4);
    CHECK(same_www.view().verdicts().at(RegionId{"east"}) ==
          old.view().verdicts().at(RegionId{"east"}));
  }
}
