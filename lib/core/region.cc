#include "core/region.h"

#include <algorithm>
#include <cmath>

namespace failoverd::core {

namespace {

// ceil(fraction * total) without 0.1 * 10 = 1.0000000000000002 rounding up to 2.
std::size_t fraction_of(double fraction, std::size_t total) {
  double v = std::ceil(fraction * static_cast<double>(total) - 1e-9);
  return v <= 0 ? 0 : static_cast<std::size_t>(v);
}

}  // namespace

Verdict region_verdict(const config::Region& region, const HealthCounts& c) {
  const std::size_t total = c.total();
  if (total == 0) return Verdict::Unknown;
  const std::size_t needed =
      std::max<std::size_t>(region.min_up, fraction_of(region.min_up_fraction, total));
  const std::size_t serving_now = c.up + c.degraded;
  if (serving_now + c.pending < needed) return Verdict::Down;
  if (serving_now < needed) return Verdict::Unknown;
  if (c.degraded > 0 || total - c.down < fraction_of(region.degraded_fraction, total)) {
    return Verdict::Degraded;
  }
  return Verdict::Up;
}

LocalView::LocalView(const config::Config& cfg, TimePoint start)
    : regions_(cfg.regions),
      max_loop_lag_(cfg.observer.max_loop_lag),
      tilt_period_(cfg.observer.tilt_period) {
  for (std::size_t r = 0; r < regions_.size(); ++r) {
    for (const auto& e : regions_[r].endpoints) {
      index_.emplace(e.name, tracked_.size());
      tracked_.push_back({e.name, r, HealthTracker(health_params(e), start),
                          std::chrono::duration_cast<Duration>(e.interval), std::nullopt});
    }
    // Only the thresholds are needed from here on; clear() would keep the copy's capacity
    // (about 0.8 KB per endpoint).
    std::vector<config::Endpoint>().swap(regions_[r].endpoints);
    raw_[regions_[r].name] = Verdict::Unknown;
    verdicts_[regions_[r].name] = Verdict::Unknown;
  }
  for (const auto& e : cfg.control) {
    index_.emplace(e.name, tracked_.size());
    tracked_.push_back({e.name, kControl, HealthTracker(health_params(e), start),
                        std::chrono::duration_cast<Duration>(e.interval), std::nullopt});
  }
  tally_.resize(regions_.size());
  for (std::size_t i = 0; i < tracked_.size(); ++i) {
    if (tracked_[i].region != kControl) tally_[tracked_[i].region].members.push_back(i);
  }
  recount();
}

void LocalView::count(std::size_t i, bool in) {
  const Tracked& t = tracked_[i];
  const std::pair<TimePoint, std::size_t> due{t.tracker.next_due(), i};
  if (in) {
    due_.insert(due);
  } else {
    due_.erase(due);
  }
  auto step = [in](std::size_t& n) { n = in ? n + 1 : n - 1; };
  const Health h = t.tracker.state();
  if (t.region == kControl) {
    if (h == Health::Down) step(control_down_);
    return;
  }
  RegionTally& g = tally_[t.region];
  if (auto s = t.tracker.last_success()) {
    if (in) {
      g.successes.insert(*s);
    } else if (auto it = g.successes.find(*s); it != g.successes.end()) {
      g.successes.erase(it);
    }
  }
  const bool failing = serving(h) && t.tracker.suspect();
  switch (h) {
    case Health::Pending: step(g.counts.pending); step(g.pessimistic.pending); break;
    case Health::Up:
      step(g.counts.up);
      step(failing ? g.pessimistic.down : g.pessimistic.up);
      break;
    case Health::Degraded:
      step(g.counts.degraded);
      step(failing ? g.pessimistic.down : g.pessimistic.degraded);
      break;
    case Health::Down: step(g.counts.down); step(g.pessimistic.down); break;
  }
}

void LocalView::recount() {
  for (auto& g : tally_) {
    g.counts = {};
    g.pessimistic = {};
    g.successes.clear();
  }
  control_down_ = 0;
  due_.clear();
  for (std::size_t i = 0; i < tracked_.size(); ++i) count(i, true);
}

void LocalView::adopt(const LocalView& old, const std::set<EndpointId>& keep) {
  for (auto& t : tracked_) {
    if (keep.count(t.name) == 0) continue;
    auto it = old.index_.find(t.name);
    if (it == old.index_.end()) continue;
    t.tracker = old.tracked_[it->second].tracker;
    t.asked = old.tracked_[it->second].asked;
  }
  for (auto& [region, verdict] : verdicts_) {
    if (auto it = old.verdicts_.find(region); it != old.verdicts_.end()) verdict = it->second;
    if (auto it = old.raw_.find(region); it != old.raw_.end()) raw_[region] = it->second;
  }
  lag_until_ = old.lag_until_;
  impairment_ = old.impairment_;
  recount();
}

Events LocalView::observe(const EndpointId& endpoint, const ProbeOutcome& outcome,
                          TimePoint now) {
  auto it = index_.find(endpoint);
  if (it == index_.end()) return {};
  Tracked& t = tracked_[it->second];
  const bool serving_steady = serving(t.tracker.state()) && !t.tracker.suspect();
  count(it->second, false);
  Transition tr = t.tracker.observe(outcome, now);
  count(it->second, true);
  if (serving_steady && !outcome.ok() && t.region != kControl) ask_siblings(it->second, now);
  if (tr.kind != Transition::Kind::Changed) return {};
  Event e;
  e.kind = EventKind::EndpointChanged;
  e.at = now;
  e.endpoint = endpoint;
  if (t.region != kControl) e.region = regions_[t.region].name;
  e.from = to_string(tr.from);
  e.to = to_string(tr.to);
  e.from_health = tr.from;
  e.to_health = tr.to;
  e.detail = std::string(to_string(outcome.reason));
  return {std::move(e)};
}

void LocalView::ask_siblings(std::size_t failed, TimePoint now) {
  for (const std::size_t i : tally_[tracked_[failed].region].members) {
    Tracked& o = tracked_[i];
    if (i == failed) continue;
    if (!serving(o.tracker.state()) || o.tracker.suspect()) continue;  // already telling
    if (o.asked && now - *o.asked < o.interval) continue;
    o.asked = now;
    probe_now_.push_back(o.name);
  }
}

void LocalView::report_loop_lag(Duration lag, TimePoint now) {
  if (lag > max_loop_lag_) lag_until_ = now + tilt_period_;
}

Events LocalView::evaluate(TimePoint now) {
  // O(regions): the counts and success times are kept by observe() (count()).
  const bool control_down = control_down_ > 0;
  bool all_down = !regions_.empty();
  std::set<RegionId> suspects;
  seen_serving_.clear();
  for (std::size_t r = 0; r < regions_.size(); ++r) {
    const RegionTally& g = tally_[r];
    // The needed-th most recent success: since then, `needed` endpoints have answered.
    const std::size_t total = g.counts.total();
    const std::size_t needed = std::max<std::size_t>(
        std::max<std::size_t>(regions_[r].min_up, fraction_of(regions_[r].min_up_fraction, total)),
        1);
    if (g.successes.size() >= needed) {
      seen_serving_[regions_[r].name] =
          *std::next(g.successes.rbegin(), static_cast<std::ptrdiff_t>(needed - 1));
    }
    Verdict v = region_verdict(regions_[r], g.counts);
    raw_[regions_[r].name] = v;
    all_down = all_down && v == Verdict::Down;
    const bool serving = v == Verdict::Up || v == Verdict::Degraded;
    const Verdict worst = region_verdict(regions_[r], g.pessimistic);
    if (serving && worst != Verdict::Up && worst != Verdict::Degraded) {
      suspects.insert(regions_[r].name);
    }
  }

  std::optional<std::string> impairment;
  if (control_down) {
    impairment = "control endpoint down";
  } else if (lag_until_ && now < *lag_until_) {
    impairment = "event loop lag above max_loop_lag";
  } else if (all_down) {
    impairment = "every region looks down from here";
  }

  suspects_ = impairment ? std::set<RegionId>{} : std::move(suspects);

  Events events;
  if (impairment != impairment_) {
    Event e;
    e.at = now;
    e.kind = impairment ? EventKind::ObserverImpaired : EventKind::ObserverRecovered;
    if (impairment) e.rule = Rule::ObserverImpaired;
    e.detail = impairment.value_or("");
    events.push_back(std::move(e));
    impairment_ = impairment;
  }
  for (auto& [region, verdict] : verdicts_) {
    Verdict v = impairment_ ? Verdict::Unknown : raw_[region];
    if (v == verdict) continue;
    Event e;
    e.kind = EventKind::VerdictChanged;
    e.at = now;
    e.region = region;
    e.from = to_string(verdict);
    e.to = to_string(v);
    e.from_verdict = verdict;
    e.to_verdict = v;
    if (impairment_) e.detail = "abstain: " + *impairment_;
    events.push_back(std::move(e));
    verdict = v;
  }
  return events;
}

Verdict LocalView::raw_verdict(const RegionId& region) const {
  auto it = raw_.find(region);
  return it == raw_.end() ? Verdict::Unknown : it->second;
}

std::vector<EndpointId> LocalView::due(TimePoint now) const {
  std::vector<std::size_t> indices;
  for (auto it = due_.begin(); it != due_.end() && it->first <= now; ++it) {
    indices.push_back(it->second);
  }
  std::sort(indices.begin(), indices.end());
  std::vector<EndpointId> out;
  out.reserve(indices.size());
  for (const std::size_t i : indices) out.push_back(tracked_[i].name);
  return out;
}

TimePoint LocalView::next_due() const {
  return due_.empty() ? TimePoint::max() : due_.begin()->first;
}

TimePoint LocalView::next_change(TimePoint now) const {
  return lag_until_ && *lag_until_ > now ? *lag_until_ : TimePoint::max();
}

const HealthTracker* LocalView::tracker(const EndpointId& endpoint) const {
  auto it = index_.find(endpoint);
  return it == index_.end() ? nullptr : &tracked_[it->second].tracker;
}

}  // namespace failoverd::core
