// Hand-built configs and small helpers shared by the core tests (no TOML loader needed).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "core/types.h"

namespace failoverd::test {

using namespace std::chrono_literals;

// t0 + offset: every core test runs on explicit times from this origin.
inline core::TimePoint at(core::Duration offset) {
  return core::TimePoint{} + std::chrono::hours(1) + offset;
}

inline config::Endpoint endpoint(const std::string& name) {
  config::Endpoint e;
  e.name = core::EndpointId{name};
  e.interval = 1s;
  e.rise = 2;
  e.fall = 2;
  return e;
}

inline config::Region region(const std::string& name, std::vector<std::string> endpoints) {
  config::Region r;
  r.name = core::RegionId{name};
  for (const auto& e : endpoints) r.endpoints.push_back(endpoint(e));
  return r;
}

// Three observers (obs-a is "this" one), regions east/west/south with two endpoints each, and a
// priority service "www" east > west > south, fast pacing so that tests stay short.
inline config::Config cluster_config(config::Policy policy = config::Policy::Priority) {
  config::Config c;
  c.observer.id = core::ObserverId{"obs-a"};
  c.observer.tilt_period = 10s;
  c.cluster = config::Cluster{};
  c.cluster->verdict_ttl = 3s;
  c.cluster->exchange_interval = 1s;
  c.cluster->peers = {{core::ObserverId{"obs-b"}, {}}, {core::ObserverId{"obs-c"}, {}}};
  c.regions = {region("east", {"e1", "e2"}), region("west", {"w1", "w2"}),
               region("south", {"s1", "s2"})};
  config::Service s;
  s.name = core::ServiceId{"www"};
  s.policy = policy;
  s.regions = {core::RegionId{"east"}, core::RegionId{"west"}, core::RegionId{"south"}};
  s.weights = {{core::RegionId{"east"}, 2}, {core::RegionId{"west"}, 1},
               {core::RegionId{"south"}, 1}};
  s.publish = {{core::RegionId{"east"}, {"192.0.2.1", "192.0.2.2"}},
               {core::RegionId{"west"}, {"198.51.100.1"}},
               {core::RegionId{"south"}, {"203.0.113.1"}}};
  s.hold_down = 20s;
  s.flip_budget = 2;
  s.flip_window = 5min;
  s.failback_delay = 30s;
  s.max_decision_age = 5s;
  c.services = {s};
  return c;
}

}  // namespace failoverd::test
