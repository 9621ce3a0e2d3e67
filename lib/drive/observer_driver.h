// The observer's side of the driver: how one observer's core (core::ObserverEngine) and its
// service drivers (drive/service_driver.h) are joined, the same in the daemon and the simulator.
//
//   admin()       an operator's action: the core decides, the driver's budget and hold follow;
//   hand_plans()  a core step's plans go to their services' drivers (staggered or at once);
//   settle()      after every operation on a target: the driver's events, a write budget spent
//                 (the service freezes, held by "core", as an operator's freeze would), the hold
//                 (a frozen service's driver takes no automatic plan and repairs no drift) and
//                 the live state read back to the core.
// Pure: no I/O, no clock reads.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "core/observer.h"
#include "drive/service_driver.h"

namespace failoverd::drive {

struct Settled {
  std::vector<actuate::ReconcileEvent> target_events;  // for the journal, logs and metrics
  core::Events core_events;                            // from the budget freeze and set_live
  bool budget_frozen = false;  // this operation's events froze the service (write budget)
};

// An operator's action on the core, and what it means for the service's driver: an unfreeze
// that took effect forgets the write budget spent (the operator has looked), the hold follows.
core::Decision admin(core::ObserverEngine& core, ServiceDriver* driver,
                     const core::AdminAction& action, core::TimePoint now);

// The driver's hold follows the policy's freeze.
void sync_hold(const core::ObserverEngine& core, ServiceDriver& driver);

Settled settle(core::ObserverEngine& core, ServiceDriver& driver, core::TimePoint now);

// Hands each plan to its service's driver (`find` maps a service to it, nullptr: none) and
// returns, per plan in order, the wait it was deferred by (nullopt: handed at once).
// `round_trip` gives a service's measured target round-trip time, where known.
std::vector<std::optional<core::Duration>> hand_plans(
    const core::ObserverEngine& core, std::vector<core::Plan> plans, core::TimePoint now,
    const std::function<ServiceDriver*(const core::ServiceId&)>& find,
    const std::function<std::optional<core::Duration>(const ServiceDriver&)>& round_trip);

}  // namespace failoverd::drive
