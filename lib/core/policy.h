// Failover policy of one service: from the confirmed region states (quorum.h) to a plan, with
// every pacing and safety rule (README "Safety rules, in plain words": fail static, slow to
// panic) and the operator's overrides.
//
// Priority policy (service.regions in order):
//   - the active region is the one the live target publishes; while it is confirmed Up or
//     Degraded nothing changes (a degraded region still serves);
//   - when it is confirmed Down, fail over to the first other region confirmed Up, or if there
//     is none, to the first one confirmed Degraded (a degraded region still serves, the dead
//     one does not). None: fail static, PlanRefused + Alert target_not_confirmed_up;
//   - when it is Unknown (no quorum either way): fail static, no_quorum. When every region
//     is confirmed Down: all_regions_down;
//   - failback (failback = "auto" only, and not after a manual failover): to a region earlier in
//     the order that has been confirmed Up continuously for failback_delay. "After a manual
//     failover": the live generation's fence says an operator moved it away from the primary,
//     through this observer or any other (set_live), until an operator's move back to the
//     primary (failback) or an unpin (a pin's move holds only while pinned).
// Weighted policy (service.weights): Up region -> its weight; Degraded -> weight *
//   degraded_weight_factor if it already serves, else 0; Down -> 0; a serving region that is
//   Unknown freezes the whole decision (no_quorum). A region that does not serve is added back
//   (a failback) only when confirmed Up, and only with failback = "auto" once it has been
//   confirmed Up continuously for failback_delay (not after a manual failover); with failback =
//   "manual" only by the operator's failback(). When no serving region would stay, that is a
//   failover: every region confirmed Up is added, or if there is none, every one confirmed
//   Degraded, whatever failback says.
//   Member weights are integers: each region's share of 100, split over its published values,
//   at least 1. Example: weights {a:3, b:1}, b degraded (factor 0.5), one value each ->
//   a = round(100 * 3 / 3.5) = 86, b = round(100 * 0.5 / 3.5) = 14.
// Pacing, in order, for an automatic change: pinned, frozen, tilt, a plan already in flight
//   (waits silently), hold_down after the last flip of the live target (any trigger),
//   flip_budget automatic flips per flip_window (exceeded: the service freezes itself, alert),
//   then the plan guards (guards.h). Refusals are reported once per change of reason.
// Mode propose: the plan is kept as pending() until approve(); it expires after
//   max_decision_age. Approving is refused while frozen or in TILT.
// Manual actions (failover, failback, pin) bypass pacing, TILT and freeze, but not the guards;
//   failover to a region confirmed Down needs force.
//
// Flips are learned from set_live(): the generation the live target holds. Every plan has
// base_generation = live generation and generation = live + 1. Generations skipped between two
// reads count as automatic flips seen at the second read, and so does the first read of a
// generation above 1 (after a restart the time of the last flip is unknown: assume it was just
// now). Learning late is the safe side for hold-down and budget. Not thread-safe.
#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/events.h"
#include "core/guards.h"
#include "core/plan.h"
#include "core/quorum.h"

namespace failoverd::core {

// The members a service publishes for the given regions, in the given order. Priority policy:
// every value of each region with weight 1. Weighted policy: region shares scaled to 100,
// split evenly over the region's values, rounded, at least 1 each. Regions without published
// values contribute nothing; shares <= 0 in total give no members.
std::vector<PlanMember> publish_members(const config::Service& service,
                                        const std::vector<std::pair<RegionId, double>>& shares);

// What the target holds now, as read back by the actuator/reconciler.
struct LiveState {
  Generation generation = 0;
  std::vector<PlanMember> members;
  // How the live generation was written, when the fence records it. Unknown: Automatic, so
  // that it counts against the flip budget.
  Trigger trigger = Trigger::Automatic;
};

// The outcome of decide() or of an operator action.
struct Decision {
  std::optional<Plan> plan;     // to hand to the actuator (which re-checks the guards)
  std::optional<Rule> refused;  // why no plan, when a change was wanted or asked for
  Events events;
  // Regions this observer should probe at once: the plan waits to see one of them serving
  // (target_suspect). Asked once per wait, so it costs at most one extra probe per endpoint.
  std::vector<RegionId> probe_now;
};

class ServicePolicy {
 public:
  ServicePolicy(config::Service service, const config::Observer& observer);

  // The live target's state as read at `now`. The first call sets it; a later higher generation
  // with different members counts as a flip (for hold-down and, if automatic, the budget).
  // A lower generation than the one held is ignored.
  Events set_live(const LiveState& live, TimePoint now);

  // What this policy knows of the target's past: the generation last read and the flips it
  // counted. A restart carries it in the state file, a reload from the previous engine; given
  // with restore_history() before the first set_live(), the first read then counts only the
  // writes after `generation` (each an automatic flip learned now, the safe side) and arms
  // hold-down only if there was one. Without it, the first read of a generation above 1 is
  // taken as one flip just now, since when it was written is unknown.
  struct History {
    Generation generation = 0;  // 0: nothing known
    std::optional<TimePoint> last_flip;
    std::vector<TimePoint> automatic_flips;  // oldest first, at most flip_budget + 1
    bool operator==(const History&) const = default;
  };
  History history() const;
  // Ignored once the live state is known.
  void restore_history(const History& history);

  // The automatic decision at `now` from the confirmed states. Call it after every quorum
  // evaluation; it is cheap when nothing changes.
  // `local`: what this observer's own probes say now (ObserverEngine always passes it; nullopt
  // leaves these checks out). Automatic changes never move traffic to a region that is
  //   - suspect here (failing probes, short of `fall`): not as a failover target, not as a
  //     failback target, not as a weighted addition;
  //   - or, for a failover, not seen serving here since the active region was confirmed down
  //     (a probe that started after that moment succeeded on enough of its endpoints): the
  //     policy waits for that region's next probe rather than pass it over for a later one,
  // even if the quorum confirms it up: when every region dies within one probe interval, a
  // standby is still confirmed up for a moment after it died. The plan waits (rule
  // target_suspect, no alert) until its next probes tell; it asks for them at once
  // (Decision::probe_now), so the wait is one probe of the standby, not one interval. Operators'
  // actions ignore this.
  struct LocalEvidence {
    std::set<RegionId> suspects;                 // LocalView::suspects()
    std::map<RegionId, TimePoint> seen_serving;  // LocalView::seen_serving()
  };
  Decision decide(const Confirmed& confirmed, TimePoint now,
                  const std::optional<LocalEvidence>& local = std::nullopt);

  // The shell saw a clock jump or an event-loop stall: suspend automatic actions for
  // observer.tilt_period from `now` (extended by each new report).
  Events enter_tilt(TimePoint now);

  // Operator overrides. Each returns the plan to write, if any, or the rule that refused it.
  Decision freeze(const std::string& reason, TimePoint now);
  Decision unfreeze(TimePoint now);
  // Moves the service to `region`. config::kNoRegion ("none", a name no region may have) asks
  // for every region off: that plan publishes nothing and the never-empty guard refuses it
  // (empty_set), forced or not, like any plan that would empty the record set.
  Decision failover(const RegionId& region, bool force, const Confirmed& confirmed,
                    TimePoint now);
  Decision failback(bool force, const Confirmed& confirmed, TimePoint now);
  Decision pin(const RegionId& region, bool force, const Confirmed& confirmed, TimePoint now);
  Decision unpin(TimePoint now);
  Decision approve(TimePoint now);
  // A pin persisted before a restart: set again without a plan (the live target, re-read, says
  // where the service is; the pin only stops automatic changes). An unknown region is ignored.
  void restore_pin(const RegionId& region);

  const config::Service& service() const { return service_; }
  bool frozen() const { return frozen_; }
  const std::string& frozen_reason() const { return frozen_reason_; }
  bool in_tilt(TimePoint now) const { return tilt_until_ && now < *tilt_until_; }
  const std::optional<Plan>& pending() const { return pending_; }
  const std::optional<RegionId>& pinned() const { return pinned_; }
  bool live_known() const { return live_known_; }
  const LiveState& live() const { return live_; }
  // The rule that holds the service where it is although a change may be needed (fail static):
  // no_quorum (once a quorum has existed), all_regions_down or target_not_confirmed_up, as of
  // the last decide(); nullopt while the service is where it should be or only paced.
  std::optional<Rule> fail_static() const;
  // The regions the live target publishes, in member order, without repeats.
  std::vector<RegionId> active() const;
  // The earliest future time at which decide() may act differently without new input (tilt
  // end, hold-down end, failback delay, proposal or in-flight expiry); max() if none.
  TimePoint next_due(TimePoint now) const;

 private:
  struct Wanted {
    std::optional<Rule> blocked;  // the situation forbids any automatic change
    bool change = false;
    std::vector<PlanMember> members;
    std::vector<RegionId> active;
    std::string reason;
    std::vector<Vote> evidence;
    // Waiting to see this standby serving since `current` was confirmed down at `since`.
    std::optional<std::pair<RegionId, TimePoint>> awaiting;
  };

  // Weighted policy: when a region confirmed Up that does not serve now may be added back (a
  // failback). Whatever this says, regions are added when nothing serving would stay (a
  // failover).
  enum class Additions {
    Never,               // failback = "manual", or after a manual failover: wait for failback()
    AfterFailbackDelay,  // failback = "auto": once confirmed Up for failback_delay
    Now,                 // the operator's failback
  };
  Wanted want_priority(const Confirmed& c, TimePoint now) const;
  Wanted want_weighted(const Confirmed& c, TimePoint now, Additions additions) const;
  bool up_for_failback_delay(const RegionId& region, TimePoint now) const;
  Plan make_plan(Wanted w, Trigger trigger, TimePoint now) const;
  Decision hand_out(Plan plan, TimePoint now);
  Decision refuse(Decision d, Rule rule, TimePoint now);
  bool in_service(const RegionId& region) const;
  std::size_t flips_in_window(TimePoint now);
  Event event(EventKind kind, TimePoint now) const;

  config::Service service_;
  Duration tilt_period_;
  std::optional<History> baseline_;  // restore_history(), until the first read
  bool live_known_ = false;
  LiveState live_;
  bool frozen_ = false;
  std::string frozen_reason_;
  std::optional<TimePoint> tilt_until_;
  std::optional<RegionId> pinned_;
  bool manual_hold_ = false;  // a manual failover suspends automatic failback
  std::optional<TimePoint> last_flip_;
  std::deque<TimePoint> automatic_flips_;
  std::optional<Plan> pending_;    // propose mode
  std::optional<Plan> in_flight_;  // handed out, not yet seen live
  std::optional<Rule> last_refusal_;
  bool seen_quorum_ = false;  // no_quorum only alerts once a quorum has existed (not at start)
  std::map<RegionId, TimePoint> up_since_;
  const LocalEvidence* local_ = nullptr;  // what decide() was given, while it runs; else null
  std::map<RegionId, TimePoint> down_since_;  // first seen confirmed down, while it stays so
  // The wait for which a probe was last asked (Decision::probe_now): never asked twice.
  std::optional<std::pair<RegionId, TimePoint>> probe_asked_;
  bool suspect(const RegionId& region) const {
    return local_ && local_->suspects.count(region) != 0;
  }
  // Weighted policy: the inputs of the last decision that wanted no change. The wanted set only
  // depends on them, so an unchanged key skips rebuilding and comparing the member list.
  struct QuietKey {
    std::vector<Verdict> states;
    std::vector<bool> settled;  // up_for_failback_delay() of each weighted region
    std::set<RegionId> suspects;
    Generation generation = 0;
    bool manual_hold = false;
    bool operator==(const QuietKey&) const = default;
  };
  std::optional<QuietKey> quiet_;
};

}  // namespace failoverd::core
