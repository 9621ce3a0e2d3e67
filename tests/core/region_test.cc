#include "core/region.h"

#include <doctest/doctest.h>

#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

HealthCounts counts(std::size_t up, std::size_t degraded, std::size_t down, std::size_t pending) {
  return HealthCounts{up, degraded, down, pending};
}

const ProbeOutcome kOk{ProbeReason::Ok, 10ms};
const ProbeOutcome kFail{ProbeReason::Timeout, 1s};

// Probes every endpoint of the view with `outcome` for `region` ("" = all) at `now`.
void probe_all(LocalView& v, const config::Config& c, const std::string& region,
               const ProbeOutcome& outcome, Duration now) {
  for (const auto& r : c.regions) {
    if (!region.empty() && r.name.str() != region) continue;
    for (const auto& e : r.endpoints) v.observe(e.name, outcome, at(now));
  }
}

}  // namespace

TEST_SUITE("core.region") {
  TEST_CASE("the worked example of region_verdict holds") {
    config::Region r = test::region("east", {"a", "b", "c", "d"});
    r.min_up = 2;
    CHECK(region_verdict(r, counts(2, 0, 1, 1)) == Verdict::Degraded);
    CHECK(region_verdict(r, counts(0, 0, 3, 1)) == Verdict::Down);
    CHECK(region_verdict(r, counts(1, 0, 0, 3)) == Verdict::Unknown);
    CHECK(region_verdict(r, counts(4, 0, 0, 0)) == Verdict::Up);
    CHECK(region_verdict(r, counts(3, 1, 0, 0)) == Verdict::Degraded);
  }

  TEST_CASE("min_up_fraction raises the floor and degraded_fraction tolerates losses") {
    config::Region r = test::region("east", {});
    r.min_up = 1;
    r.min_up_fraction = 0.5;
    r.degraded_fraction = 0.75;
    CHECK(region_verdict(r, counts(1, 0, 3, 0)) == Verdict::Down);      // needs 2 of 4
    CHECK(region_verdict(r, counts(2, 0, 2, 0)) == Verdict::Degraded);  // 2 < 3 not down
    CHECK(region_verdict(r, counts(3, 0, 1, 0)) == Verdict::Up);        // 3 >= 0.75 * 4
    r.min_up_fraction = 0.1;
    CHECK(region_verdict(r, counts(1, 0, 9, 0)) == Verdict::Degraded);  // ceil(1.0) is 1, not 2
  }

  TEST_CASE("an empty region is unknown") {
    CHECK(region_verdict(test::region("x", {}), counts(0, 0, 0, 0)) == Verdict::Unknown);
  }

  TEST_CASE("verdicts start unknown and follow the endpoints") {
    config::Config c = test::cluster_config();
    LocalView v(c, at(0s));
    CHECK(v.due(at(0s)).size() == 6);
    v.evaluate(at(0s));
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Unknown);
    probe_all(v, c, "", kOk, 0s);
    probe_all(v, c, "", kOk, 1s);
    Events ev = v.evaluate(at(1s));
    CHECK(ev.size() == 3);
    CHECK(ev[0].kind == EventKind::VerdictChanged);
    // The states travel as enums too, the same as the names.
    CHECK(ev[0].from_verdict == Verdict::Unknown);
    CHECK(ev[0].to_verdict == Verdict::Up);
    CHECK(ev[0].to == "up");
    CHECK_FALSE(ev[0].to_health);
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Up);
    probe_all(v, c, "east", kFail, 2s);
    probe_all(v, c, "east", kFail, 3s);
    v.evaluate(at(3s));
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Down);
    CHECK(v.verdicts().at(RegionId{"west"}) == Verdict::Up);
    CHECK_FALSE(v.impairment());
  }

  TEST_CASE("a serving region whose endpoints are failing, short of fall, is suspect") {
    config::Config c = test::cluster_config();  // two endpoints a region, min_up 1, fall 2
    LocalView v(c, at(0s));
    probe_all(v, c, "", kOk, 0s);
    probe_all(v, c, "", kOk, 1s);
    v.evaluate(at(1s));
    CHECK(v.suspects().empty());
    // One endpoint of west fails once: west would still serve with the other one.
    v.observe(EndpointId{"w1"}, kFail, at(2s));
    v.evaluate(at(2s));
    CHECK(v.suspects().empty());
    // Both fail once: still up (fall 2), but it would be down if the streaks went on.
    v.observe(EndpointId{"w2"}, kFail, at(2s));
    v.evaluate(at(2s));
    CHECK(v.verdicts().at(RegionId{"west"}) == Verdict::Up);
    CHECK(v.suspects() == std::set<RegionId>{RegionId{"west"}});
    // A success ends w1's streak: west is no longer suspect.
    v.observe(EndpointId{"w1"}, kOk, at(3s));
    v.evaluate(at(3s));
    CHECK(v.suspects().empty());
    // A region already down is down, not suspect.
    probe_all(v, c, "east", kFail, 4s);
    probe_all(v, c, "east", kFail, 5s);
    v.evaluate(at(5s));
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Down);
    CHECK(v.suspects().empty());
  }

  TEST_CASE("an observer that sees every region down abstains") {
    config::Config c = test::cluster_config();
    LocalView v(c, at(0s));
    probe_all(v, c, "", kFail, 0s);
    probe_all(v, c, "", kFail, 1s);
    Events ev = v.evaluate(at(1s));
    REQUIRE(v.impairment());
    CHECK(ev.front().kind == EventKind::ObserverImpaired);
    CHECK(v.raw_verdict(RegionId{"east"}) == Verdict::Down);
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Unknown);
    probe_all(v, c, "west", kOk, 2s);
    probe_all(v, c, "west", kOk, 3s);
    ev = v.evaluate(at(3s));
    CHECK_FALSE(v.impairment());
    CHECK(ev.front().kind == EventKind::ObserverRecovered);
    CHECK(v.verdicts().at(RegionId{"east"}) == Verdict::Down);
  }

  TEST_CASE("a failing control endpoint makes the observer abstain") {
    config::Config c = test::cluster_config();
    c.control = {test::endpoint("gateway")};
    LocalView v(c, at(0s));
    probe_all(v, c, "", kOk, 0s);
    probe_all(v, c, "", kOk, 1s);
    v.observe(EndpointId{"gateway"}, kFail, at(0s));
    v.observe(EndpointId{"gateway"}, kFail, at(1s));
    v.evaluate(at(1s));
    CHECK(v.impairment() == std::string("control endpoint down"));
    CHECK(v.verdicts().at(RegionId{"west"}) == Verdict::Unknown);
  }

  TEST_CASE("loop lag above max_loop_lag makes the observer abstain for tilt_period") {
    config::Config c = test::cluster_config();
    LocalView v(c, at(0s));
    probe_all(v, c, "", kOk, 0s);
    probe_all(v, c, "", kOk, 1s);
    v.report_loop_lag(100ms, at(1s));
    v.evaluate(at(1s));
    CHECK_FALSE(v.impairment());
    v.report_loop_lag(2s, at(2s));
    v.evaluate(at(2s));
    CHECK(v.impairment());
    v.evaluate(at(11s));
    CHECK(v.impairment());
    v.evaluate(at(12s));
    CHECK_FALSE(v.impairment());
  }
}
