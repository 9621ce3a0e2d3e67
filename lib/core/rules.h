// Named safety rules: why the core refused or held back a plan, or raised an alert.
//
// The ids (to_string) are stable: the admin API returns them in 422 responses, metrics count
// them by label, and operators grep logs for them. Never rename one; add new ones at the end.
#pragma once

#include <string_view>

namespace failoverd::core {

enum class Rule {
  EmptySet,              // "empty_set": the plan publishes nothing (W1)
  ZeroWeight,            // "zero_weight": the members' weights add up to 0 (W1)
  BelowMinTargets,       // "below_min_targets": fewer members than service.min_targets (W1)
  StaleGeneration,       // "stale_generation": generation <= the live one (W4)
  DecisionTooOld,        // "decision_too_old": decided_at older than max_decision_age (W7)
  Frozen,                // "frozen": automation of the service is frozen
  Tilt,                  // "tilt": clock jump or loop stall, automatic actions suspended (D6)
  NoQuorum,              // "no_quorum": the active region's state is not confirmed (D1, D3)
  TargetNotConfirmedUp,  // "target_not_confirmed_up": no standby the quorum sees up (D4)
  FlipBudgetExhausted,   // "flip_budget_exhausted": too many automatic flips in the window (D5)
  HoldDown,              // "hold_down": too soon after the last flip (D5)
  AllRegionsDown,        // "all_regions_down": fail static (D3)
  ObserverImpaired,      // "observer_impaired": this observer abstains (D2)
  TargetConfirmedDown,   // "target_confirmed_down": manual failover to a down region without force
  UnknownRegion,         // "unknown_region": the region is not part of the service
  NoPendingProposal,     // "no_pending_proposal": approve() with nothing to approve
  LiveUnknown,           // "live_unknown": the live generation has not been read yet (nothing is written before it is)
  Pinned,                // "pinned": an operator pinned the service to a region
  UnknownService,        // "unknown_service": an operator action names no configured service
  TargetSuspect,         // "target_suspect": the standby is confirmed up but failing probes here
};
std::string_view to_string(Rule r);

}  // namespace failoverd::core
