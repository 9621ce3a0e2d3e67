// Scenario files for `failoverd simulate` and the simulator tests (TOML, parsed with toml++).
//
// A scenario file carries everything a run needs, so that it works without the config loader:
//
//   name = "F1 primary region hard down"
//   duration = "120s"            # simulated time
//   tick = "250ms"               # simulation step
//   exchange_delay = "0s"        # vote delivery delay between observers
//   observers = ["obs-a", "obs-b", "obs-c"]
//
//   [observer]        tilt_period, max_loop_lag                          (optional)
//   [cluster]         verdict_ttl, exchange_interval, quorum             (optional)
//   [probe_defaults]  interval, fast_interval, down_interval, rise, fall, forgive_after,
//                     degraded_latency                                   (optional)
//   control = ["gateway"]                                                (optional)
//   [regions.NAME]    endpoints = ["e1", ...], min_up, min_up_fraction, degraded_fraction
//   [services.NAME]   policy, mode, regions, weights = {..}, degraded_weight_factor,
//                     publish = {REGION = [values]}, failback, failback_delay, hold_down,
//                     flip_budget, flip_window, min_targets, max_decision_age
//
//   [[timeline]]      t = "10s", action = ..., and the action's keys:
//     probe            region | endpoints, outcome ("ok", "timeout", "refused", ... the probe
//                      reason names), latency, observers
//     cut_region, heal_region   region (all when absent), observers
//     partition_peers  groups = [["obs-a"], ["obs-b", "obs-c"]]
//     heal_peers
//     isolate, heal, cut_target, clock_jump   observers
//     stall            duration, observers
//     freeze, unfreeze, failover, failback, approve, pin, unpin
//                      observer (the one the operator talks to; default the first), service,
//                      region, force, reason
//   [[expect]]        what = writes | failovers | failed_writes | events | active | verdict |
//                     confirmed | frozen | no_write_before | write_by | safe,
//                     and min, max, equals, service, region, observer, event, rule, is, t,
//                     before (see core::Expectation)
//
// Key names and duration strings are those of the daemon config (config/config.h). Unknown keys
// are errors. The regions/services part may be left out when the caller supplies a loaded
// config instead (`failoverd simulate --config`): then has_cluster is false.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "drive/sim.h"

namespace failoverd::config {

struct ScenarioFile {
  core::Scenario scenario;
  // Built from the file's [observer], [cluster], [probe_defaults], control, [regions],
  // [services]; observer.id is the first of `observers`.
  Config config;
  bool has_cluster = false;  // the file defines regions and services
};

struct ScenarioResult {
  std::optional<ScenarioFile> file;  // set only when errors is empty
  std::vector<std::string> errors;   // "file:line:column: key: message"
  bool ok() const { return file.has_value(); }
};

ScenarioResult parse_scenario_file(const std::string& path);
ScenarioResult parse_scenario_string(std::string_view text, const std::string& source_name);

}  // namespace failoverd::config
