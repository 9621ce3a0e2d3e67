#include "core/backoff.h"

#include <doctest/doctest.h>

using namespace failoverd::core;
using namespace std::chrono_literals;

TEST_SUITE("core.backoff") {
  TEST_CASE("delays stay under the doubling ceiling and never pass the cap") {
    BackoffPolicy p{100ms, 2s};
    std::mt19937_64 rng(7);
    for (std::uint32_t attempt = 0; attempt < 100; ++attempt) {
      Duration ceiling = attempt < 5 ? Duration(100ms) * (1 << attempt) : Duration(2s);
      for (int i = 0; i < 50; ++i) {
        Duration d = backoff_delay(p, attempt, rng);
        CHECK(d >= Duration::zero());
        CHECK(d <= ceiling);
      }
    }
  }

  TEST_CASE("full jitter spreads retries over the whole window") {
    BackoffPolicy p{1s, 1s};
    std::mt19937_64 rng(1);
    Duration lo = 1s, hi = 0s;
    for (int i = 0; i < 1000; ++i) {
      Duration d = backoff_delay(p, 0, rng);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    CHECK(lo < 100ms);
    CHECK(hi > 900ms);
  }

  TEST_CASE("the same seed gives the same schedule") {
    std::mt19937_64 a(42), b(42);
    for (std::uint32_t n = 0; n < 10; ++n) CHECK(backoff_delay({}, n, a) == backoff_delay({}, n, b));
  }
}
