#include "drive/sim.h"

#include <doctest/doctest.h>

#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using namespace std::chrono_literals;

namespace {

SimAction probe(Duration t, const std::string& region, ProbeReason reason,
                std::vector<ObserverId> who = {}) {
  SimAction a;
  a.at = t;
  a.kind = SimAction::Kind::Probe;
  a.region = RegionId{region};
  a.outcome = ProbeOutcome{reason, reason == ProbeReason::Ok ? 10ms : 1s};
  a.observers = std::move(who);
  return a;
}

Expectation expect(Expectation::What what, std::optional<std::uint64_t> min,
                   std::optional<std::uint64_t> max) {
  Expectation e;
  e.what = what;
  e.min = min;
  e.max = max;
  return e;
}

std::string failures(const Scenario& s, const SimResult& r) {
  return r.ok() ? std::string() : format_text(s, r);
}

}  // namespace

TEST_SUITE("core.sim") {
  TEST_CASE("a hard-down primary fails over exactly once, and the fence sees one write") {
    config::Config c = test::cluster_config();
    Scenario s;
    s.name = "primary down";
    s.duration = 60s;
    s.timeline = {probe(10s, "east", ProbeReason::Timeout)};
    s.expectations = {expect(Expectation::What::Writes, 1, 1),
                      expect(Expectation::What::Failovers, 1, 1)};
    Expectation active;
    active.what = Expectation::What::Active;
    active.region = RegionId{"west"};
    s.expectations.push_back(active);
    Expectation by;
    by.what = Expectation::What::WriteBy;
    by.t = 16s;
    s.expectations.push_back(by);
    SimResult r = simulate(c, s);
    CHECK_MESSAGE(r.ok(), failures(s, r));
    CHECK(r.writes.front().accepted);
  }

  TEST_CASE("on a target without compare-and-swap the stagger leaves one writer per decision") {
    // PowerDNS: read, compare, PATCH. Three observers confirm the same failover in the same
    // tick; only the writer stagger (drive/service_driver.h) keeps the other two from PATCHing
    // over the first one.
    for (const auto kind : {config::TargetKind::PowerDns, config::TargetKind::Rfc2136}) {
      CAPTURE(static_cast<int>(kind));
      config::Config c = test::cluster_config();
      c.services[0].target.kind = kind;
      Scenario s;
      s.duration = 60s;
      s.tick = 100ms;
      s.timeline = {probe(10s, "east", ProbeReason::Timeout)};
      s.expectations = {expect(Expectation::What::Writes, 1, 1),
                        expect(Expectation::What::Failovers, 1, 1)};
      SimResult r = simulate(c, s);
      CHECK_MESSAGE(r.ok(), failures(s, r));
      CHECK(r.lost_updates == 0);
    }
  }

  TEST_CASE("one observer cut off from a healthy primary changes nothing") {
    config::Config c = test::cluster_config();
    Scenario s;
    s.duration = 60s;
    SimAction cut;
    cut.at = 5s;
    cut.kind = SimAction::Kind::CutRegion;
    cut.region = RegionId{"east"};
    cut.observers = {ObserverId{"obs-c"}};
    s.timeline = {cut};
    s.expectations = {expect(Expectation::What::Writes, 0, 0)};
    Expectation v;
    v.what = Expectation::What::Verdict;
    v.observer = ObserverId{"obs-c"};
    v.region = RegionId{"east"};
    v.is = "down";
    s.expectations.push_back(v);
    SimResult r = simulate(c, s);
    CHECK_MESSAGE(r.ok(), failures(s, r));
  }

  TEST_CASE("text and JSON output carry the timeline and the verdict") {
    config::Config c = test::cluster_config();
    Scenario s;
    s.name = "output";
    s.duration = 30s;
    s.timeline = {probe(5s, "east", ProbeReason::Refused)};
    SimResult r = simulate(c, s);
    std::string text = format_text(s, r);
    CHECK(text.find("write_accepted") != std::string::npos);
    CHECK(text.find("result: PASS") != std::string::npos);
    std::string json = format_json_lines(s, r);
    CHECK(json.find("{\"type\":\"summary\",\"scenario\":\"output\",\"ok\":true}") !=
          std::string::npos);
    CHECK(json.find("\"kind\":\"quorum_changed\"") != std::string::npos);
  }

  TEST_CASE("a failed expectation fails the run") {
    config::Config c = test::cluster_config();
    Scenario s;
    s.duration = 10s;
    s.expectations = {expect(Expectation::What::Writes, 1, std::nullopt)};
    SimResult r = simulate(c, s);
    CHECK_FALSE(r.ok());
    CHECK(r.expectations.front().actual == "0");
  }
}
