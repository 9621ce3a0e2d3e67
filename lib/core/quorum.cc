#include "core/quorum.h"

#include <algorithm>

namespace failoverd::core {

Quorum::Quorum(std::vector<ObserverId> voters, std::vector<RegionId> regions, std::size_t quorum,
               Duration verdict_ttl)
    : voters_(std::move(voters)),
      regions_(std::move(regions)),
      quorum_(std::max<std::size_t>(quorum, 1)),
      ttl_(verdict_ttl) {
  votes_.resize(regions_.size());
  for (std::size_t r = 0; r < regions_.size(); ++r) {
    for (const auto& v : voters_) votes_[r].push_back(Vote{v, regions_[r], Verdict::Unknown, {}});
    confirmed_[regions_[r]] = RegionQuorum{};
  }
}

void Quorum::adopt(const Quorum& old, const std::set<RegionId>& keep) {
  for (std::size_t r = 0; r < regions_.size(); ++r) {
    if (keep.count(regions_[r]) == 0) continue;
    const auto orow = std::find(old.regions_.begin(), old.regions_.end(), regions_[r]);
    if (orow == old.regions_.end()) continue;
    const auto& old_votes = old.votes_[static_cast<std::size_t>(orow - old.regions_.begin())];
    for (auto& vote : votes_[r]) {
      for (const auto& was : old_votes) {
        if (was.observer == vote.observer) vote = was;
      }
    }
    if (auto it = old.confirmed_.find(regions_[r]); it != old.confirmed_.end()) {
      confirmed_[regions_[r]] = it->second;
    }
  }
}

Quorum Quorum::from_config(const config::Config& cfg) {
  std::vector<ObserverId> voters{cfg.observer.id};
  Duration ttl = std::chrono::seconds(5);
  if (cfg.cluster) {
    for (const auto& p : cfg.cluster->peers) voters.push_back(p.id);
    ttl = cfg.cluster->verdict_ttl;
  }
  std::vector<RegionId> regions;
  for (const auto& r : cfg.regions) regions.push_back(r.name);
  return Quorum(std::move(voters), std::move(regions), cfg.quorum(), ttl);
}

void Quorum::record(const Vote& vote) {
  record(vote.observer, vote.region, vote.verdict, vote.received);
}

void Quorum::record(const ObserverId& observer, const RegionId& region, Verdict verdict,
                    TimePoint received) {
  auto r = std::find(regions_.begin(), regions_.end(), region);
  auto o = std::find(voters_.begin(), voters_.end(), observer);
  if (r == regions_.end() || o == voters_.end()) return;
  Vote& held = votes_[static_cast<std::size_t>(r - regions_.begin())]
                     [static_cast<std::size_t>(o - voters_.begin())];
  if (received < held.received) return;
  held.verdict = verdict;  // observer and region are already those of the slot
  held.received = received;
}

Events Quorum::evaluate(TimePoint now) {
  Events events;
  for (std::size_t r = 0; r < regions_.size(); ++r) {
    RegionQuorum q;
    q.evidence.reserve(votes_[r].size());
    for (Vote& v : votes_[r]) {
      // An expired vote is forgotten, so next_due() only ever names a future expiry.
      if (v.verdict != Verdict::Unknown && now - v.received >= ttl_) v.verdict = Verdict::Unknown;
      if (v.verdict == Verdict::Unknown || v.received > now) continue;
      switch (v.verdict) {
        case Verdict::Up: ++q.up; break;
        case Verdict::Degraded: ++q.degraded; break;
        case Verdict::Down: ++q.down; break;
        case Verdict::Unknown: break;
      }
      q.evidence.push_back(v);
    }
    const bool down = q.down >= quorum_;
    const bool serving = q.up + q.degraded >= quorum_;
    if (down && !serving) {
      q.state = Verdict::Down;
    } else if (serving && !down) {
      q.state = q.degraded >= quorum_ ? Verdict::Degraded : Verdict::Up;
    }
    RegionQuorum& held = confirmed_[regions_[r]];
    if (held.state != q.state) {
      Event e;
      e.kind = EventKind::QuorumChanged;
      e.at = now;
      e.region = regions_[r];
      e.from = to_string(held.state);
      e.to = to_string(q.state);
      e.from_verdict = held.state;
      e.to_verdict = q.state;
      e.detail = "up=" + std::to_string(q.up) + " degraded=" + std::to_string(q.degraded) +
                 " down=" + std::to_string(q.down) + " quorum=" + std::to_string(quorum_);
      events.push_back(std::move(e));
    }
    held = std::move(q);
  }
  return events;
}

Verdict Quorum::state(const RegionId& region) const {
  auto it = confirmed_.find(region);
  return it == confirmed_.end() ? Verdict::Unknown : it->second.state;
}

TimePoint Quorum::next_due() const {
  TimePoint earliest = TimePoint::max();
  for (const auto& per_region : votes_) {
    for (const Vote& v : per_region) {
      if (v.verdict != Verdict::Unknown) earliest = std::min(earliest, v.received + ttl_);
    }
  }
  return earliest;
}

}  // namespace failoverd::core
