// The admin API's actions (failover, failback, freeze, unfreeze, approve, pin, unpin, restore)
// on one service: checked, given to the core as an operator's action, journaled with the
// token's name, and answered.
//
// Owns nothing; it acts through the engine (ActionHost) and on the service's parts.
// Promises:
//   - Every action with a known service is journaled ("admin_ACTION", who, what; reason;
//     outcome) and the state file saved, whether it took effect or not.
//   - A reason longer than state::kMaxReasonBytes is refused (400) before anything changes.
//   - A refusal by a freeze in force or with nothing to approve is a conflict (409); an unknown
//     region a bad request (400); any other safety rule a refusal (422) naming the rule.
//   - A freeze, unfreeze, pin or unpin that took effect gets a new cluster hold version (the
//     peer exchange carries it); its origin (who, why, since) is recorded for the views.
//   - An unfreeze that took effect starts the reconciler's write budget afresh.
// Called by the engine's admin::Control::act on the event loop, after it found the service.
#pragma once

#include <string>

#include "admin/api.h"
#include "config/config.h"
#include "core/observer.h"
#include "core/plan.h"
#include "core/types.h"
#include "runtime/state_store.h"

namespace failoverd::runtime {

// What an action needs of the engine.
class ActionHost {
 public:
  virtual ~ActionHost() = default;
  virtual core::ObserverEngine& observer_core() = 0;
  // The core's events: logged, journaled, notified.
  virtual void handle(const core::Events& events) = 0;
  virtual void journal(std::string service, std::string kind, std::string who,
                       std::string detail) = 0;
  // A plan to the service's driver (and the actuator).
  virtual void hand_plan(core::Plan plan, core::TimePoint now) = 0;
  // The operator's action on the core, through the service's driver (drive::admin: an unfreeze
  // that took effect forgets the write budget spent, the hold follows).
  virtual core::Decision admin_on(const core::AdminAction& action, core::TimePoint now) = 0;
  // The service's loop looks again at once.
  virtual void wake_service(const core::ServiceId& service) = 0;
  virtual void publish_state_metrics() = 0;
  virtual void request_step() = 0;
  virtual void save_state() = 0;
};

// Carries out `req` on the service `config` (found by the caller).
admin::ActionResult act_on_service(ActionHost& host, const admin::ActionRequest& req,
                                   const config::Service& config, ServiceParts s);

// An operator's freeze/unfreeze/pin/unpin taken here, already applied to the policy: a new
// hold version in `holds` that the peer exchange carries to every observer.
void record_hold_action(const core::ObserverEngine& engine, core::HoldState& holds,
                        const config::Service& config, const admin::ActionRequest& req,
                        const core::ServicePolicy& policy);

}  // namespace failoverd::runtime
