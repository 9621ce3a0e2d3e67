// RttEstimator: the deadline that follows a server's round-trip time (floor, cap, doubling).
#include "actuate/rtt.h"

#include <doctest/doctest.h>

using failoverd::actuate::RttEstimator;
using namespace std::chrono_literals;

TEST_SUITE("actuate.rtt") {
  TEST_CASE("before any sample the timeout is the configured one") {
    RttEstimator e(2s);
    CHECK(e.timeout() == 2s);
    CHECK_FALSE(e.srtt());
  }

  TEST_CASE("a fast server never gets less than the configured timeout") {
    RttEstimator e(2s);
    for (int i = 0; i < 20; ++i) e.sample(10ms);
    CHECK(e.timeout() == 2s);
    REQUIRE(e.srtt());
    CHECK(*e.srtt() == 10ms);
  }

  TEST_CASE("a slow server's timeout follows its RTT, above the floor and below the cap") {
    RttEstimator e(2s, 10s);
    e.sample(3s);  // first sample: srtt 3 s, rttvar 1.5 s
    CHECK(e.timeout() == 9s);
    // Steady 2.5 s answers: the variance shrinks, the timeout settles just above the RTT.
    for (int i = 0; i < 60; ++i) e.sample(2500ms);
    CHECK(e.timeout() > 2500ms);
    CHECK(e.timeout() < 3s);
    e.sample(60s);  // a sample past the cap counts as the cap
    CHECK(e.timeout() == 10s);
  }

  TEST_CASE("each timeout doubles the next one up to the cap; an answer ends the doubling") {
    RttEstimator e(500ms, 10s);
    e.timed_out();
    CHECK(e.timeout() == 1s);
    e.timed_out();
    CHECK(e.timeout() == 2s);
    for (int i = 0; i < 40; ++i) e.timed_out();  // bounded however many
    CHECK(e.timeout() == 10s);
    e.sample(1500ms);
    CHECK(e.timeout() == 1500ms + 4 * 750ms);
  }

  TEST_CASE("a cap below the floor is the floor") {
    RttEstimator e(20s, 10s);
    CHECK(e.cap() == 20s);
    e.timed_out();
    CHECK(e.timeout() == 20s);
  }
}
