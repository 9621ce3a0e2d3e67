// Plan guards: the last check before a plan reaches a target (rules empty_set, zero_weight,
// below_min_targets, stale_generation, decision_too_old).
//
// Pure and independent of the policy that made the plan: the policy runs it before handing a
// plan out, and the actuation path runs it again just before the compare-and-swap, with the
// live generation it has just read and the time of execution.
#pragma once

#include <optional>

#include "core/plan.h"
#include "core/rules.h"

namespace failoverd::core {

struct GuardParams {
  Generation live_generation = 0;  // as last read from the target's fence
  std::uint32_t min_targets = 1;   // service.min_targets (below_min_targets)
  Duration max_decision_age = std::chrono::seconds(10);
};

// The first rule the plan breaks, or nullopt when it may be written at `now`. Checked in this
// order: empty_set, zero_weight, below_min_targets, stale_generation, decision_too_old.
// Example: members {a:1}, min_targets 2 -> below_min_targets; a plan decided at t=0 executed at
// t=11s with max_decision_age 10s -> decision_too_old.
std::optional<Rule> check_plan(const Plan& plan, const GuardParams& params, TimePoint now);

}  // namespace failoverd::core
