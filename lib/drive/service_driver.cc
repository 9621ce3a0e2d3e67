#include "drive/service_driver.h"

#include <algorithm>
#include <utility>

#include "core/writer.h"

namespace failoverd::drive {

namespace {


}  // namespace

actuate::ReconcileOptions reconcile_options(const config::Service& service,
                                            const core::ObserverId& self) {
  actuate::ReconcileOptions o;
  o.service = service.name;  // the plans the reconciler makes itself (restore, repair) name it too
  o.self = self;
  o.drift = service.drift;
  o.interval = service.reconcile_interval;
  o.write_budget = service.write_budget;
  o.write_budget_window = service.write_budget_window;
  o.min_targets = service.min_targets;
  o.max_decision_age = service.max_decision_age;
  return o;
}

bool staggered(const config::Config& cfg, const config::Service& service) {
  return cfg.cluster && !cfg.cluster->peers.empty() &&
         service.target.scope == config::TargetScope::Shared;
}

core::RegionId region_of(const config::Service& service, const std::string& value) {
  for (const auto& [region, values] : service.publish) {
    if (std::find(values.begin(), values.end(), value) != values.end()) return region;
  }
  return {};
}

ServiceDriver::ServiceDriver(const config::Service& service, DriverOptions options,
                             std::uint64_t seed)
    : service_(service),
      options_(std::move(options)),
      reconciler_(reconcile_options(service, options_.self), seed) {}

std::optional<core::Duration> ServiceDriver::take(core::Plan plan, core::TimePoint now,
                                                  std::optional<core::Duration> round_trip) {
  if (options_.exchange_interval && plan.trigger == core::Trigger::Automatic) {
    const auto rank = core::writer_rank(options_.self, plan);
    if (rank > 0) {
      const auto stagger = std::clamp<core::Duration>(*options_.exchange_interval,
                                                      std::chrono::milliseconds(100),
                                                      std::chrono::seconds(2)) +
                           2 * round_trip.value_or(core::Duration::zero());
      const auto wait = std::min<core::Duration>(stagger * static_cast<int>(rank),
                                                 service_.max_decision_age / 2);
      deferred_ = std::move(plan);
      deferred_until_ = now + wait;
      return wait;
    }
  }
  deferred_.reset();
  hand(std::move(plan), now, /*fresh_read=*/false);
  return std::nullopt;
}

void ServiceDriver::hand(core::Plan plan, core::TimePoint now, bool fresh_read) {
  if (on_handed_) on_handed_(plan);
  reconciler_.set_desired(std::move(plan), now, fresh_read);
}

std::optional<actuate::ReconcileAction> ServiceDriver::poll(core::TimePoint now) {
  if (deferred_ && now >= deferred_until_) {
    core::Plan p = std::move(*deferred_);
    deferred_.reset();
    // A read sent after the wait: the writers before us have had their turn (core/writer.h).
    hand(std::move(p), now, /*fresh_read=*/true);
  }
  return reconciler_.poll(now);
}

core::TimePoint ServiceDriver::next_due() const {
  const auto due = reconciler_.next_due();
  if (!deferred_) return due;
  // A deferred plan is handed when its wait is over, even while an operation is out (poll()
  // then only hands it; the reconciler takes it with the next read).
  return std::min(due, deferred_until_);
}

void ServiceDriver::on_read(const actuate::ReadResult& result, core::TimePoint now) {
  reconciler_.on_read(result, now);
}

void ServiceDriver::on_write(const actuate::WriteResult& result, core::TimePoint now) {
  reconciler_.on_write(result, now);
}

std::optional<core::LiveState> ServiceDriver::live() const {
  const auto& live = reconciler_.live();
  if (!live) return std::nullopt;
  core::LiveState out;
  out.generation = live->fence ? live->fence->generation : 0;
  for (const auto& m : live->members) out.members.push_back({region_of(service_, m.value), m.value, m.weight});
  // As the fence records it, whoever wrote it (actuate/target_state.h).
  if (live->fence) out.trigger = live->fence->trigger;
  return out;
}

}  // namespace failoverd::drive
