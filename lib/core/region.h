// Region verdicts: one observer's local opinion of each region (Sentinel's SDOWN), made from the
// health of the region's endpoints, and the observer's own impairment check
// (observer_impaired).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/events.h"
#include "core/health.h"

namespace failoverd::core {

// Endpoint health counts of one region. `up` excludes degraded ones.
struct HealthCounts {
  std::size_t up = 0;
  std::size_t degraded = 0;
  std::size_t down = 0;
  std::size_t pending = 0;
  std::size_t total() const { return up + degraded + down + pending; }
};

// The verdict on one region from its endpoints' health.
//   needed  = max(min_up, ceil(min_up_fraction * total))   serving endpoints required
//   serving = up + degraded
//   Down     when serving + pending < needed  (even if every pending one came up: not enough)
//   Unknown  when serving < needed (it depends on pending endpoints), or the region is empty
//   Degraded when serving >= needed and (an endpoint is degraded, or fewer than
//            degraded_fraction * total endpoints are not known down)
//   Up       otherwise
// Example: 4 endpoints, min_up 2, degraded_fraction 1.0: {up,up,down,pending} -> Degraded;
// {down,down,down,pending} -> Down; {up,pending,pending,pending} -> Unknown; 4 up -> Up.
Verdict region_verdict(const config::Region& region, const HealthCounts& counts);

// All endpoint trackers of one observer, its verdict on every region, and whether it abstains.
//
// The observer abstains (every verdict Unknown, reason in impairment()) when
//   - a control endpoint ([[control]]) is down: its own network is suspect;
//   - the shell reported loop lag above observer.max_loop_lag within the last tilt_period;
//   - it sees every region down: "I can't reach it" is not "nobody can reach it".
class LocalView {
 public:
  // Trackers for every endpoint of `cfg.regions` and `cfg.control`, first probes due at `start`.
  LocalView(const config::Config& cfg, TimePoint start);

  // A reload: takes from `old` the tracker (health, rise/fall streak, next due time) of every
  // endpoint `keep` names (the caller checks its definition did not change), the verdicts of the
  // regions both know (so only real changes raise VerdictChanged) and the loop-lag TILT.
  // Call before the first observe().
  void adopt(const LocalView& old, const std::set<EndpointId>& keep);

  // Feeds one probe outcome; returns EndpointChanged when the endpoint's health moved.
  // Unknown endpoint names are ignored.
  // A serving endpoint's first failed probe (the start of a failing streak) asks for its
  // region's other serving endpoints to be probed at once (take_probe_now()), so a region
  // whose endpoints die together is judged on probes taken together rather than at each
  // endpoint's own random phase. Each endpoint is asked at most once per its interval.
  Events observe(const EndpointId& endpoint, const ProbeOutcome& outcome, TimePoint now);
  // The endpoints observe() asked to probe at once since the last call.
  std::vector<EndpointId> take_probe_now() { return std::exchange(probe_now_, {}); }

  // The shell measured this much event-loop lateness at `now`.
  void report_loop_lag(Duration lag, TimePoint now);

  // Recomputes verdicts; returns VerdictChanged and ObserverImpaired/Recovered events.
  Events evaluate(TimePoint now);

  // The verdicts as of the last evaluate() (impairment applied), one per configured region.
  const std::map<RegionId, Verdict>& verdicts() const { return verdicts_; }
  // The verdict from the endpoints alone, before impairment (what metrics show as disagreement).
  Verdict raw_verdict(const RegionId& region) const;
  // Why the observer abstains, or nullopt.
  std::optional<std::string> impairment() const { return impairment_; }
  // Regions judged up or degraded that would not be if every endpoint now on a failing streak
  // (a failed probe since its last success, fewer than `fall`) were down: "suspect" here. The
  // policy does not move traffic to such a region (see ServicePolicy::decide). As of the last
  // evaluate(); empty while the observer abstains.
  const std::set<RegionId>& suspects() const { return suspects_; }
  // Per region, the latest time T such that enough endpoints to serve it (min_up /
  // min_up_fraction) had a probe that started at or after T succeed: "seen serving since T".
  // Regions without enough successes yet are absent. As of the last evaluate().
  const std::map<RegionId, TimePoint>& seen_serving() const { return seen_serving_; }

  // Endpoints whose probe is due at `now` (in config order), and the earliest due time of any
  // probe.
  std::vector<EndpointId> due(TimePoint now) const;
  TimePoint next_due() const;
  // When evaluate() may answer differently without a new observation (the loop-lag TILT
  // ends); max() if never. A shell that probes on its own schedule steps at this, not at
  // next_due().
  TimePoint next_change(TimePoint now) const;
  // nullptr when unknown.
  const HealthTracker* tracker(const EndpointId& endpoint) const;

 private:
  struct Tracked {
    EndpointId name;
    std::size_t region;  // index into regions_, or kControl
    HealthTracker tracker;
    Duration interval{};
    std::optional<TimePoint> asked;  // last time a sibling's failure asked to probe it now
  };
  static constexpr std::size_t kControl = static_cast<std::size_t>(-1);
  static bool serving(Health h) { return h == Health::Up || h == Health::Degraded; }
  void ask_siblings(std::size_t failed, TimePoint now);
  // Each endpoint's share of its region's counts, kept up to date by observe() so that
  // evaluate() costs O(regions), not O(endpoints): taken out (in = false) before a tracker
  // changes, put back (in = true) after.
  void count(std::size_t i, bool in);
  void recount();  // every share again (construction, adopt)

  // Per region: its endpoints (indices into tracked_), their health counts, the same counts with
  // every serving endpoint on a failing streak taken as down, and every last success time.
  struct RegionTally {
    std::vector<std::size_t> members;
    HealthCounts counts;
    HealthCounts pessimistic;
    std::multiset<TimePoint> successes;
  };
  std::vector<RegionTally> tally_;
  std::size_t control_down_ = 0;
  std::set<std::pair<TimePoint, std::size_t>> due_;  // (next due, index) of every endpoint

  std::vector<config::Region> regions_;
  std::vector<Tracked> tracked_;
  std::map<EndpointId, std::size_t> index_;
  Duration max_loop_lag_;
  Duration tilt_period_;
  std::optional<TimePoint> lag_until_;
  std::map<RegionId, Verdict> raw_;
  std::map<RegionId, Verdict> verdicts_;
  std::optional<std::string> impairment_;
  std::set<RegionId> suspects_;
  std::map<RegionId, TimePoint> seen_serving_;
  std::vector<EndpointId> probe_now_;                    // see take_probe_now()
};

}  // namespace failoverd::core
