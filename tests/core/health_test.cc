#include "core/health.h"

#include <doctest/doctest.h>

#include <string>

#include "fixtures.h"

using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

char letter(Health h) {
  switch (h) {
    case Health::Pending: return 'P';
    case Health::Up: return 'U';
    case Health::Degraded: return 'G';
    case Health::Down: return 'D';
  }
  return '?';
}

// Script: '+' ok, '-' timeout, 's' slow success (900ms), 'c' success with an expiring cert.
// One probe per second from t0; returns the state after each probe.
std::string run(HealthTracker& t, std::string_view script, Duration start = 0s) {
  std::string states;
  Duration now = start;
  for (char c : script) {
    ProbeOutcome o{ProbeReason::Ok, 10ms};
    if (c == '-') o = {ProbeReason::Timeout, 1s};
    if (c == 's') o = {ProbeReason::Ok, 900ms};
    if (c == 'c') o = {ProbeReason::CertExpiring, 10ms};
    t.observe(o, at(now));
    states += letter(t.state());
    now += 1s;
  }
  return states;
}

HealthParams params(std::uint32_t rise, std::uint32_t fall, std::uint32_t forgive = 0) {
  HealthParams p;
  p.rise = rise;
  p.fall = fall;
  p.forgive_after = forgive;
  p.interval = 5s;
  p.fast_interval = 1s;
  p.down_interval = 30s;
  p.degraded_latency = 500ms;
  return p;
}

}  // namespace

TEST_SUITE("core.health") {
  TEST_CASE("a new endpoint is pending until rise successes or fall failures") {
    HealthTracker up(params(2, 3), at(0s));
    CHECK(up.state() == Health::Pending);
    CHECK(run(up, "++") == "PU");
    HealthTracker down(params(2, 3), at(0s));
    CHECK(run(down, "---") == "PPD");
    HealthTracker mixed(params(2, 3), at(0s));
    CHECK(run(mixed, "+-+-+---") == "PPPPPPPD");
  }

  TEST_CASE("the worked example of health.h holds") {
    HealthTracker haproxy(params(2, 3, 0), at(0s));
    CHECK(run(haproxy, "++--+---") == "PUUUUUUD");
    HealthTracker gdnsd(params(2, 3, 3), at(0s));
    CHECK(run(gdnsd, "++--+-") == "PUUUUD");
  }

  TEST_CASE("forgive_after successes in a row forget earlier failures (gdnsd ok_thresh)") {
    HealthTracker t(params(1, 3, 2), at(0s));
    CHECK(run(t, "+--++--++-") == "UUUUUUUUUU");
    HealthTracker u(params(1, 3, 2), at(0s));
    CHECK(run(u, "+--+-") == "UUUUD");
  }

  TEST_CASE("a down endpoint needs rise successes in a row to come back") {
    HealthTracker t(params(3, 1), at(0s));
    CHECK(run(t, "-++-+++") == "DDDDDDU");
  }

  TEST_CASE("slow successes and expiring certificates degrade an up endpoint") {
    HealthTracker t(params(1, 2), at(0s));
    CHECK(run(t, "+s+c+") == "UGUGU");
    HealthTracker pending(params(2, 2), at(0s));
    CHECK(run(pending, "ss") == "PG");
  }

  TEST_CASE("observe reports unchanged, changed or pending") {
    HealthTracker t(params(2, 2), at(0s));
    auto o = [&](ProbeReason r, Duration when) { return t.observe({r, 10ms}, at(when)); };
    Transition tr = o(ProbeReason::Ok, 0s);
    CHECK(tr.kind == Transition::Kind::Pending);
    tr = o(ProbeReason::Ok, 1s);
    CHECK(tr.kind == Transition::Kind::Changed);
    CHECK(tr.from == Health::Pending);
    CHECK(tr.to == Health::Up);
    CHECK(o(ProbeReason::Ok, 2s).kind == Transition::Kind::Unchanged);
    CHECK(o(ProbeReason::Refused, 3s).kind == Transition::Kind::Pending);
    tr = o(ProbeReason::Refused, 4s);
    CHECK(tr.kind == Transition::Kind::Changed);
    CHECK(tr.to == Health::Down);
    CHECK(o(ProbeReason::Refused, 5s).kind == Transition::Kind::Unchanged);
  }

  TEST_CASE("intervals follow the state: fast while pending or suspect, slow while down") {
    HealthTracker t(params(2, 2), at(0s));
    CHECK(t.next_due() == at(0s));
    CHECK(t.next_interval() == 1s);  // pending
    run(t, "++");
    CHECK(t.state() == Health::Up);
    CHECK(t.next_interval() == 5s);
    CHECK(t.next_due() == at(1s + 5s));
    run(t, "-", 2s);
    CHECK(t.suspect());
    CHECK(t.next_interval() == 1s);
    CHECK(t.next_due() == at(3s));
    run(t, "-", 3s);
    CHECK(t.state() == Health::Down);
    CHECK(t.next_interval() == 30s);
    run(t, "+", 4s);
    CHECK(t.next_interval() == 1s);  // recovering: confirm quickly
  }

  TEST_CASE("zero intervals fall back to interval and zero rise/fall act as one") {
    HealthParams p;
    p.rise = 0;
    p.fall = 0;
    p.interval = 2s;
    HealthTracker t(p, at(0s));
    CHECK(run(t, "+-+") == "UDU");
    CHECK(t.next_interval() == 2s);
  }
}
