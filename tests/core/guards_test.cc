#include "core/guards.h"

#include <doctest/doctest.h>

#include "fixtures.h"

using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

Plan plan(std::vector<PlanMember> members, Generation gen, Duration decided) {
  Plan p;
  p.service = ServiceId{"www"};
  p.base_generation = gen - 1;
  p.generation = gen;
  p.members = std::move(members);
  p.decided_at = at(decided);
  return p;
}

const PlanMember kA{RegionId{"east"}, "192.0.2.1", 1};
const PlanMember kB{RegionId{"east"}, "192.0.2.2", 1};

}  // namespace

TEST_SUITE("core.guards") {
  const GuardParams params{4, 2, 10s};

  TEST_CASE("a sound plan passes") {
    CHECK_FALSE(check_plan(plan({kA, kB}, 5, 0s), params, at(10s)));
  }

  TEST_CASE("each rule is named") {
    CHECK(check_plan(plan({}, 5, 0s), params, at(0s)) == Rule::EmptySet);
    PlanMember zero = kA;
    zero.weight = 0;
    PlanMember zero2 = kB;
    zero2.weight = 0;
    CHECK(check_plan(plan({zero, zero2}, 5, 0s), params, at(0s)) == Rule::ZeroWeight);
    CHECK(check_plan(plan({kA}, 5, 0s), params, at(0s)) == Rule::BelowMinTargets);
    CHECK(check_plan(plan({kA, kB}, 4, 0s), params, at(0s)) == Rule::StaleGeneration);
    CHECK(check_plan(plan({kA, kB}, 3, 0s), params, at(0s)) == Rule::StaleGeneration);
    CHECK(check_plan(plan({kA, kB}, 5, 0s), params, at(10001ms)) == Rule::DecisionTooOld);
  }

  TEST_CASE("rule ids are stable") {
    CHECK(to_string(Rule::EmptySet) == "empty_set");
    CHECK(to_string(Rule::BelowMinTargets) == "below_min_targets");
    CHECK(to_string(Rule::StaleGeneration) == "stale_generation");
    CHECK(to_string(Rule::DecisionTooOld) == "decision_too_old");
    CHECK(to_string(Rule::Frozen) == "frozen");
    CHECK(to_string(Rule::Tilt) == "tilt");
    CHECK(to_string(Rule::NoQuorum) == "no_quorum");
    CHECK(to_string(Rule::TargetNotConfirmedUp) == "target_not_confirmed_up");
    CHECK(to_string(Rule::FlipBudgetExhausted) == "flip_budget_exhausted");
    CHECK(to_string(Rule::HoldDown) == "hold_down");
  }
}
