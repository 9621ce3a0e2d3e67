#include "core/events.h"

namespace failoverd::core {

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::EndpointChanged: return "endpoint_changed";
    case EventKind::VerdictChanged: return "verdict_changed";
    case EventKind::ObserverImpaired: return "observer_impaired";
    case EventKind::ObserverRecovered: return "observer_recovered";
    case EventKind::QuorumChanged: return "quorum_changed";
    case EventKind::LiveChanged: return "live_changed";
    case EventKind::PlanProposed: return "plan_proposed";
    case EventKind::PlanMade: return "plan_made";
    case EventKind::PlanRefused: return "plan_refused";
    case EventKind::ProposalExpired: return "proposal_expired";
    case EventKind::ServiceFrozen: return "service_frozen";
    case EventKind::ServiceUnfrozen: return "service_unfrozen";
    case EventKind::TiltEntered: return "tilt_entered";
    case EventKind::TiltLeft: return "tilt_left";
    case EventKind::Alert: return "alert";
  }
  return "event";
}

std::string describe(const Event& e) {
  std::string out(to_string(e.kind));
  auto field = [&out](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    out += ' ';
    out += key;
    out += '=';
    bool quote = value.find(' ') != std::string_view::npos;
    if (quote) out += '"';
    out += value;
    if (quote) out += '"';
  };
  field("service", e.service.str());
  field("region", e.region.str());
  field("endpoint", e.endpoint.str());
  field("from", e.from);
  field("to", e.to);
  if (e.rule) field("rule", to_string(*e.rule));
  if (e.generation != 0) field("generation", std::to_string(e.generation));
  field("detail", e.detail);
  return out;
}

void append(Events& out, Events&& more) {
  for (auto& e : more) out.push_back(std::move(e));
}

}  // namespace failoverd::core
