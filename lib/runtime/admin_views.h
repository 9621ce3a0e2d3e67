// The admin API's views: the JSON that /status, /services/NAME and `failoverctl status|why`
// show, built from the core, the config and what the engine keeps per service.
//
// Owns nothing: every view is a function of its arguments (and the clock, for ages).
// Promises: the JSON shape the admin API documents and the tests check (field names, nulls for
// what is not known); a hold shows who set it, on which observer, why and since when, from the
// cluster's hold state when it has one, else from what this process knows (HoldOrigin).
// Called by the engine's admin::Control (status, service) on the event loop.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/holds.h"
#include "core/types.h"
#include "runtime/state_store.h"

namespace failoverd::core {
class ObserverEngine;
class ServicePolicy;
}  // namespace failoverd::core
namespace failoverd::actuate {
class Reconciler;
}
namespace failoverd::peer {
struct PeerStatus;
}

namespace failoverd::runtime {

// What the views read of one service besides the core.
struct ServiceFacts {
  const config::Service& config;
  std::string_view target_kind;  // the actuator's kind, "none" without one
  const actuate::Reconciler& reconciler;
  const core::HoldState& holds;
  const std::optional<HoldOrigin>& freeze_origin;
  const std::optional<HoldOrigin>& pin_origin;
  const std::string& last_outcome;  // the reconciler's last event
};

// "east,west": regions as the views, logs and metrics name them.
std::string join_regions(const std::vector<core::RegionId>& regions);

// "by ops on obs-a since 2026-12-03T12:00:00Z: db migration"
std::string describe_hold(const core::Hold& h);

// One service's line of the status view.
boost::json::object service_summary(const core::ObserverEngine& core, const ServiceFacts& s);
// What keeps the service from changing on its own.
boost::json::array hold_view(const ServiceFacts& s, const core::ServicePolicy& p);
// One region as this observer sees it: confirmed state, raw verdict, fresh votes with evidence.
boost::json::object region_view(const core::ObserverEngine& core, const config::Config& cfg,
                                const core::RegionId& region, core::TimePoint now);
// The whole observer (/status). `peers` is null without a cluster.
boost::json::value status_view(const core::ObserverEngine& core, const config::Config& cfg,
                               const std::vector<ServiceFacts>& services,
                               const std::vector<peer::PeerStatus>* peers);
// One service in detail (/services/NAME): its summary, its regions, its live members.
boost::json::value service_view(const core::ObserverEngine& core, const config::Config& cfg,
                                const ServiceFacts& s);

}  // namespace failoverd::runtime
