// Quorum: the confirmed state of each region from this observer's and its peers' verdicts
// (Sentinel's ODOWN, kept apart from the local SDOWN in region.h).
//
// Rules, with q = config.quorum() (a majority of the CONFIGURED observers, not of those that
// answer) and only fresh votes counted (local receive time within verdict_ttl; Unknown is no
// vote):
//   Down      >= q Down votes
//   Degraded  >= q Up-or-Degraded votes, of which >= q Degraded
//   Up        >= q Up-or-Degraded votes otherwise: "up but degraded" still serves, so a mix of
//             Up and Degraded votes confirms the region up; it is only confirmed Degraded when a
//             quorum itself says so
//   Unknown   otherwise, and also when both Down and Up-or-Degraded reach q (possible only with
//             an explicit cluster.quorum below a majority): contradictory evidence decides nothing
// Example, 3 observers (q = 2): {down, down, up} -> Down; {down, up, unknown} -> Unknown;
// {up, degraded, degraded} -> Degraded; {up, degraded, down} -> Up; a minority of one never
// confirms anything.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include "config/config.h"
#include "core/events.h"
#include "core/plan.h"

namespace failoverd::core {

// The confirmed state of one region and the fresh votes it was made from.
struct RegionQuorum {
  Verdict state = Verdict::Unknown;
  std::size_t up = 0;        // fresh Up votes
  std::size_t degraded = 0;  // fresh Degraded votes
  std::size_t down = 0;      // fresh Down votes
  std::vector<Vote> evidence;  // the fresh, non-Unknown votes
};
using Confirmed = std::map<RegionId, RegionQuorum>;

// Votes of the configured observers and the confirmed state per region. Not thread-safe.
class Quorum {
 public:
  // `voters`: every configured observer (this one included); `regions`: the configured regions.
  Quorum(std::vector<ObserverId> voters, std::vector<RegionId> regions, std::size_t quorum,
         Duration verdict_ttl);
  // From the config: this observer plus cluster.peers, config.quorum(), cluster.verdict_ttl
  // (5s when there is no [cluster]).
  static Quorum from_config(const config::Config& cfg);

  // Records a vote, replacing the voter's older one on that region. Votes from observers that
  // are not configured, on unknown regions, or older than the one held, are ignored.
  void record(const Vote& vote);
  // The same, from the parts of a vote; `received` is the local receive time.
  void record(const ObserverId& observer, const RegionId& region, Verdict verdict,
              TimePoint received);

  // A reload: takes from `old` the votes of every voter both know on the regions in `keep`
  // (their definition did not change), and those regions' confirmed states.
  void adopt(const Quorum& old, const std::set<RegionId>& keep);

  // Recomputes every region's confirmed state at `now`; returns QuorumChanged events.
  Events evaluate(TimePoint now);

  const Confirmed& confirmed() const { return confirmed_; }
  Verdict state(const RegionId& region) const;
  std::size_t quorum() const { return quorum_; }
  // When the next held vote expires (an evaluate() then may change a state); max() if none.
  TimePoint next_due() const;

 private:
  std::vector<ObserverId> voters_;
  std::vector<RegionId> regions_;
  std::size_t quorum_;
  Duration ttl_;
  // votes_[region index][voter index]; Verdict::Unknown with received {} when none.
  std::vector<std::vector<Vote>> votes_;
  Confirmed confirmed_;
};

}  // namespace failoverd::core
