#include "core/policy.h"

#include <algorithm>
#include <cmath>

namespace failoverd::core {

namespace {

Verdict state_of(const Confirmed& c, const RegionId& region) {
  auto it = c.find(region);
  return it == c.end() ? Verdict::Unknown : it->second.state;
}

void add_evidence(std::vector<Vote>& out, const Confirmed& c, const RegionId& region) {
  auto it = c.find(region);
  if (it == c.end()) return;
  out.insert(out.end(), it->second.evidence.begin(), it->second.evidence.end());
}

// Refusals that need a human, as opposed to pacing that resolves itself.
bool alerts(Rule rule) {
  switch (rule) {
    case Rule::EmptySet:
    case Rule::ZeroWeight:
    case Rule::BelowMinTargets:
    case Rule::NoQuorum:
    case Rule::TargetNotConfirmedUp:
    case Rule::FlipBudgetExhausted:
    case Rule::AllRegionsDown: return true;
    case Rule::StaleGeneration:
    case Rule::DecisionTooOld:
    case Rule::Frozen:
    case Rule::Tilt:
    case Rule::HoldDown:
    case Rule::ObserverImpaired:
    case Rule::TargetConfirmedDown:
    case Rule::UnknownRegion:
    case Rule::NoPendingProposal:
    case Rule::LiveUnknown:
    case Rule::Pinned:
    case Rule::UnknownService:
    case Rule::TargetSuspect: return false;
  }
  return true;
}

}  // namespace

ServicePolicy::ServicePolicy(config::Service service, const config::Observer& observer)
    : service_(std::move(service)), tilt_period_(observer.tilt_period) {}

Event ServicePolicy::event(EventKind kind, TimePoint now) const {
  Event e;
  e.kind = kind;
  e.at = now;
  e.service = service_.name;
  return e;
}

std::vector<RegionId> ServicePolicy::active() const { return regions_of(live_.members); }

bool ServicePolicy::in_service(const RegionId& region) const {
  switch (service_.policy) {
    case config::Policy::Priority:
      return std::find(service_.regions.begin(), service_.regions.end(), region) !=
             service_.regions.end();
    case config::Policy::Weighted: return service_.weights.count(region) > 0;
  }
  return false;
}

Events ServicePolicy::set_live(const LiveState& live, TimePoint now) {
  Events events;
  if (live_known_ && live.generation < live_.generation) return events;
  if (live_known_ && live.generation == live_.generation) {
    live_.members = live.members;  // drift at the same generation is the reconciler's business
    return events;
  }
  if (live_known_) {
    // Every generation is one write. Writes we did not see (we read only the latest) count as
    // automatic flips, learned now: for the budget and hold-down, learning late is the safe side.
    const Generation skipped = live.generation - live_.generation - 1;
    const bool moved = !same_members(live.members, live_.members);
    const bool last_flipped = moved || skipped > 0;
    if (last_flipped) last_flip_ = now;
    const std::size_t unseen = static_cast<std::size_t>(
        std::min<Generation>(skipped, service_.flip_budget + 1));
    for (std::size_t i = 0; i < unseen; ++i) automatic_flips_.push_back(now);
    // The newest write itself: a flip when it moved something, or when writes were skipped
    // (it then moved from a set this observer never saw, even if it looks like the one it knew).
    if (last_flipped && live.trigger == Trigger::Automatic) {
      automatic_flips_.push_back(now);
    }
  }
  if (live.trigger == Trigger::Manual && service_.policy == config::Policy::Priority &&
      !live.members.empty() && !service_.regions.empty()) {
    // An operator moved it (here or through another observer, also before this observer's first
    // read): no automatic failback, until a manual move back to the primary.
    manual_hold_ = live.members.front().region != service_.regions.front();
  }
  if (!live_known_ && baseline_ && live.generation >= baseline_->generation) {
    // The first read after a restart or reload that knew generation G: the writes after G
    // happened while this observer did not look; each counts as an automatic flip seen now.
    const Generation unseen = live.generation - baseline_->generation;
    if (unseen > 0) last_flip_ = now;
    const std::size_t counted =
        static_cast<std::size_t>(std::min<Generation>(unseen, service_.flip_budget + 1));
    for (std::size_t i = 0; i < counted; ++i) automatic_flips_.push_back(now);
  } else if (!live_known_ && live.generation > 1) {
    // The first read with nothing known before (a first start, or a target whose generation
    // went back): when the last write happened is unknown, so it is taken as just now.
    // Generation 1 is the initial set, not a flip.
    last_flip_ = now;
    if (live.trigger == Trigger::Automatic) automatic_flips_.push_back(now);
  }
  baseline_.reset();
  live_known_ = true;
  live_ = live;
  // Any new generation makes a plan based on the old one stale.
  in_flight_.reset();
  if (pending_ && pending_->base_generation != live.generation) {
    Event e = event(EventKind::ProposalExpired, now);
    e.generation = pending_->generation;
    e.detail = "live generation moved";
    events.push_back(std::move(e));
    pending_.reset();
  }
  Event e = event(EventKind::LiveChanged, now);
  e.generation = live.generation;
  e.detail = describe(live.members);
  events.push_back(std::move(e));
  return events;
}

std::size_t ServicePolicy::flips_in_window(TimePoint now) {
  while (!automatic_flips_.empty() && now - automatic_flips_.front() >= service_.flip_window) {
    automatic_flips_.pop_front();
  }
  return automatic_flips_.size();
}

std::vector<PlanMember> publish_members(const config::Service& service,
                                        const std::vector<std::pair<RegionId, double>>& shares) {
  const bool weighted = service.policy == config::Policy::Weighted;
  double total = 0;
  for (const auto& [region, share] : shares) total += share;
  std::vector<PlanMember> out;
  if (total <= 0) return out;
  for (const auto& [region, share] : shares) {
    auto it = service.publish.find(region);
    if (it == service.publish.end() || it->second.empty()) continue;
    std::uint32_t weight = 1;
    if (weighted) {
      double w = 100.0 * share / total / static_cast<double>(it->second.size());
      weight = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::lround(w)));
    }
    for (const auto& value : it->second) out.push_back(PlanMember{region, value, weight});
  }
  return out;
}

ServicePolicy::Wanted ServicePolicy::want_priority(const Confirmed& c, TimePoint now) const {
  Wanted w;
  const std::vector<RegionId> live_regions = active();
  if (live_regions.empty()) {
    w.blocked = Rule::EmptySet;  // an empty live set is repaired by restore, not guessed
    return w;
  }
  bool all_down = true;
  for (const auto& r : service_.regions) all_down = all_down && state_of(c, r) == Verdict::Down;
  if (all_down) {
    w.blocked = Rule::AllRegionsDown;
    return w;
  }
  // With several regions live (drift), the one earliest in the order is the one we reason about.
  RegionId current = live_regions.front();
  for (const auto& r : service_.regions) {
    if (std::find(live_regions.begin(), live_regions.end(), r) != live_regions.end()) {
      current = r;
      break;
    }
  }
  auto go_to = [&](const RegionId& to, std::string reason) {
    w.change = true;
    w.active = {to};
    w.members = publish_members(service_, {{to, 1.0}});
    w.reason = std::move(reason);
    add_evidence(w.evidence, c, current);
    if (to != current) add_evidence(w.evidence, c, to);
  };
  switch (state_of(c, current)) {
    case Verdict::Down: {
      // Standbys confirmed up first, then degraded ones (a degraded region still serves, the
      // dead one does not), each in priority order.
      bool waiting = false;
      for (const Verdict wanted : {Verdict::Up, Verdict::Degraded}) {
        for (const auto& r : service_.regions) {
          if (r == current || state_of(c, r) != wanted) continue;
          if (local_) {
            // Confirmed serving, but failing probes here: skip it. Not seen serving here since
            // `current` went down: wait for its next probe rather than pass it over.
            if (suspect(r)) {
              waiting = true;
              continue;
            }
            auto seen = local_->seen_serving.find(r);
            auto down = down_since_.find(current);
            const bool fresh = seen != local_->seen_serving.end() &&
                               (down == down_since_.end() || seen->second >= down->second);
            if (!fresh) {
              waiting = true;
              w.awaiting.emplace(r, down == down_since_.end() ? now : down->second);
              break;
            }
          }
          go_to(r, "failover: " + current.str() + " confirmed down, " + r.str() + " confirmed " +
                       std::string(to_string(wanted)));
          return w;
        }
        if (w.awaiting) break;  // the preferred standby is one probe away: wait for it
      }
      w.blocked = waiting ? Rule::TargetSuspect : Rule::TargetNotConfirmedUp;
      return w;
    }
    case Verdict::Unknown: w.blocked = Rule::NoQuorum; return w;
    case Verdict::Up:
    case Verdict::Degraded:
      if (service_.failback == config::Failback::Auto && !manual_hold_) {
        for (const auto& r : service_.regions) {
          if (r == current) break;
          auto since = up_since_.find(r);
          if (since != up_since_.end() && now - since->second >= service_.failback_delay &&
              !suspect(r)) {
            go_to(r, "failback: " + r.str() + " confirmed up for failback_delay");
            return w;
          }
        }
      }
      return w;
  }
  return w;
}

bool ServicePolicy::up_for_failback_delay(const RegionId& region, TimePoint now) const {
  auto since = up_since_.find(region);
  return since != up_since_.end() && now - since->second >= service_.failback_delay;
}

ServicePolicy::Wanted ServicePolicy::want_weighted(const Confirmed& c, TimePoint now,
                                                   Additions additions) const {
  Wanted w;
  const std::vector<RegionId> live_regions = active();
  std::vector<std::pair<RegionId, double>> shares;
  // Regions that do not serve now and may not be added back yet (confirmed Up), or only when
  // nothing else would serve (confirmed Degraded): the failover candidates.
  std::vector<std::pair<RegionId, double>> spare_up, spare_degraded;
  bool all_down = true;
  for (const auto& [region, weight] : service_.weights) {
    const bool live = std::find(live_regions.begin(), live_regions.end(), region) !=
                      live_regions.end();
    const Verdict v = state_of(c, region);
    all_down = all_down && v == Verdict::Down;
    if (weight == 0) continue;
    switch (v) {
      case Verdict::Down: break;
      case Verdict::Up: {
        if (live) {
          shares.emplace_back(region, weight);
          break;
        }
        if (suspect(region)) break;
        const bool failback = additions == Additions::Now ||
                              (additions == Additions::AfterFailbackDelay &&
                               up_for_failback_delay(region, now));
        (failback ? shares : spare_up).emplace_back(region, weight);
        break;
      }
      case Verdict::Degraded:
        if (live) {
          shares.emplace_back(region, weight * service_.degraded_weight_factor);
        } else if (!suspect(region)) {
          spare_degraded.emplace_back(region, weight * service_.degraded_weight_factor);
        }
        break;
      case Verdict::Unknown:
        if (live) {
          w.blocked = Rule::NoQuorum;
          return w;
        }
        break;
    }
    add_evidence(w.evidence, c, region);
  }
  if (all_down) {
    w.blocked = Rule::AllRegionsDown;
    return w;
  }
  w.members = publish_members(service_, shares);
  if (w.members.empty()) {
    // Nothing serving stays: fail over to the regions confirmed up, whatever failback says.
    shares = std::move(spare_up);
    w.members = publish_members(service_, shares);
  }
  if (w.members.empty()) {
    // None confirmed up either: a degraded region beats a dead one.
    shares = std::move(spare_degraded);
    w.members = publish_members(service_, shares);
  }
  if (w.members.empty()) {
    w.blocked = Rule::TargetNotConfirmedUp;
    return w;
  }
  for (const auto& [region, share] : shares) w.active.push_back(region);
  w.change = !same_members(w.members, live_.members);
  w.reason = "reweigh by confirmed region states";
  return w;
}

Plan ServicePolicy::make_plan(Wanted w, Trigger trigger, TimePoint now) const {
  Plan p;
  p.service = service_.name;
  p.base_generation = live_.generation;
  p.generation = live_.generation + 1;
  p.active = std::move(w.active);
  p.members = std::move(w.members);
  p.trigger = trigger;
  p.reason = std::move(w.reason);
  p.evidence = std::move(w.evidence);
  p.decided_at = now;
  return p;
}

Decision ServicePolicy::refuse(Decision d, Rule rule, TimePoint now) {
  d.refused = rule;
  if (last_refusal_ == rule) return d;
  last_refusal_ = rule;
  Event e = event(EventKind::PlanRefused, now);
  e.rule = rule;
  d.events.push_back(e);
  if (alerts(rule) && (rule != Rule::NoQuorum || seen_quorum_)) {
    e.kind = EventKind::Alert;
    d.events.push_back(std::move(e));
  }
  return d;
}

std::optional<Rule> ServicePolicy::fail_static() const {
  if (!last_refusal_) return std::nullopt;
  if (*last_refusal_ == Rule::NoQuorum) return seen_quorum_ ? last_refusal_ : std::nullopt;
  if (*last_refusal_ == Rule::AllRegionsDown || *last_refusal_ == Rule::TargetNotConfirmedUp) {
    return last_refusal_;
  }
  return std::nullopt;
}

Decision ServicePolicy::hand_out(Plan plan, TimePoint now) {
  Decision d;
  GuardParams g{live_.generation, service_.min_targets, service_.max_decision_age};
  if (auto rule = check_plan(plan, g, now)) return refuse(std::move(d), *rule, now);
  last_refusal_.reset();
  Event e = event(EventKind::PlanMade, now);
  e.generation = plan.generation;
  e.detail = std::string(to_string(plan.trigger)) + ": " + plan.reason + " -> " +
             describe(plan.members);
  d.events.push_back(std::move(e));
  in_flight_ = plan;
  d.plan = std::move(plan);
  return d;
}

Decision ServicePolicy::decide(const Confirmed& c, TimePoint now,
                               const std::optional<LocalEvidence>& local) {
  Decision d;
  // Borrowed for this call only (no copy of the sets on every step).
  struct Borrow {
    const LocalEvidence*& slot;
    ~Borrow() { slot = nullptr; }
  } borrow{local_};
  local_ = local ? &*local : nullptr;
  if (tilt_until_ && now >= *tilt_until_) {
    tilt_until_.reset();
    d.events.push_back(event(EventKind::TiltLeft, now));
  }
  if (pending_ && now - pending_->decided_at > service_.max_decision_age) {
    Event e = event(EventKind::ProposalExpired, now);
    e.generation = pending_->generation;
    e.detail = "not approved within max_decision_age";
    d.events.push_back(std::move(e));
    pending_.reset();
  }
  if (in_flight_ && now - in_flight_->decided_at > service_.max_decision_age) in_flight_.reset();
  for (const auto& [region, q] : c) {
    seen_quorum_ = seen_quorum_ || q.state != Verdict::Unknown;
    if (q.state == Verdict::Up) {
      up_since_.try_emplace(region, now);
    } else {
      up_since_.erase(region);
    }
    if (q.state == Verdict::Down) {
      down_since_.try_emplace(region, now);
    } else {
      down_since_.erase(region);
    }
  }
  if (!live_known_) return refuse(std::move(d), Rule::LiveUnknown, now);

  Wanted w;
  switch (service_.policy) {
    case config::Policy::Priority: w = want_priority(c, now); break;
    case config::Policy::Weighted: {
      const Additions additions = service_.failback == config::Failback::Auto && !manual_hold_
                                      ? Additions::AfterFailbackDelay
                                      : Additions::Never;
      QuietKey key{{}, {}, local_ ? local_->suspects : std::set<RegionId>{}, live_.generation,
                   manual_hold_};
      for (const auto& [region, weight] : service_.weights) {
        key.states.push_back(state_of(c, region));
        key.settled.push_back(up_for_failback_delay(region, now));
      }
      if (quiet_ == key) return d;
      w = want_weighted(c, now, additions);
      if (!w.blocked && !w.change) {
        quiet_ = std::move(key);
      } else {
        quiet_.reset();
      }
      break;
    }
  }
  if (w.awaiting && probe_asked_ != w.awaiting) {
    probe_asked_ = w.awaiting;
    d.probe_now.push_back(w.awaiting->first);
  }
  if (w.blocked) return refuse(std::move(d), *w.blocked, now);
  if (!w.change) {
    last_refusal_.reset();
    return d;
  }
  if (pinned_) return refuse(std::move(d), Rule::Pinned, now);
  if (frozen_) return refuse(std::move(d), Rule::Frozen, now);
  if (in_tilt(now)) return refuse(std::move(d), Rule::Tilt, now);
  if (in_flight_) return d;  // the actuator has not reported back yet
  if (last_flip_ && now - *last_flip_ < service_.hold_down) {
    return refuse(std::move(d), Rule::HoldDown, now);
  }
  if (flips_in_window(now) >= service_.flip_budget) {
    frozen_ = true;
    frozen_reason_ = "flip budget exhausted: " + std::to_string(service_.flip_budget) +
                     " automatic flips within flip_window";
    Event e = event(EventKind::ServiceFrozen, now);
    e.rule = Rule::FlipBudgetExhausted;
    e.detail = frozen_reason_;
    d.events.push_back(std::move(e));
    return refuse(std::move(d), Rule::FlipBudgetExhausted, now);
  }
  Plan plan = make_plan(std::move(w), Trigger::Automatic, now);
  switch (service_.mode) {
    case config::Mode::Auto: break;
    case config::Mode::Propose: {
      GuardParams g{live_.generation, service_.min_targets, service_.max_decision_age};
      if (auto rule = check_plan(plan, g, now)) return refuse(std::move(d), *rule, now);
      if (pending_) return d;
      last_refusal_.reset();
      Event e = event(EventKind::PlanProposed, now);
      e.generation = plan.generation;
      e.detail = plan.reason + " -> " + describe(plan.members);
      d.events.push_back(std::move(e));
      pending_ = std::move(plan);
      return d;
    }
  }
  Decision out = hand_out(std::move(plan), now);
  append(d.events, std::move(out.events));
  d.plan = std::move(out.plan);
  d.refused = out.refused;
  return d;
}

Events ServicePolicy::enter_tilt(TimePoint now) {
  Events events;
  if (!in_tilt(now)) {
    Event e = event(EventKind::TiltEntered, now);
    e.rule = Rule::Tilt;
    e.detail = "automatic actions suspended for tilt_period";
    events.push_back(std::move(e));
  }
  tilt_until_ = now + tilt_period_;
  return events;
}

Decision ServicePolicy::freeze(const std::string& reason, TimePoint now) {
  Decision d;
  if (frozen_) return d;
  frozen_ = true;
  frozen_reason_ = reason.empty() ? "frozen by operator" : reason;
  Event e = event(EventKind::ServiceFrozen, now);
  e.detail = frozen_reason_;
  d.events.push_back(std::move(e));
  return d;
}

Decision ServicePolicy::unfreeze(TimePoint now) {
  Decision d;
  if (!frozen_) return d;
  frozen_ = false;
  frozen_reason_.clear();
  last_refusal_.reset();
  d.events.push_back(event(EventKind::ServiceUnfrozen, now));
  return d;
}

Decision ServicePolicy::failover(const RegionId& region, bool force, const Confirmed& c,
                                 TimePoint now) {
  Decision d;
  if (!live_known_) return refuse(std::move(d), Rule::LiveUnknown, now);
  if (region.str() == config::kNoRegion) {
    // The guard every plan meets refuses it (empty_set). An operator's refused request, not an
    // empty live set: no alert, and the automatic path's refusal memory is left alone.
    Wanted off;
    off.reason = "manual: every region off";
    const Plan plan = make_plan(std::move(off), Trigger::Manual, now);
    d.refused = check_plan(plan, GuardParams{live_.generation, service_.min_targets,
                                             service_.max_decision_age},
                           now);
    Event e = event(EventKind::PlanRefused, now);
    e.rule = d.refused;
    e.detail = plan.reason;
    d.events.push_back(std::move(e));
    return d;
  }
  if (!in_service(region)) return refuse(std::move(d), Rule::UnknownRegion, now);
  if (state_of(c, region) == Verdict::Down && !force) {
    return refuse(std::move(d), Rule::TargetConfirmedDown, now);
  }
  Wanted w;
  w.active = {region};
  w.members = publish_members(service_, {{region, 1.0}});
  w.reason = "manual failover to " + region.str() + (force ? " (forced)" : "");
  add_evidence(w.evidence, c, region);
  if (same_members(w.members, live_.members)) return d;  // already there
  Decision out = hand_out(make_plan(std::move(w), Trigger::Manual, now), now);
  if (out.plan) manual_hold_ = service_.regions.empty() || region != service_.regions.front();
  return out;
}

Decision ServicePolicy::failback(bool force, const Confirmed& c, TimePoint now) {
  switch (service_.policy) {
    case config::Policy::Priority: {
      if (service_.regions.empty()) return refuse(Decision{}, Rule::UnknownRegion, now);
      Decision d = failover(service_.regions.front(), force, c, now);
      if (!d.refused) manual_hold_ = false;
      return d;
    }
    case config::Policy::Weighted: {
      if (!live_known_) return refuse(Decision{}, Rule::LiveUnknown, now);
      Wanted w = want_weighted(c, now, Additions::Now);
      if (w.blocked) return refuse(Decision{}, *w.blocked, now);
      manual_hold_ = false;
      if (!w.change) return {};
      w.reason = "manual failback: " + w.reason;
      return hand_out(make_plan(std::move(w), Trigger::Manual, now), now);
    }
  }
  return {};
}

Decision ServicePolicy::pin(const RegionId& region, bool force, const Confirmed& c,
                            TimePoint now) {
  Decision d = failover(region, force, c, now);
  if (d.refused) return d;
  pinned_ = region;
  Event e = event(EventKind::ServiceFrozen, now);
  e.rule = Rule::Pinned;
  e.region = region;
  e.detail = "pinned by operator";
  d.events.push_back(std::move(e));
  return d;
}

ServicePolicy::History ServicePolicy::history() const {
  if (!live_known_) return baseline_.value_or(History{});
  History h;
  h.generation = live_.generation;
  h.last_flip = last_flip_;
  const std::size_t keep = static_cast<std::size_t>(service_.flip_budget) + 1;
  const std::size_t from = automatic_flips_.size() > keep ? automatic_flips_.size() - keep : 0;
  h.automatic_flips.assign(automatic_flips_.begin() + static_cast<std::ptrdiff_t>(from),
                           automatic_flips_.end());
  return h;
}

void ServicePolicy::restore_history(const History& history) {
  if (live_known_ || history.generation == 0) return;
  baseline_ = history;
  last_flip_ = history.last_flip;
  automatic_flips_.assign(history.automatic_flips.begin(), history.automatic_flips.end());
}

void ServicePolicy::restore_pin(const RegionId& region) {
  if (in_service(region)) pinned_ = region;
}

Decision ServicePolicy::unpin(TimePoint now) {
  Decision d;
  if (!pinned_) return d;
  pinned_.reset();
  // The pin's move was an operator's (its fence says manual), but unpinning hands the service
  // back to the automation, failback included: unlike a manual failover, it holds no longer.
  manual_hold_ = false;
  last_refusal_.reset();
  d.events.push_back(event(EventKind::ServiceUnfrozen, now));
  return d;
}

Decision ServicePolicy::approve(TimePoint now) {
  Decision d;
  if (!pending_) return refuse(std::move(d), Rule::NoPendingProposal, now);
  if (now - pending_->decided_at > service_.max_decision_age) {
    pending_.reset();
    return refuse(std::move(d), Rule::DecisionTooOld, now);
  }
  if (frozen_) return refuse(std::move(d), Rule::Frozen, now);
  if (in_tilt(now)) return refuse(std::move(d), Rule::Tilt, now);
  Plan plan = std::move(*pending_);
  pending_.reset();
  plan.reason = "approved: " + plan.reason;
  return hand_out(std::move(plan), now);
}

TimePoint ServicePolicy::next_due(TimePoint now) const {
  TimePoint due = TimePoint::max();
  auto consider = [&](TimePoint t) {
    if (t > now) due = std::min(due, t);
  };
  if (tilt_until_) consider(*tilt_until_);
  if (last_flip_) consider(*last_flip_ + service_.hold_down);
  if (pending_) consider(pending_->decided_at + service_.max_decision_age);
  if (in_flight_) consider(in_flight_->decided_at + service_.max_decision_age);
  for (const auto& [region, since] : up_since_) consider(since + service_.failback_delay);
  if (!automatic_flips_.empty()) consider(automatic_flips_.front() + service_.flip_window);
  return due;
}

}  // namespace failoverd::core
