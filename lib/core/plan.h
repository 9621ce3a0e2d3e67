// A plan: the desired routing of one service at one generation, and the evidence behind it.
//
// The policy (core) produces plans; guards (core) refuse unsafe ones; actuators (lib/actuate)
// write exactly `members` to the target, compare-and-swapping the fence from `base_generation`
// to `generation`. Actuators never add, drop or reweigh members themselves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace failoverd::core {

// One thing published: a DNS RDATA value ("192.0.2.10"), an HAProxy server name, ...
// `weight` is relative among members of the plan; in priority mode every member has weight 1.
struct PlanMember {
  RegionId region;
  std::string value;
  std::uint32_t weight = 1;
  bool operator==(const PlanMember&) const = default;
};

// True when both hold the same members, in any order (targets do not keep an order).
bool same_members(std::vector<PlanMember> a, std::vector<PlanMember> b);
// The regions of `members` in first-seen order, without repeats.
std::vector<RegionId> regions_of(const std::vector<PlanMember>& members);
// "east:192.0.2.1*1,west:198.51.100.1*1", or "(empty)": for logs and the simulator's timeline.
std::string describe(const std::vector<PlanMember>& members);

enum class Trigger { Automatic, Manual, Restore };
std::string_view to_string(Trigger t);

// One observer's vote on one region as received here (receive time is local and monotonic).
struct Vote {
  ObserverId observer;
  RegionId region;
  Verdict verdict = Verdict::Unknown;
  TimePoint received{};
};

struct Plan {
  ServiceId service;
  Generation base_generation = 0;  // the live generation the decision was made against
  Generation generation = 0;       // base_generation + 1
  std::vector<RegionId> active;    // priority mode: exactly one region; weighted: those with weight
  std::vector<PlanMember> members;  // what the target must hold after the write
  Trigger trigger = Trigger::Automatic;
  std::string reason;            // human-readable: "primary use1 confirmed down by obs-a,obs-b"
  std::vector<Vote> evidence;    // the votes the decision was made from
  TimePoint decided_at{};        // for max_decision_age
};

}  // namespace failoverd::core
