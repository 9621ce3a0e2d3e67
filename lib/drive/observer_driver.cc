#include "drive/observer_driver.h"

#include <utility>

namespace failoverd::drive {

void sync_hold(const core::ObserverEngine& core, ServiceDriver& driver) {
  const auto* policy = core.policy(driver.config().name);
  driver.set_held(policy != nullptr && policy->frozen());
}

core::Decision admin(core::ObserverEngine& core, ServiceDriver* driver,
                     const core::AdminAction& action, core::TimePoint now) {
  core::Decision d = core.admin(action, now);
  if (driver == nullptr) return d;
  const auto* policy = core.policy(action.service);
  if (!d.refused && action.kind == core::AdminAction::Kind::Unfreeze && policy != nullptr &&
      !policy->frozen()) {
    driver->reconciler().reset_budget();
  }
  sync_hold(core, *driver);
  return d;
}

Settled settle(core::ObserverEngine& core, ServiceDriver& driver, core::TimePoint now) {
  Settled out;
  out.target_events = driver.take_events();
  for (const auto& e : out.target_events) {
    if (e.kind != actuate::ReconcileEvent::Kind::BudgetExhausted) continue;
    const auto* policy = core.policy(driver.config().name);
    if (policy == nullptr || policy->frozen()) continue;
    core::AdminAction a;
    a.kind = core::AdminAction::Kind::Freeze;
    a.service = driver.config().name;
    a.reason = "write budget exhausted: " + e.detail;
    core::Decision d = core.admin(a, now);
    for (auto& ev : d.events) out.core_events.push_back(std::move(ev));
    out.budget_frozen = policy->frozen();
  }
  sync_hold(core, driver);
  if (auto live = driver.live()) {
    for (auto& ev : core.set_live(driver.config().name, *live, now)) {
      out.core_events.push_back(std::move(ev));
    }
  }
  return out;
}

std::vector<std::optional<core::Duration>> hand_plans(
    const core::ObserverEngine& core, std::vector<core::Plan> plans, core::TimePoint now,
    const std::function<ServiceDriver*(const core::ServiceId&)>& find,
    const std::function<std::optional<core::Duration>(const ServiceDriver&)>& round_trip) {
  std::vector<std::optional<core::Duration>> waits;
  for (auto& plan : plans) {
    ServiceDriver* d = find(plan.service);
    if (d == nullptr) {
      waits.emplace_back();
      continue;
    }
    sync_hold(core, *d);
    waits.push_back(d->take(std::move(plan), now, round_trip(*d)));
  }
  return waits;
}

}  // namespace failoverd::drive
