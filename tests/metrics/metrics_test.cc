#include "metrics/metrics.h"

#include <doctest/doctest.h>

using namespace failoverd;
using namespace std::chrono_literals;

namespace {
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}
}  // namespace

TEST_SUITE("metrics") {
  TEST_CASE("a probe result lands in its region's histogram and its endpoint's reason counter") {
    metrics::Metrics m;
    auto& e = m.endpoint("east-1", "east", "http");
    e.probe_finished(core::ProbeReason::Ok, 3ms);
    e.probe_finished(core::ProbeReason::Timeout, 1s);
    e.probe_finished(core::ProbeReason::Timeout, 1s);
    e.set_up(true);
    auto text = m.scrape();
    CHECK(has_line(text, R"(failoverd_probe_results_total{endpoint="east-1",kind="http",reason="timeout",region="east"} 2)"));
    CHECK(has_line(text, R"(failoverd_probe_results_total{endpoint="east-1",kind="http",reason="ok",region="east"} 1)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_count{kind="http",region="east"} 3)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_bucket{kind="http",region="east",le="0.005"} 1)"));
    // One histogram per region and probe kind, not per endpoint.
    m.endpoint("east-2", "east", "http").probe_finished(core::ProbeReason::Ok, 3ms);
    m.endpoint("east-3", "east", "tcp").probe_finished(core::ProbeReason::Ok, 3ms);
    text = m.scrape();
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_count{kind="http",region="east"} 4)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_count{kind="tcp",region="east"} 1)"));
    CHECK(text.find(R"(failoverd_probe_duration_seconds_count{endpoint=)") == std::string::npos);
    CHECK(has_line(text, R"(failoverd_endpoint_up{endpoint="east-1",kind="http",region="east"} 1)"));
  }

  TEST_CASE("endpoint series are written as prometheus-cpp wrote them") {
    metrics::Metrics m;
    CHECK(m.scrape().find("failoverd_endpoint_up") == std::string::npos);  // no series, no family
    auto& e = m.endpoint("a\"b\\c\nd", "west", "tcp");
    auto text = m.scrape();
    CHECK(has_line(text, "# TYPE failoverd_probe_duration_seconds histogram"));
    CHECK(has_line(text, "# TYPE failoverd_endpoint_up gauge"));
    CHECK(has_line(text, R"(failoverd_endpoint_up{endpoint="a\"b\\c\nd",kind="tcp",region="west"} 0)"));
    CHECK(text.find("failoverd_probe_results_total") == std::string::npos);  // none finished yet
    e.probe_finished(core::ProbeReason::Ok, 1ms);      // on a bucket's bound: in that bucket
    e.probe_finished(core::ProbeReason::Refused, 7s);  // past the last bound: only in +Inf
    text = m.scrape();
    CHECK(has_line(text, "# TYPE failoverd_probe_results_total counter"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_count{kind="tcp",region="west"} 2)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_sum{kind="tcp",region="west"} 7.001)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_bucket{kind="tcp",region="west",le="0.001"} 1)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_bucket{kind="tcp",region="west",le="0.0025"} 1)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_bucket{kind="tcp",region="west",le="5"} 1)"));
    CHECK(has_line(text, R"(failoverd_probe_duration_seconds_bucket{kind="tcp",region="west",le="+Inf"} 2)"));
    CHECK(has_line(text, R"(failoverd_probe_results_total{endpoint="a\"b\\c\nd",kind="tcp",reason="refused",region="west"} 1)"));
    CHECK(text.find(R"(reason="timeout")") == std::string::npos);
  }

  TEST_CASE("asking for an endpoint twice gives the same series") {
    metrics::Metrics m;
    CHECK(&m.endpoint("a", "r", "tcp") == &m.endpoint("a", "r", "tcp"));
    CHECK(&m.endpoint("a", "r", "tcp") != &m.endpoint("b", "r", "tcp"));
  }

  TEST_CASE("switching a service's active region clears the old one") {
    metrics::Metrics m;
    m.service_state("www", "east", 4, false);
    m.service_state("www", "west", 5, true);
    auto text = m.scrape();
    CHECK(has_line(text, R"(failoverd_service_active_region{region="east",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_service_active_region{region="west",service="www"} 1)"));
    CHECK(has_line(text, R"(failoverd_service_generation{service="www"} 5)"));
    CHECK(has_line(text, R"(failoverd_service_frozen{service="www"} 1)"));
  }

  TEST_CASE("verdicts, refusals, failovers and writes are labelled by what they are about") {
    metrics::Metrics m;
    m.region_verdict("east", "obs-b", core::Verdict::Down);
    m.quorum_state("east", core::Verdict::Down);
    m.plan_refused("www", "empty_set");
    m.failover("www", core::Trigger::Manual);
    m.actuator_write("www", "rfc2136", "conflict", "NXRRSET");
    auto text = m.scrape();
    CHECK(has_line(text, R"(failoverd_region_verdict{observer="obs-b",region="east"} 3)"));
    CHECK(has_line(text, R"(failoverd_region_confirmed_state{region="east"} 3)"));
    CHECK(has_line(text, R"(failoverd_plans_refused_total{rule="empty_set",service="www"} 1)"));
    CHECK(has_line(text, R"(failoverd_failovers_total{service="www",trigger="manual"} 1)"));
    CHECK(has_line(text, R"(failoverd_actuator_writes_total{rcode="NXRRSET",service="www",status="conflict",target="rfc2136"} 1)"));
  }

  TEST_CASE("a service's failover and refusal counters exist at 0 before the first one") {
    // A counter series that first appears at 1 shows no increase() in Prometheus: the shipped
    // alerts on failovers and refusals would miss the first one.
    metrics::Metrics m;
    m.service_counters("www");
    auto text = m.scrape();
    CHECK(has_line(text, R"(failoverd_failovers_total{service="www",trigger="automatic"} 0)"));
    CHECK(has_line(text, R"(failoverd_failovers_total{service="www",trigger="manual"} 0)"));
    CHECK(has_line(text, R"(failoverd_failovers_total{service="www",trigger="restore"} 0)"));
    CHECK(has_line(text, R"(failoverd_plans_refused_total{rule="empty_set",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_plans_refused_total{rule="all_regions_down",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_plans_refused_total{rule="target_suspect",service="www"} 0)"));
    CHECK(text.find("unknown_rule") == std::string::npos);
    m.failover("www", core::Trigger::Automatic);
    m.service_counters("www");  // again (a reload): the counts stay
    text = m.scrape();
    CHECK(has_line(text, R"(failoverd_failovers_total{service="www",trigger="automatic"} 1)"));
  }

  TEST_CASE("fail-static and impairment gauges: 0 from the start, 1 for the holding rule only") {
    metrics::Metrics m;
    m.service_counters("www");
    auto text = m.scrape();
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="no_quorum",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="all_regions_down",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="target_not_confirmed_up",service="www"} 0)"));
    m.fail_static("www", core::Rule::NoQuorum);
    text = m.scrape();
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="no_quorum",service="www"} 1)"));
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="all_regions_down",service="www"} 0)"));
    m.fail_static("www", core::Rule::AllRegionsDown);
    text = m.scrape();
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="no_quorum",service="www"} 0)"));
    CHECK(has_line(text, R"(failoverd_service_fail_static{rule="all_regions_down",service="www"} 1)"));
    m.fail_static("www", std::nullopt);
    CHECK(has_line(m.scrape(), R"(failoverd_service_fail_static{rule="all_regions_down",service="www"} 0)"));
    m.observer_impaired(true);
    CHECK(has_line(m.scrape(), "failoverd_observer_impaired 1"));
    m.observer_impaired(false);
    CHECK(has_line(m.scrape(), "failoverd_observer_impaired 0"));
  }

  TEST_CASE("the TILT gauge follows what it is told") {
    metrics::Metrics m;
    m.tilt(true);
    CHECK(has_line(m.scrape(), "failoverd_tilt 1"));
    m.tilt(false);
    CHECK(has_line(m.scrape(), "failoverd_tilt 0"));
  }
}
