// What the core reports. Every core object returns events instead of logging or counting; the
// shell logs them, turns them into metrics, and serves them on the admin API's event stream.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/rules.h"
#include "core/types.h"

namespace failoverd::core {

enum class Health;  // core/health.h

enum class EventKind {
  EndpointChanged,    // endpoint health moved (from/to: pending|up|degraded|down)
  VerdictChanged,     // this observer's verdict on a region moved (from/to: verdict names)
  ObserverImpaired,   // this observer abstains from every verdict (rule, detail say why)
  ObserverRecovered,  // it votes again
  QuorumChanged,      // the confirmed state of a region moved (from/to: verdict names)
  LiveChanged,        // the target's live generation moved (generation, detail: members)
  PlanProposed,       // propose mode: a plan waits for approve() (generation, detail)
  PlanMade,           // a plan was handed to the actuator (generation, detail)
  PlanRefused,        // a wanted change was held back or a plan refused (rule)
  ProposalExpired,    // a pending proposal got older than max_decision_age
  ServiceFrozen,      // automation stopped (rule or detail: why)
  ServiceUnfrozen,
  TiltEntered,        // clock jump or stall: automatic actions suspended until `detail`
  TiltLeft,
  Alert,              // needs a human (rule)
};
std::string_view to_string(EventKind k);

// One event. Fields that do not apply to a kind are empty.
struct Event {
  EventKind kind = EventKind::Alert;
  TimePoint at{};
  ServiceId service;
  RegionId region;
  EndpointId endpoint;
  std::string from;  // previous state name (…Changed kinds)
  std::string to;    // new state name (…Changed kinds)
  // The same states as enums, for code that acts on them: EndpointChanged sets the health
  // pair, VerdictChanged and QuorumChanged the verdict pair.
  std::optional<Health> from_health, to_health;
  std::optional<Verdict> from_verdict, to_verdict;
  std::optional<Rule> rule;
  Generation generation = 0;
  std::string detail;  // short human text
};

// "quorum_changed region=east from=up to=down" — logfmt-style, no time (the caller adds it).
std::string describe(const Event& e);

using Events = std::vector<Event>;

// Appends `more` to `out`.
void append(Events& out, Events&& more);

}  // namespace failoverd::core
