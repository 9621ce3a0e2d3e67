#include "core/guards.h"

namespace failoverd::core {

std::optional<Rule> check_plan(const Plan& plan, const GuardParams& params, TimePoint now) {
  if (plan.members.empty()) return Rule::EmptySet;
  std::uint64_t total = 0;
  for (const auto& m : plan.members) total += m.weight;
  if (total == 0) return Rule::ZeroWeight;
  if (plan.members.size() < params.min_targets) return Rule::BelowMinTargets;
  if (plan.generation <= params.live_generation) return Rule::StaleGeneration;
  if (now - plan.decided_at > params.max_decision_age) return Rule::DecisionTooOld;
  return std::nullopt;
}

}  // namespace failoverd::core
