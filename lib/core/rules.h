// Named safety rules: why the core refused or held back a plan, or raised an alert. README.md
// lists every id (table "Rule ids", under "Safety rules, in plain words").
//
// The ids (to_string) are stable: the admin API returns them in 422 responses, metrics count
// them by label, and operators grep logs for them. Never rename one; add new ones at the end.
#pragma once

#include <string_view>

namespace failoverd::core {

enum class Rule {
  EmptySet,              // "empty_set": the plan publishes nothing (never empty)
  ZeroWeight,            // "zero_weight": the members' weights add up to 0 (never empty)
  BelowMinTargets,       // "below_min_targets": fewer members than min_targets (never empty)
  StaleGeneration,       // "stale_generation": generation <= the live one (compare-and-swap)
  DecisionTooOld,        // "decision_too_old": decided_at older than max_decision_age
  Frozen,                // "frozen": automation of the service is frozen
  Tilt,                  // "tilt": clock jump or loop stall: automatic actions suspended
  NoQuorum,              // "no_quorum": the active region's state is not confirmed (fail static)
  TargetNotConfirmedUp,  // "target_not_confirmed_up": no standby the quorum sees up or degraded
  FlipBudgetExhausted,   // "flip_budget_exhausted": too many automatic flips in the window
  HoldDown,              // "hold_down": too soon after the last flip (slow to panic)
  AllRegionsDown,        // "all_regions_down": fail static
  ObserverImpaired,      // "observer_impaired": this observer abstains
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
