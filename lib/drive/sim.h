// The simulator: the real core of N observers, the daemon's own service drivers
// (drive/service_driver.h, drive/observer_driver.h: stagger, plan guards at sending, reconcile
// loop, hold, live state), the vote exchange between them (with delay and partitions) and, per
// service, a fake target with its kind's semantics (rfc2136: exact prerequisites and the fence in
// one message; powerdns: compare, then the PATCH lands a tick later; haproxy and exec: one target
// per observer with its local fence), run over simulated time. Pure: a scenario in, a timeline,
// the writes, safety violations and expectation results out.
//
// Each tick (Scenario::tick), in two phases so that observers race like real ones:
//   1. every running observer runs its drivers' due operations against the fake targets (reads
//      every reconcile_interval, writes after their fresh read, read-backs), gets the peer
//      votes whose delivery time has come (stamped with the local receive time), probes its due
//      endpoints;
//   2. every running observer steps; its plans go to its drivers, which run what is due at once.
// Operations take no simulated time, except a PowerDNS PATCH (it lands at the next tick).
// Votes are published every cluster.exchange_interval to every peer the observer can reach.
// After each accepted write the safety invariants are checked (see
// SimResult::violations): never empty / below min_targets / zero weight; generations only grow
// (except on powerdns: SimResult::lost_updates); no plan older than max_decision_age is sent; no
// automatic write sent while its writer is frozen;
// at most one active region (priority); no automatic plan while frozen or in TILT; an
// automatically added region confirmed Up by a quorum of fresh votes (or confirmed Degraded, in a
// failover away from regions that are all confirmed Down and none of which stays) and a removed
// one confirmed Down (or failed back from); with failback = "manual", no region added by an
// automatic plan other than in such a failover; hold-down and flip budget respected at the
// target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/observer.h"

namespace failoverd::core {

// One scheduled change of the simulated world.
struct SimAction {
  enum class Kind {
    Probe,           // endpoints answer `outcome` from now on (to `observers`, or everyone)
    CutRegion,       // `observers` cannot reach `region` (every region when empty): timeouts
    HealRegion,      // undo CutRegion
    PartitionPeers,  // observers in different `groups` cannot exchange votes
    HealPeers,       // every observer link up again
    Isolate,         // `observers` reach nothing: regions, control endpoints, peers, target
    Heal,            // undo Isolate (and CutRegion, CutTarget) for `observers`
    CutTarget,       // `observers` cannot read or write the target: writes wait for Heal
    Stall,           // `observers` do not run for `duration` (a stopped process), then resume
    ClockJump,       // the shell of `observers` reports a clock jump
    Admin,           // `admin` at observers.front() (the first observer when empty)
  };
  Duration at{};  // since the start of the simulation
  Kind kind = Kind::Probe;
  std::vector<ObserverId> observers;  // empty: all
  RegionId region;                    // Probe, CutRegion, HealRegion; empty: all regions
  std::vector<EndpointId> endpoints;  // Probe: empty = every endpoint of `region`
  ProbeOutcome outcome;               // Probe
  std::vector<std::vector<ObserverId>> groups;  // PartitionPeers
  Duration duration{};                          // Stall
  AdminAction admin;                            // Admin
};
std::string_view to_string(SimAction::Kind k);

// A pass condition checked at the end of the run.
struct Expectation {
  enum class What {
    Writes,         // accepted writes
    Failovers,      // accepted writes that changed the set of active regions
    FailedWrites,   // writes refused by the fence (CAS) or by the guards at execution
    EventCount,     // events of kind `event` (and `rule` when set), any observer or `observer`
    Active,         // the final active region of `service` is `region`
    Verdict,        // `observer`'s final (local) verdict on `region` is `is`
    ConfirmedState, // final confirmed state of `region` at `observer` (every one when empty)
    Frozen,         // `service` frozen at `observer` (at any observer when empty): `is` "true"
    NoWriteBefore,  // no accepted write before `t`
    WriteBy,        // an accepted write at or before `t`
    Safe,           // no invariant violation (always checked; listed for readability)
  };
  What what = What::Safe;
  std::optional<std::uint64_t> min;
  std::optional<std::uint64_t> max;
  ServiceId service;  // empty: every service (counts) or the first one (Active, Frozen)
  RegionId region;
  ObserverId observer;
  std::string event;  // EventKind name, or "write_accepted" / "write_failed"
  std::string rule;   // Rule name
  std::string is;     // Verdict name, "true"/"false"
  Duration t{};       // NoWriteBefore, WriteBy
  // Writes, Failovers, FailedWrites: count only writes before this time. Writes, FailedWrites:
  // `observer` set counts only that observer's writes.
  std::optional<Duration> before;
};
std::string_view to_string(Expectation::What w);

struct Scenario {
  std::string name;
  // Observer ids. Empty: the config's observer and its cluster peers. Each simulated observer
  // runs the config with observer.id and cluster.peers set to itself and the others.
  std::vector<ObserverId> observers;
  Duration duration = std::chrono::seconds(120);
  Duration tick = std::chrono::milliseconds(250);
  Duration exchange_delay{};  // vote delivery delay between observers
  std::vector<SimAction> timeline;
  std::vector<Expectation> expectations;
};

// One line of the timeline.
struct SimRecord {
  Duration t{};
  ObserverId observer;  // empty: the world (a scenario action)
  std::string kind;     // EventKind name, "write_accepted", "write_failed", "action", "admin"
  Event event;          // the event's fields (kind aside); for writes: service, generation, detail
};

struct SimWrite {
  Duration t{};
  ObserverId writer;
  ServiceId service;
  Generation generation = 0;
  bool accepted = false;
  std::optional<Rule> refused;  // guard refusal at execution; nullopt with !accepted: fence
  Trigger trigger = Trigger::Automatic;
  std::vector<PlanMember> members;
  bool changed_active = false;
};

struct ExpectationResult {
  std::string text;    // the expectation, readable
  std::string actual;  // what was found
  bool ok = false;
};

struct SimResult {
  std::vector<SimRecord> timeline;
  std::vector<SimWrite> writes;
  std::vector<std::string> violations;  // broken safety invariants, with the time
  // Writes to a target without compare-and-swap (powerdns) that landed over another observer's
  // write of the same or a newer generation: the race that target kind leaves open.
  std::uint64_t lost_updates = 0;
  std::vector<ExpectationResult> expectations;
  std::vector<std::vector<PlanMember>> final_members;  // per service, config order
  bool ok() const;
};

struct SimOptions {
  bool record_timeline = true;   // false: only writes and violations (property tests)
  bool record_endpoints = false;  // include endpoint_changed events in the timeline
};

// Runs `scenario` against `base` (regions, services, thresholds). Pure and deterministic.
// The fake target of every service starts at generation 1 with the first region of the
// priority order (priority) or every weighted region at full weight (weighted).
SimResult simulate(const config::Config& base, const Scenario& scenario,
                   const SimOptions& options = {});

// "  12.250s obs-a quorum_changed region=east from=up to=down ..." and a summary.
std::string format_text(const Scenario& scenario, const SimResult& result);
// One JSON object per line: timeline records, then writes... then {"type":"summary",...}.
std::string format_json_lines(const Scenario& scenario, const SimResult& result);

}  // namespace failoverd::core
