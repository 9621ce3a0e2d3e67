// Safety invariants over many seeded random fault schedules (README "Safety rules").
//
// Each seed builds a cluster (1, 3 or 5 observers, priority or weighted, auto or propose, random
// thresholds and pacing, a target kind that loads with the policy: rfc2136, powerdns, haproxy or
// exec; sometimes a second, AAAA-like service with settings of its own) and a random timeline of
// faults and operator actions, runs it through the simulator (the daemon's own service driver
// against a fake target of that kind), and requires zero invariant violations (the simulator
// checks them after every write and every plan; see drive/sim.h).
//
//   FAILOVERD_SIM_SEED=1234 ./failoverd_tests -tc='*random fault schedules*'   replays one seed
//                                                                              with its timeline
//   FAILOVERD_SIM_SCHEDULES=100000 ...                                         runs more seeds
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>

#include "drive/sim.h"
#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kDefaultSchedules = 10000;

struct Generated {
  config::Config config;
  Scenario scenario;
};

// A target kind the loader accepts with the service's policy (plain A/AAAA records on an RFC 2136
// zone hold no weight: weighted services use the others), at its only or usual scope.
template <typename Pick>
void pick_target(config::Service& s, Pick&& pick) {
  using K = config::TargetKind;
  const K priority[] = {K::Rfc2136, K::PowerDns, K::HaProxy, K::Exec};
  const K weighted[] = {K::PowerDns, K::HaProxy, K::Exec};
  s.target.kind = s.policy == config::Policy::Priority ? priority[pick(0, 3)] : weighted[pick(0, 2)];
  s.target.scope = s.target.kind == K::HaProxy || s.target.kind == K::Exec
                       ? config::TargetScope::Local
                       : config::TargetScope::Shared;
}

Generated generate(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&rng](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  auto chance = [&](int percent) { return pick(1, 100) <= static_cast<std::uint64_t>(percent); };

  Generated g;
  config::Config& c = g.config;
  c = test::cluster_config(chance(70) ? config::Policy::Priority : config::Policy::Weighted);
  const std::size_t observers = chance(10) ? 1 : (chance(90) ? 3 : 5);
  std::vector<ObserverId> ids;
  for (std::size_t i = 0; i < observers; ++i) ids.push_back(ObserverId{"obs-" + std::to_string(i)});
  c.observer.id = ids[0];
  c.cluster->peers.clear();
  for (std::size_t i = 1; i < observers; ++i) c.cluster->peers.push_back({ids[i], {}});
  c.observer.tilt_period = std::chrono::seconds(pick(3, 8));
  c.cluster->verdict_ttl = std::chrono::seconds(pick(2, 4));
  for (auto& r : c.regions) {
    r.min_up = static_cast<std::uint32_t>(pick(1, 2));
    for (auto& e : r.endpoints) {
      e.rise = static_cast<std::uint32_t>(pick(1, 3));
      e.fall = static_cast<std::uint32_t>(pick(1, 3));
      e.forgive_after = static_cast<std::uint32_t>(pick(0, 2));
      e.degraded_latency = 500ms;
    }
  }
  config::Service& s = c.services[0];
  s.mode = chance(80) ? config::Mode::Auto : config::Mode::Propose;
  s.failback = chance(50) ? config::Failback::Auto : config::Failback::Manual;
  s.failback_delay = std::chrono::seconds(pick(2, 8));
  s.hold_down = std::chrono::seconds(pick(0, 6));
  s.flip_budget = static_cast<std::uint32_t>(pick(1, 4));
  s.flip_window = std::chrono::seconds(pick(6, 20));
  s.min_targets = chance(85) ? 1 : 2;
  s.max_decision_age = std::chrono::seconds(pick(2, 5));
  pick_target(s, pick);
  if (chance(40)) {
    // A second service on the same regions, as a dual-stack name's AAAA set would be (its own
    // fence), with settings of its own: the services must not disturb each other.
    config::Service v6 = s;
    v6.name = ServiceId{"www6"};
    v6.policy = chance(60) ? config::Policy::Priority : config::Policy::Weighted;
    v6.mode = chance(80) ? config::Mode::Auto : config::Mode::Propose;
    v6.failback = chance(50) ? config::Failback::Auto : config::Failback::Manual;
    v6.regions = {RegionId{"west"}, RegionId{"east"}, RegionId{"south"}};
    if (chance(50)) v6.regions.pop_back();
    v6.weights.clear();
    for (const auto& r : v6.regions) v6.weights[r] = static_cast<std::uint32_t>(pick(1, 3));
    v6.publish = {{RegionId{"east"}, {"2001:db8:1::1", "2001:db8:1::2"}},
                  {RegionId{"west"}, {"2001:db8:2::1"}},
                  {RegionId{"south"}, {"2001:db8:3::1"}}};
    v6.hold_down = std::chrono::seconds(pick(0, 6));
    v6.flip_budget = static_cast<std::uint32_t>(pick(1, 4));
    v6.target.rfc2136.type = "AAAA";
    pick_target(v6, pick);
    c.services.push_back(std::move(v6));
  }

  Scenario& sc = g.scenario;
  sc.name = "seed " + std::to_string(seed);
  sc.observers = ids;
  sc.duration = 20s;
  sc.tick = 1s;
  sc.exchange_delay = std::chrono::milliseconds(500 * pick(0, 3));
  const char* regions[] = {"east", "west", "south"};
  auto some_observers = [&]() {
    std::vector<ObserverId> who;
    if (chance(50)) return who;  // everyone
    for (const auto& id : ids) {
      if (chance(40)) who.push_back(id);
    }
    return who;
  };
  const std::size_t actions = pick(2, 12);
  for (std::size_t k = 0; k < actions; ++k) {
    SimAction a;
    a.at = std::chrono::seconds(pick(0, 16));
    a.observers = some_observers();
    a.region = RegionId{regions[pick(0, 2)]};
    switch (pick(0, 11)) {
      case 0:
      case 1:
      case 2: {
        a.kind = SimAction::Kind::Probe;
        const ProbeReason reasons[] = {ProbeReason::Ok, ProbeReason::Timeout, ProbeReason::Refused,
                                       ProbeReason::CertExpiring, ProbeReason::Ok};
        a.outcome = ProbeOutcome{reasons[pick(0, 4)], std::chrono::milliseconds(pick(5, 900))};
        if (chance(30)) {
          a.endpoints = {EndpointId{std::string(1, regions[pick(0, 2)][0]) + std::to_string(pick(1, 2))}};
        }
        break;
      }
      case 3: a.kind = chance(70) ? SimAction::Kind::CutRegion : SimAction::Kind::HealRegion; break;
      case 4: {
        a.kind = SimAction::Kind::PartitionPeers;
        a.groups.resize(2);
        for (const auto& id : ids) a.groups[pick(0, 1)].push_back(id);
        break;
      }
      case 5: a.kind = SimAction::Kind::HealPeers; break;
      case 6: a.kind = chance(50) ? SimAction::Kind::Isolate : SimAction::Kind::Heal; break;
      case 7: a.kind = SimAction::Kind::CutTarget; break;
      case 8:
        a.kind = SimAction::Kind::Stall;
        a.duration = std::chrono::seconds(pick(1, 6));
        break;
      case 9: a.kind = SimAction::Kind::ClockJump; break;
      default: {
        a.kind = SimAction::Kind::Admin;
        a.observers = {ids[pick(0, observers - 1)]};
        const AdminAction::Kind kinds[] = {
            AdminAction::Kind::Freeze,   AdminAction::Kind::Unfreeze, AdminAction::Kind::Failover,
            AdminAction::Kind::Failback, AdminAction::Kind::Approve,  AdminAction::Kind::Pin,
            AdminAction::Kind::Unpin};
        a.admin.kind = kinds[pick(0, 6)];
        a.admin.service = c.services[pick(0, c.services.size() - 1)].name;
        a.admin.region = RegionId{regions[pick(0, 2)]};
        a.admin.force = chance(30);
        break;
      }
    }
    sc.timeline.push_back(std::move(a));
  }
  // A heal late in the run gives the cluster a chance to act again.
  if (chance(50)) {
    SimAction heal;
    heal.at = 13s;
    heal.kind = SimAction::Kind::Heal;
    sc.timeline.push_back(heal);
  }
  return g;
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_SUITE("core.sim") {
  TEST_CASE("safety invariants hold over random fault schedules") {
    const char* replay = std::getenv("FAILOVERD_SIM_SEED");
    if (replay && *replay) {
      const std::uint64_t seed = std::strtoull(replay, nullptr, 10);
      Generated g = generate(seed);
      SimOptions verbose;
      verbose.record_endpoints = true;
      SimResult r = simulate(g.config, g.scenario, verbose);
      MESSAGE(format_text(g.scenario, r));
      CHECK_MESSAGE(r.violations.empty(), "seed " << seed << " breaks an invariant");
      return;
    }
    const std::uint64_t schedules = env_number("FAILOVERD_SIM_SCHEDULES", kDefaultSchedules);
    const std::uint64_t first = env_number("FAILOVERD_SIM_FIRST_SEED", 1);
    SimOptions quiet;
    quiet.record_timeline = false;
    std::uint64_t writes = 0, plans_refused = 0;
    for (std::uint64_t seed = first; seed < first + schedules; ++seed) {
      Generated g = generate(seed);
      SimResult r = simulate(g.config, g.scenario, quiet);
      for (const auto& w : r.writes) {
        writes += w.accepted;
        plans_refused += !w.accepted;
      }
      if (!r.violations.empty()) {
        std::string first_violations;
        for (std::size_t i = 0; i < r.violations.size() && i < 5; ++i) {
          first_violations += "\n  " + r.violations[i];
        }
        FAIL("seed " << seed << " breaks an invariant; replay with FAILOVERD_SIM_SEED=" << seed
                     << first_violations);
      }
    }
    MESSAGE(schedules << " schedules, " << writes << " accepted writes, " << plans_refused
                      << " writes refused by guard or fence");
    CHECK(writes > schedules / 10);  // the schedules do exercise failovers
  }
}
