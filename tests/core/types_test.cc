#include "core/types.h"

#include <doctest/doctest.h>

#include "core/plan.h"

using namespace failoverd::core;

TEST_SUITE("core.types") {
  TEST_CASE("strong ids compare by value and never mix kinds") {
    RegionId a{"use1"}, b{"use1"}, c{"usw2"};
    CHECK(a == b);
    CHECK(a != c);
    CHECK(a < c);
    static_assert(!std::is_convertible_v<RegionId, ServiceId>);
  }

  TEST_CASE("reasons and verdicts have stable names") {
    CHECK(to_string(ProbeReason::Timeout) == "timeout");
    CHECK(to_string(ProbeReason::BodyMismatch) == "body_mismatch");
    CHECK(to_string(Verdict::Degraded) == "degraded");
    CHECK(to_string(Trigger::Manual) == "manual");
  }

  TEST_CASE("a certificate close to expiry is still a passing probe") {
    CHECK(ProbeOutcome{ProbeReason::CertExpiring, {}}.ok());
    CHECK_FALSE(ProbeOutcome{ProbeReason::Refused, {}}.ok());
  }
}
