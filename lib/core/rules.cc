#include "core/rules.h"

namespace failoverd::core {

std::string_view to_string(Rule r) {
  switch (r) {
    case Rule::EmptySet: return "empty_set";
    case Rule::ZeroWeight: return "zero_weight";
    case Rule::BelowMinTargets: return "below_min_targets";
    case Rule::StaleGeneration: return "stale_generation";
    case Rule::DecisionTooOld: return "decision_too_old";
    case Rule::Frozen: return "frozen";
    case Rule::Tilt: return "tilt";
    case Rule::NoQuorum: return "no_quorum";
    case Rule::TargetNotConfirmedUp: return "target_not_confirmed_up";
    case Rule::FlipBudgetExhausted: return "flip_budget_exhausted";
    case Rule::HoldDown: return "hold_down";
    case Rule::AllRegionsDown: return "all_regions_down";
    case Rule::ObserverImpaired: return "observer_impaired";
    case Rule::TargetConfirmedDown: return "target_confirmed_down";
    case Rule::UnknownRegion: return "unknown_region";
    case Rule::NoPendingProposal: return "no_pending_proposal";
    case Rule::LiveUnknown: return "live_unknown";
    case Rule::Pinned: return "pinned";
    case Rule::UnknownService: return "unknown_service";
    case Rule::TargetSuspect: return "target_suspect";
  }
  return "unknown_rule";
}

}  // namespace failoverd::core
