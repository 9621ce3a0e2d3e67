#include "core/health.h"

#include <algorithm>

namespace failoverd::core {

std::string_view to_string(Health h) {
  switch (h) {
    case Health::Pending: return "pending";
    case Health::Up: return "up";
    case Health::Degraded: return "degraded";
    case Health::Down: return "down";
  }
  return "pending";
}

bool serving(Health h) {
  switch (h) {
    case Health::Up:
    case Health::Degraded: return true;
    case Health::Pending:
    case Health::Down: return false;
  }
  return false;
}

HealthParams health_params(const config::Endpoint& e) {
  HealthParams p;
  p.rise = e.rise;
  p.fall = e.fall;
  p.forgive_after = e.forgive_after;
  p.interval = e.interval;
  p.fast_interval = e.fast_interval;
  p.down_interval = e.down_interval;
  p.degraded_latency = e.degraded_latency;
  return p;
}

HealthTracker::HealthTracker(HealthParams params, TimePoint start)
    : params_(params), next_due_(start) {
  params_.rise = std::max<std::uint32_t>(params_.rise, 1);
  params_.fall = std::max<std::uint32_t>(params_.fall, 1);
}

Transition HealthTracker::observe(const ProbeOutcome& outcome, TimePoint now) {
  const Health from = state_;
  if (outcome.ok()) {
    last_success_ = now - outcome.latency;
    ++successes_;
    if (params_.forgive_after == 0 || successes_ >= params_.forgive_after) failures_ = 0;
    const bool slow = params_.degraded_latency > Duration::zero() &&
                      outcome.latency > params_.degraded_latency;
    const Health serving_state =
        (slow || outcome.reason == ProbeReason::CertExpiring) ? Health::Degraded : Health::Up;
    switch (state_) {
      case Health::Pending:
      case Health::Down:
        if (successes_ >= params_.rise) state_ = serving_state;
        break;
      case Health::Up:
      case Health::Degraded: state_ = serving_state; break;
    }
  } else {
    ++failures_;
    successes_ = 0;
    switch (state_) {
      case Health::Pending:
      case Health::Up:
      case Health::Degraded:
        if (failures_ >= params_.fall) state_ = Health::Down;
        break;
      case Health::Down: break;
    }
  }
  // A change of state starts the next streak from zero: a fresh Up endpoint owes no failures.
  if (state_ != from && (state_ == Health::Down || !serving(from))) {
    successes_ = 0;
    failures_ = 0;
  }
  next_due_ = now + next_interval();
  if (state_ != from) return {Transition::Kind::Changed, from, state_};
  return {suspect() ? Transition::Kind::Pending : Transition::Kind::Unchanged, from, state_};
}

bool HealthTracker::suspect() const {
  switch (state_) {
    case Health::Pending: return successes_ > 0 || failures_ > 0;
    case Health::Up:
    case Health::Degraded: return failures_ > 0;
    case Health::Down: return successes_ > 0;
  }
  return false;
}

Duration HealthTracker::next_interval() const {
  const Duration fast =
      params_.fast_interval > Duration::zero() ? params_.fast_interval : params_.interval;
  const Duration down =
      params_.down_interval > Duration::zero() ? params_.down_interval : params_.interval;
  switch (state_) {
    case Health::Pending: return fast;
    case Health::Up:
    case Health::Degraded: return suspect() ? fast : params_.interval;
    case Health::Down: return suspect() ? fast : down;
  }
  return params_.interval;
}

}  // namespace failoverd::core
