#include "runtime/admin_actions.h"

#include <boost/json.hpp>

#include "actuate/reconcile.h"
#include "core/holds.h"
#include "core/observer.h"
#include "log/log.h"
#include "runtime/admin_views.h"
#include "state/state_file.h"

namespace failoverd::runtime {

namespace json = boost::json;
using core::Clock;

admin::ActionResult act_on_service(ActionHost& host, const admin::ActionRequest& req,
                                   const config::Service& config, ServiceParts s) {
  using K = admin::ActionResult::Kind;
  const auto now = Clock::now();
  core::ObserverEngine& engine = host.observer_core();
  // Operator-supplied text is bounded so the journal and the state file stay small (a hold is
  // never lost to a file grown too big: the request is refused instead).
  if (req.reason.size() > state::kMaxReasonBytes) {
    return {K::BadRequest,
            "reason is longer than " + std::to_string(state::kMaxReasonBytes) + " bytes", "", {}};
  }
  const std::string what = std::string(admin::to_string(req.action)) +
                           (req.region.empty() ? "" : " to " + req.region) +
                           (req.force ? " (forced)" : "");
  auto outcome = [&](K kind, std::string message, std::string rule = {}) {
    host.journal(req.service, "admin_" + std::string(admin::to_string(req.action)), req.who,
                 what + "; reason: " + (req.reason.empty() ? "-" : req.reason) + "; outcome: " +
                     message);
    log::info("admin action", {{"service", req.service}, {"who", req.who}, {"peer", req.peer},
                               {"action", what}, {"reason", req.reason}, {"outcome", message}});
    admin::ActionResult r{kind, message, std::move(rule), {}};
    r.body = json::object{{"message", message}, {"service", req.service}};
    host.save_state();
    return r;
  };

  if (req.action == admin::Action::Restore) {
    if (!s.reconciler.last_known_good()) {
      return outcome(K::Conflict, "nothing known good to restore yet");
    }
    s.reconciler.restore(now);
    host.wake_service(config.name);
    return outcome(K::Done, "restore of the last known good set started");
  }
  core::AdminAction a;
  a.service = config.name;
  a.region = core::RegionId{req.region};
  a.force = req.force;
  a.reason = req.reason;
  switch (req.action) {
    case admin::Action::Failover: a.kind = core::AdminAction::Kind::Failover; break;
    case admin::Action::Failback: a.kind = core::AdminAction::Kind::Failback; break;
    case admin::Action::Freeze: a.kind = core::AdminAction::Kind::Freeze; break;
    case admin::Action::Unfreeze: a.kind = core::AdminAction::Kind::Unfreeze; break;
    case admin::Action::Approve: a.kind = core::AdminAction::Kind::Approve; break;
    case admin::Action::Pin: a.kind = core::AdminAction::Kind::Pin; break;
    case admin::Action::Unpin: a.kind = core::AdminAction::Kind::Unpin; break;
    case admin::Action::Restore: break;  // handled above
  }
  const auto* policy = engine.policy(config.name);
  const bool was_frozen = policy != nullptr && policy->frozen();
  core::Decision d = host.admin_on(a, now);
  host.handle(d.events);
  if (!d.refused && policy != nullptr) {
    // Who holds the service, why and since when, for the status view.
    if (req.action == admin::Action::Freeze && !was_frozen && policy->frozen()) {
      s.freeze_origin = HoldOrigin{req.who, policy->frozen_reason(), wall_time()};
    }
    if (!policy->frozen()) s.freeze_origin.reset();
    if (req.action == admin::Action::Pin && policy->pinned()) {
      s.pin_origin = HoldOrigin{req.who, req.reason, wall_time()};
    }
    if (!policy->pinned()) s.pin_origin.reset();
    record_hold_action(engine, s.holds, config, req, *policy);
  }
  if (d.refused) {
    const auto rule = *d.refused;
    const std::string name(core::to_string(rule));
    // A freeze in force or nothing to approve is a conflict with the service's state; every
    // other refusal is a safety rule (422).
    if (rule == core::Rule::Frozen || rule == core::Rule::NoPendingProposal) {
      return outcome(K::Conflict, "refused: " + name, name);
    }
    if (rule == core::Rule::UnknownRegion) return outcome(K::BadRequest, "unknown region '" + req.region + "'");
    return outcome(K::Refused, "refused by safety rule " + name, name);
  }
  if (d.plan) {
    auto gen = d.plan->generation;
    auto active = join_regions(d.plan->active);
    host.hand_plan(std::move(*d.plan), now);
    host.publish_state_metrics();
    auto r = outcome(K::Done, "plan generation " + std::to_string(gen) + " to " + active +
                                  " handed to the actuator");
    r.body.as_object()["generation"] = gen;
    return r;
  }
  host.publish_state_metrics();
  host.request_step();
  return outcome(K::Done, "done");
}

void record_hold_action(const core::ObserverEngine& engine, core::HoldState& holds,
                        const config::Service& config, const admin::ActionRequest& req,
                        const core::ServicePolicy& policy) {
  core::HoldChange change = core::HoldChange::Freeze;
  switch (req.action) {
    case admin::Action::Freeze: change = core::HoldChange::Freeze; break;
    case admin::Action::Unfreeze: change = core::HoldChange::Unfreeze; break;
    case admin::Action::Pin: change = core::HoldChange::Pin; break;
    case admin::Action::Unpin: change = core::HoldChange::Unpin; break;
    case admin::Action::Failover:
    case admin::Action::Failback:
    case admin::Action::Approve:
    case admin::Action::Restore: return;  // not holds: they bind this observer only (yet)
  }
  if (change == core::HoldChange::Freeze && !policy.frozen()) return;
  if (change == core::HoldChange::Pin && !policy.pinned()) return;
  core::Hold h;
  h.who = req.who;
  h.reason = change == core::HoldChange::Freeze && req.reason.empty() ? "frozen by operator"
                                                                       : req.reason;
  h.since_unix_ms = unix_ms_now();
  h.observer = engine.id();
  if (change == core::HoldChange::Pin) h.region = *policy.pinned();
  holds = core::next_state(holds, change, engine.id(), h);
  log::info("hold version", {{"service", config.name.str()}, {"version", holds.version},
                             {"action", core::to_string(change)}});
}

}  // namespace failoverd::runtime
