// One observer's whole decision core: endpoint trackers and local verdicts (region.h), the
// quorum over its own and its peers' votes (quorum.h), and a policy per service (policy.h).
//
// The daemon's runtime and the simulator drive it the same way:
//   probe every endpoint in due(now)  -> observe(endpoint, outcome, now)
//   each peer message                 -> receive(vote, LOCAL receive time)
//   each fence read-back              -> set_live(service, live, now)
//   then step(now)                    -> events and plans; publish votes(now) to the peers
// and arm one timer for next_due(). Not thread-safe; owned by one strand.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/events.h"
#include "core/policy.h"
#include "core/quorum.h"
#include "core/region.h"

namespace failoverd::core {

// An operator action from the admin API (already authenticated and journaled by the shell).
struct AdminAction {
  enum class Kind { Freeze, Unfreeze, Failover, Failback, Approve, Pin, Unpin };
  Kind kind = Kind::Freeze;
  ServiceId service;
  RegionId region;  // Failover, Pin
  bool force = false;
  std::string reason;  // Freeze
};
std::string_view to_string(AdminAction::Kind k);

// What one step produced.
struct StepResult {
  Events events;
  std::vector<Plan> plans;  // to hand to the actuators, one per service at most
  // Endpoints to probe at once, out of their turn: a policy waits to see their region serving
  // (Decision::probe_now, once per wait), or another endpoint of their region just started
  // failing (LocalView::take_probe_now, at most once per interval each). The shell starts each
  // now, or right after its probe in flight.
  std::vector<EndpointId> probe_now;
};

class ObserverEngine {
 public:
  // Keeps its own copy of `cfg`; the first probes are due at `start`.
  ObserverEngine(config::Config cfg, TimePoint start);
  // The same on a config shared with its owner instead of a copy (the daemon's engine and core
  // hold one: a copy is about 0.9 KB per endpoint). `cfg` is never null.
  ObserverEngine(std::shared_ptr<const config::Config> cfg, TimePoint start);

  const ObserverId& id() const { return cfg_->observer.id; }
  const config::Config& config() const { return *cfg_; }

  std::vector<EndpointId> due(TimePoint now) const { return view_.due(now); }
  Events observe(const EndpointId& endpoint, const ProbeOutcome& outcome, TimePoint now);
  // A peer's vote, received here at `received` (local monotonic time; its own `received` field
  // is ignored: a peer's clock means nothing here).
  void receive(const Vote& vote, TimePoint received) {
    quorum_.record(vote.observer, vote.region, vote.verdict, received);
  }
  // Loop lateness measured by the shell: above observer.max_loop_lag this observer abstains and
  // enters TILT.
  Events report_loop_lag(Duration lag, TimePoint now);
  // A clock jump detected by the shell: TILT.
  Events report_clock_jump(TimePoint now);
  // The target's live state of a service, as read back. Unknown services are ignored.
  Events set_live(const ServiceId& service, const LiveState& live, TimePoint now);

  // Recomputes verdicts, records them as this observer's own votes, evaluates the quorum and
  // lets every service's policy decide.
  StepResult step(TimePoint now);
  // This observer's current verdicts as votes stamped `now` (what it sends to peers).
  std::vector<Vote> votes(TimePoint now) const;
  // An operator action on one service.
  Decision admin(const AdminAction& action, TimePoint now);
  // A persisted pin, set again after a restart without a plan (ServicePolicy::restore_pin).
  void restore_pin(const ServiceId& service, const RegionId& region);
  // A service's persisted history, before its first read (ServicePolicy::restore_history).
  void restore_history(const ServiceId& service, const ServicePolicy::History& history);

  // A reload: carries over what `old` (the engine of the previous configuration) knows, for
  // everything whose definition did not change: the health of every endpoint defined alike in a
  // region of the same name (its rise/fall streak and next due time included), the verdicts,
  // the peers' votes on regions defined alike, and the policy of every service defined alike
  // (live state, holds, proposal, flip history; the observer's tilt_period too). A changed
  // service starts fresh but keeps its flip history. What is new starts as at a start.
  // Returns the endpoints whose health was kept.
  std::set<EndpointId> adopt(const ObserverEngine& old);

  const LocalView& view() const { return view_; }
  const Quorum& quorum() const { return quorum_; }
  // nullptr when the service is not configured.
  const ServicePolicy* policy(const ServiceId& service) const;
  // The earliest time something is due (a probe, a vote expiry, a policy timer).
  TimePoint next_due(TimePoint now) const;
  // The same without the probes: when a step may decide differently with no new probe result
  // (a vote expiry, a policy timer, the end of a loop-lag TILT). A shell whose prober keeps its
  // own schedule (the daemon) arms its step timer for this.
  TimePoint next_step_due(TimePoint now) const;

 private:
  ServicePolicy* find(const ServiceId& service);

  std::shared_ptr<const config::Config> cfg_;  // never null
  LocalView view_;
  Quorum quorum_;
  std::vector<ServicePolicy> policies_;
};

}  // namespace failoverd::core
