#include "actuate/reconcile.h"

#include <algorithm>
#include <utility>

#include "core/guards.h"

namespace failoverd::actuate {

namespace {

std::vector<std::string> values_of(const std::vector<LiveMember>& members) {
  std::vector<std::string> v;
  for (const auto& m : members) v.push_back(m.value);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<std::string> values_of(const std::vector<core::PlanMember>& members) {
  std::vector<std::string> v;
  for (const auto& m : members) v.push_back(m.value);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

core::Generation gen_of(const LiveState& s) {
  return s.fence ? s.fence->generation : 0;
}

}  // namespace

std::string_view to_string(ReconcileEvent::Kind k) {
  using K = ReconcileEvent::Kind;
  switch (k) {
    case K::Applied:
      return "applied";
    case K::Conflict:
      return "conflict";
    case K::Unknown:
      return "unknown";
    case K::Retry:
      return "retry";
    case K::Unreachable:
      return "unreachable";
    case K::Drift:
      return "drift";
    case K::Adopted:
      return "adopted";
    case K::Frozen:
      return "frozen";
    case K::Restored:
      return "restored";
    case K::Refused:
      return "refused";
    case K::Invalid:
      return "invalid";
    case K::Rejected:
      return "rejected";
    case K::BudgetExhausted:
      return "budget_exhausted";
    case K::Resumed:
      return "resumed";
  }
  return "unknown";
}

Reconciler::Reconciler(ReconcileOptions options, std::uint64_t seed)
    : options_(std::move(options)), rng_(seed) {}

bool Reconciler::busy() const {
  return desired_.has_value() || writing_.has_value() || phase_ == Phase::InFlight;
}

void Reconciler::emit(ReconcileEvent::Kind kind, std::string detail, core::Generation gen,
                      bool alert) {
  events_.push_back(ReconcileEvent{kind, std::move(detail), gen, alert, std::nullopt});
}

std::vector<ReconcileEvent> Reconciler::take_events() {
  return std::exchange(events_, {});
}

void Reconciler::schedule_read(Purpose purpose, core::TimePoint at) {
  phase_ = Phase::Read;
  purpose_ = purpose;
  due_ = at;
}

void Reconciler::schedule_write(core::Plan plan, LiveState expected, core::TimePoint at,
                                bool retry) {
  const bool counted = retry || plan.trigger == core::Trigger::Automatic;
  if (counted && automated_writes(at) >= options_.write_budget) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(options_.write_budget_window).count();
    std::string why = std::to_string(options_.write_budget) + " automated writes within " +
                      std::to_string(seconds) + " s (write_budget): " + plan.reason +
                      " not written";
    if (!budget_alerted_) {
      emit(ReconcileEvent::Kind::BudgetExhausted, why + "; automation frozen until an operator "
           "unfreezes", plan.generation, true);
      budget_alerted_ = true;
    } else {
      emit(ReconcileEvent::Kind::Rejected, why, plan.generation, false);
    }
    writing_.reset();
    desired_.reset();
    restoring_ = false;
    schedule_read(Purpose::Check, at + options_.interval);
    return;
  }
  counted_ = counted;
  writing_ = std::move(plan);
  expected_ = std::move(expected);
  write_status_.reset();
  phase_ = Phase::Write;
  due_ = at;
}

core::TimePoint Reconciler::backoff(core::TimePoint now) {
  auto d = core::backoff_delay(options_.retry, attempt_, rng_);
  if (attempt_ < 64) ++attempt_;
  return now + d;
}

void Reconciler::freeze(std::string why, core::TimePoint now) {
  if (!frozen_) emit(ReconcileEvent::Kind::Frozen, why, live_ ? gen_of(*live_) : 0, true);
  frozen_ = true;
  frozen_generation_ = std::max({frozen_generation_, max_seen_, live_ ? gen_of(*live_) : 0});
  if (desired_) {
    emit(ReconcileEvent::Kind::Rejected, "plan dropped: service frozen", desired_->generation,
         false);
    desired_.reset();
  }
  writing_.reset();
  restoring_ = false;
  schedule_read(Purpose::Check, now + options_.interval);
}

void Reconciler::block(const std::string& detail, bool write, core::Generation gen,
                       core::TimePoint now) {
  // One alert per cause; the same refusal again is logged, not alerted.
  const bool fresh = blocked_ != detail;
  blocked_ = detail;
  blocked_write_ = blocked_write_ || write;
  writing_.reset();
  restoring_ = false;
  if (desired_) {
    emit(ReconcileEvent::Kind::Rejected, "plan dropped: the target refuses us", desired_->generation,
         false);
    desired_.reset();
  }
  emit(ReconcileEvent::Kind::Refused, detail, gen, fresh);
  schedule_read(Purpose::Check, backoff(now));
}

void Reconciler::unblock(bool by_write, core::Generation gen) {
  if (!blocked_ || (blocked_write_ && !by_write)) return;
  emit(ReconcileEvent::Kind::Resumed, "the target accepts us again (was: " + *blocked_ + ")", gen,
       false);
  blocked_.reset();
  blocked_write_ = false;
  attempt_ = 0;
}

void Reconciler::set_desired(core::Plan plan, core::TimePoint now, bool fresh_read) {
  if (held_ && plan.trigger == core::Trigger::Automatic) {
    emit(ReconcileEvent::Kind::Rejected, "automation frozen: automatic plan not written",
         plan.generation, false);
    return;
  }
  if (frozen_ || phase_ == Phase::Stopped) {
    emit(ReconcileEvent::Kind::Rejected,
         frozen_ ? "service frozen: restore first" : "stopped after a refusal: resume first",
         plan.generation, false);
    return;
  }
  if (writing_) {
    // One write at a time: the newer decision waits until the current one is resolved, and then
    // still needs a live generation equal to its base.
    desired_ = std::move(plan);
    return;
  }
  desired_ = std::move(plan);
  if (fresh_read && phase_ == Phase::InFlight && in_flight_ == ReconcileAction::Kind::Read) {
    stale_read_ = true;
  }
  // Blocked: the write waits for the backoff's read (never sooner), and goes after it.
  if (phase_ != Phase::InFlight) schedule_read(Purpose::Prepare, blocked_ ? std::max(now, due_) : now);
}

void Reconciler::restore(core::TimePoint now) {
  if (!lkg_) {
    emit(ReconcileEvent::Kind::Rejected, "restore: no last known good set", 0, true);
    return;
  }
  if (phase_ == Phase::InFlight) {
    // An operator's restore is never dropped because a read or write happens to be out (the
    // admin API has already answered "started"). A periodic read in flight is as fresh as one
    // started now, and the write it leads to is a CAS on what it saw: its answer serves the
    // restore. A write, or the read-back of one, is resolved first; the restore then starts.
    if (in_flight_ == ReconcileAction::Kind::Read && purpose_ != Purpose::ReadBack) {
      desired_.reset();
      restoring_ = true;
      attempt_ = 0;
      purpose_ = Purpose::Restore;
    } else {
      restore_pending_ = true;
    }
    return;
  }
  start_restore(now);
}

void Reconciler::start_restore(core::TimePoint now) {
  restore_pending_ = false;
  desired_.reset();
  writing_.reset();
  restoring_ = true;
  attempt_ = 0;
  schedule_read(Purpose::Restore, now);
}

void Reconciler::resume(core::TimePoint now) {
  if (phase_ != Phase::Stopped) return;
  attempt_ = 0;
  writing_.reset();
  schedule_read(Purpose::Check, now);
}

std::size_t Reconciler::automated_writes(core::TimePoint now) {
  while (!automated_sent_.empty() && automated_sent_.front() + options_.write_budget_window <= now) {
    automated_sent_.pop_front();
  }
  if (automated_sent_.empty()) budget_alerted_ = false;
  return automated_sent_.size();
}

void Reconciler::reset_budget() {
  automated_sent_.clear();
  budget_alerted_ = false;
}

void Reconciler::continue_from(const Reconciler& previous) {
  automated_sent_ = previous.automated_sent_;
  budget_alerted_ = previous.budget_alerted_;
  max_own_written_ = previous.max_own_written_;
  if (previous.lkg_) lkg_ = previous.lkg_;
}

void Reconciler::set_last_known_good(std::vector<LiveMember> members) {
  if (!members.empty()) lkg_ = std::move(members);
}

std::optional<ReconcileAction> Reconciler::poll(core::TimePoint now) {
  if (phase_ == Phase::InFlight || phase_ == Phase::Stopped || now < due_) return std::nullopt;
  ReconcileAction a;
  if (phase_ == Phase::Write && writing_) {
    const core::GuardParams guards{gen_of(expected_), options_.min_targets,
                                   options_.max_decision_age};
    if (auto rule = core::check_plan(*writing_, guards, now)) {
      // Never sent: the policy (or the repair) decides again from what the next read shows.
      const core::Generation gen = writing_->generation;
      emit(ReconcileEvent::Kind::Rejected,
           "plan refused at sending: " + std::string(core::to_string(*rule)), gen, false);
      events_.back().rule = *rule;
      writing_.reset();
      desired_.reset();
      restoring_ = false;
      purpose_ = Purpose::Check;
      phase_ = Phase::InFlight;
      in_flight_ = ReconcileAction::Kind::Read;
      return a;  // a read
    }
    if (counted_) automated_sent_.push_back(now);
    a.kind = ReconcileAction::Kind::Write;
    a.plan = *writing_;
    a.expected = expected_;
  } else {
    a.kind = ReconcileAction::Kind::Read;
  }
  phase_ = Phase::InFlight;
  in_flight_ = a.kind;
  return a;
}

core::TimePoint Reconciler::next_due() const {
  if (phase_ == Phase::InFlight || phase_ == Phase::Stopped) return core::TimePoint::max();
  return due_;
}

std::optional<std::string> Reconciler::invalid_reason(const LiveState& s) const {
  if (s.members.empty()) return "the managed RRset is empty";
  if (!s.fence) return "the fence record is missing";
  const Fence& f = *s.fence;
  if (f.writer == options_.self.str() && max_own_written_ && f.generation > *max_own_written_ &&
      !(writing_ && writing_->generation == f.generation)) {
    return "fence generation " + std::to_string(f.generation) + " claims to be ours but we wrote " +
           "at most " + std::to_string(*max_own_written_);
  }
  if (seen_any_ && f.generation > max_seen_ &&
      f.generation - max_seen_ > options_.max_generation_jump) {
    return "fence generation " + std::to_string(f.generation) +
           " is from the future (highest seen " + std::to_string(max_seen_) + ")";
  }
  return std::nullopt;
}

void Reconciler::on_write(const WriteResult& result, core::TimePoint now) {
  write_status_ = result.status;
  write_detail_ = result.detail;
  core::Generation gen = writing_ ? writing_->generation : 0;
  using K = ReconcileEvent::Kind;
  switch (result.status) {
    case WriteStatus::Applied:
      break;
    case WriteStatus::Unknown:
      emit(K::Unknown, result.detail, gen, false);
      break;
    case WriteStatus::Conflict:
      break;
    case WriteStatus::Refused:
      break;  // settled by the read-back: block() there
    case WriteStatus::Invalid:
      emit(K::Invalid, result.detail, gen, true);
      writing_.reset();
      restoring_ = false;
      desired_.reset();
      phase_ = Phase::Stopped;
      return;
  }
  // Whatever the answer, the truth is what the primary now holds (read back).
  schedule_read(Purpose::ReadBack, now);
}

void Reconciler::on_read(const ReadResult& result, core::TimePoint now) {
  handle_read(result, now);
  stale_read_ = false;  // that read is over; whatever comes next was sent after the plan
  // A restore asked for while a write was being resolved starts once it is (see restore()).
  if (restore_pending_ && phase_ != Phase::InFlight && phase_ != Phase::Stopped &&
      !(phase_ == Phase::Read && purpose_ == Purpose::ReadBack)) {
    start_restore(now);
  }
}

void Reconciler::handle_read(const ReadResult& result, core::TimePoint now) {
  using K = ReconcileEvent::Kind;
  switch (result.status) {
    case ReadStatus::Ok:
      break;
    case ReadStatus::Unreachable:
      if (result.answered) {
        // Slow, not down: replies are arriving, the actuator has lengthened its deadline. Read
        // again at once; each such read takes its whole (growing) deadline, so this is no hot
        // loop, and a backoff here would only delay a failover by up to retry.cap.
        emit(K::Unreachable, "slow, reading again: " + result.detail, 0, false);
        schedule_read(purpose_, now);
        return;
      }
      emit(K::Unreachable, result.detail, 0, attempt_ >= 3);
      schedule_read(purpose_, backoff(now));
      return;
    case ReadStatus::Refused:
      block(result.detail, false, 0, now);
      return;
    case ReadStatus::Error:
      if (purpose_ == Purpose::Restore) {
        emit(K::Rejected, "restore: cannot read a usable state: " + result.detail, 0, true);
      }
      freeze("unreadable live state: " + result.detail, now);
      return;
  }
  const LiveState& s = result.state;
  live_ = s;
  unblock(false, gen_of(s));
  Purpose purpose = purpose_;
  if (purpose != Purpose::Restore) {
    if (auto why = invalid_reason(s)) {
      // A read-back that finds our own write is not "from the future".
      freeze(*why, now);
      return;
    }
  }
  if (s.fence) {
    max_seen_ = seen_any_ ? std::max(max_seen_, s.fence->generation) : s.fence->generation;
    seen_any_ = true;
  }
  switch (purpose) {
    case Purpose::ReadBack:
      read_back(s, now);
      return;
    case Purpose::Prepare:
      prepare(s, now);
      return;
    case Purpose::Check:
      check(s, now);
      return;
    case Purpose::Restore: {
      core::Plan p;
      p.service = options_.service;
      p.base_generation = gen_of(s);
      p.generation = std::max(max_seen_, gen_of(s)) + 1;
      for (const auto& m : *lkg_) p.members.push_back({core::RegionId(), m.value, m.weight});
      p.trigger = core::Trigger::Restore;
      p.reason = "restore last known good";
      p.decided_at = now;
      schedule_write(std::move(p), s, now);
      return;
    }
  }
}

void Reconciler::converged(const LiveState& s) {
  intended_ = values_of(s.members);
  known_fence_ = s.fence;
  lkg_ = s.members;
  drift_reported_ = false;
}

void Reconciler::read_back(const LiveState& s, core::TimePoint now) {
  using K = ReconcileEvent::Kind;
  const core::Plan& w = *writing_;
  bool own =
      s.fence && s.fence->generation == w.generation && s.fence->writer == options_.self.str();
  if (own && values_of(s.members) == values_of(w.members)) {
    max_own_written_ = std::max(max_own_written_.value_or(0), w.generation);
    emit(K::Applied, w.reason, w.generation, false);
    unblock(true, w.generation);
    if (restoring_) {
      emit(K::Restored, "last known good set is live", w.generation, true);
      frozen_ = false;
      restoring_ = false;
    }
    writing_.reset();
    attempt_ = 0;
    converged(s);
    if (desired_) {
      prepare(s, now);
    } else {
      schedule_read(Purpose::Check, now + options_.interval);
    }
    return;
  }
  bool unchanged =
      s.fence == expected_.fence && values_of(s.members) == values_of(expected_.members);
  if (unchanged &&
      (write_status_ == WriteStatus::Unknown || write_status_ == WriteStatus::Applied)) {
    // Not applied, and nothing else moved: the same CAS is safe to send again (A3). NOERROR
    // with no change is an unknown outcome too (read back), and suspicious: alert.
    bool noerror = write_status_ == WriteStatus::Applied;
    emit(K::Retry,
         noerror ? "NOERROR but the target is unchanged; retrying the same compare-and-swap"
                 : "write not applied; retrying the same compare-and-swap",
         w.generation, noerror || attempt_ >= 3);
    schedule_write(w, expected_, backoff(now), true);
    return;
  }
  if (write_status_ == WriteStatus::Refused) {
    if (restoring_) emit(K::Rejected, "restore refused by the target; still frozen", 0, true);
    block(write_detail_, true, w.generation, now);
    return;
  }
  // The fence moved elsewhere (A1) or the CAS failed: never re-apply this plan on top.
  emit(K::Conflict,
       "live generation " + std::to_string(gen_of(s)) + " (expected " +
           std::to_string(gen_of(expected_)) + "); plan dropped, re-decide",
       w.generation, false);
  writing_.reset();
  attempt_ = 0;
  if (restoring_) {
    restoring_ = false;
    emit(K::Rejected, "restore lost a race; still frozen, restore again", 0, true);
    schedule_read(Purpose::Check, now + options_.interval);
    return;
  }
  check(s, now);
}

void Reconciler::prepare(const LiveState& s, core::TimePoint now) {
  if (!desired_) {
    check(s, now);
    return;
  }
  if (stale_read_) {
    // This read went out before the plan came and the plan wants a later one: read again now.
    stale_read_ = false;
    schedule_read(Purpose::Prepare, now);
    return;
  }
  core::Plan p = std::move(*desired_);
  desired_.reset();
  if (held_ && p.trigger == core::Trigger::Automatic) {
    // Taken before the freeze (or a peer's freeze) arrived, not yet sent: it is not sent now.
    emit(ReconcileEvent::Kind::Rejected, "automation frozen: automatic plan not written",
         p.generation, false);
    check(s, now);
    return;
  }
  if (gen_of(s) != p.base_generation) {
    emit(ReconcileEvent::Kind::Conflict,
         "plan made against generation " + std::to_string(p.base_generation) + ", live is " +
             std::to_string(gen_of(s)) + "; re-decide",
         p.generation, false);
    check(s, now);
    return;
  }
  schedule_write(std::move(p), s, now);
}

void Reconciler::check(const LiveState& s, core::TimePoint now) {
  using K = ReconcileEvent::Kind;
  schedule_read(Purpose::Check, now + options_.interval);
  if (desired_) {
    prepare(s, now);
    return;
  }
  if (frozen_) {
    // Monitoring only until restore() - ours, or another observer's: a valid state whose fence
    // is above every generation seen up to and while frozen was written through the fence after
    // the damage (a restore elsewhere). It is adopted; restoring it again here would only be a
    // second write. A hand edit that puts members back under the old fence is no such proof.
    // Example: frozen on an empty RRset at gen 5; read {a} gen 5 -> still frozen; read {a}
    // gen 6 by obs-c -> Restored (alert), {a} gen 6 is the baseline.
    if (gen_of(s) > frozen_generation_) {
      frozen_ = false;
      emit(K::Restored,
           "repaired through the fence by " + (s.fence ? s.fence->writer : std::string("?")) +
               " at generation " + std::to_string(gen_of(s)) + "; adopted, unfrozen",
           gen_of(s), true);
      converged(s);
    }
    return;
  }
  auto live_values = values_of(s.members);
  if (!intended_) {
    converged(s);  // first look: adopt what is there as the baseline
    return;
  }
  if (live_values == *intended_) {
    known_fence_ = s.fence;
    lkg_ = s.members;
    drift_reported_ = false;
    return;
  }
  if (s.fence != known_fence_) {
    emit(K::Adopted,
         "fence moved to generation " + std::to_string(gen_of(s)) + " by " +
             (s.fence ? s.fence->writer : std::string("?")),
         gen_of(s), false);
    converged(s);
    return;
  }
  // Same fence, other members: a change made behind the fence's back.
  if (options_.drift == config::DriftAction::Report || held_) {
    if (!drift_reported_) {
      emit(K::Drift, held_ ? "live members differ; not repaired while automation is frozen"
                           : "live members differ; reporting only", gen_of(s), true);
    }
    drift_reported_ = true;
    return;
  }
  emit(K::Drift, "live members differ; repairing", gen_of(s), true);
  core::Plan p;
  p.service = options_.service;
  p.base_generation = gen_of(s);
  p.generation = gen_of(s) + 1;
  for (const auto& v : *intended_) p.members.push_back({core::RegionId(), v, 1});
  p.reason = "repair drift";
  p.decided_at = now;
  p.trigger = core::Trigger::Automatic;
  schedule_write(std::move(p), s, now);
}

}  // namespace failoverd::actuate
