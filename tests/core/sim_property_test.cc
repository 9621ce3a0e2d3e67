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
//
// Over the configuration space (every_combination: the 168 combinations that load), the same
// faults for each combination, and per schedule: no invariant broken, and no observer writing a
// service more often than the schedule's faults explain (explained_writes: a loop fails it). And
// the dead-key report: each key the simulator models (kKeys), at its drawn value and one other,
// must change the outcome of some schedule, or be in the allow-list (kAllowed) with its reason.
//
//   ./failoverd_tests -tc='every combination*'                            20 and 1 per combination
//   FAILOVERD_SIM_PER_COMBINATION=1000 ./failoverd_tests -tc='every combination*safety*'
//   FAILOVERD_SIM_KEYS_PER_COMBINATION=20 ./failoverd_tests -tc='*dead-key*'
//   FAILOVERD_SIM_SEED=17 FAILOVERD_SIM_COMBINATION=42 ./failoverd_tests -tc='every combination*safety*'
//                                                     replays seed 17 of combination 42 (a failure
//                                                     prints its own) with its timeline
#include <doctest/doctest.h>

#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
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

const char* kind_name(config::TargetKind k) {
  switch (k) {
    case config::TargetKind::Rfc2136: return "rfc2136";
    case config::TargetKind::PowerDns: return "powerdns";
    case config::TargetKind::HaProxy: return "haproxy";
    case config::TargetKind::Exec: return "exec";
  }
  return "?";
}

// The liveness schedule of `seed`: its random faults (first 20 s), then everything heals and the
// operators take their holds back (unfreeze, unpin, on every observer), then at 30 s every region
// but one (`survivor`, in every service's regions and with enough values for min_targets) dies;
// the operators unfreeze and approve once more at 55 s, when the flips of the first moves have
// left the flip window (at most 20 s here: a spent flip budget freezes a service by design), and
// approve again at 65 s and 66 s. By 85 s every service must publish the survivor only.
Generated liveness(std::uint64_t seed, RegionId& survivor) {
  Generated g = generate(seed);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<RegionId> candidates;
  for (const char* r : {"east", "west", "south"}) {
    bool fits = true;
    for (const auto& svc : g.config.services) {
      const bool in = std::find(svc.regions.begin(), svc.regions.end(), RegionId{r}) != svc.regions.end() ||
                      svc.weights.count(RegionId{r}) != 0;
      auto pub = svc.publish.find(RegionId{r});
      fits = fits && in && pub != svc.publish.end() && pub->second.size() >= svc.min_targets &&
             (svc.policy == config::Policy::Priority || svc.weights.at(RegionId{r}) > 0);
    }
    if (fits) candidates.emplace_back(r);
  }
  REQUIRE(!candidates.empty());
  survivor = candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng)];
  Scenario& sc = g.scenario;
  sc.duration = 85s;
  auto at = [&](Duration t, SimAction::Kind k) {
    SimAction a;
    a.at = t;
    a.kind = k;
    sc.timeline.push_back(a);
    return &sc.timeline.back();
  };
  at(20s, SimAction::Kind::Heal);
  at(20s, SimAction::Kind::HealPeers);
  at(20s, SimAction::Kind::Probe)->outcome = ProbeOutcome{ProbeReason::Ok, 10ms};
  auto operators = [&](Duration t, std::initializer_list<AdminAction::Kind> kinds) {
    for (const auto& id : sc.observers) {
      for (const auto& svc : g.config.services) {
        for (auto k : kinds) {
          SimAction* a = at(t, SimAction::Kind::Admin);
          a->observers = {id};
          a->admin.kind = k;
          a->admin.service = svc.name;
        }
      }
    }
  };
  operators(20s, {AdminAction::Kind::Unfreeze, AdminAction::Kind::Unpin});
  for (const char* r : {"east", "west", "south"}) {
    if (RegionId{r} == survivor) continue;
    SimAction* dead = at(30s, SimAction::Kind::Probe);
    dead->region = RegionId{r};
    dead->outcome = ProbeOutcome{ProbeReason::Timeout, {}};
  }
  operators(55s, {AdminAction::Kind::Unfreeze, AdminAction::Kind::Approve});
  // Twice more, a second apart: the simulator steps once a tick, so a proposal older than
  // max_decision_age waits up to a tick to be replaced (the daemon's step timer replaces it at
  // once), and an approve in that tick is refused as too old.
  operators(65s, {AdminAction::Kind::Approve});
  operators(66s, {AdminAction::Kind::Approve});
  return g;
}

// One point of the configuration space: policy x target kind (as loads with the policy) x
// failback x mode x {one observer, three} x {A, AAAA, both on one name}.
struct Combination {
  config::Policy policy;
  config::TargetKind kind;
  config::Failback failback;
  config::Mode mode;
  std::size_t observers;
  int family;  // 0: A, 1: AAAA, 2: both (two services on one name, fences of their own)
  std::string text() const {
    return std::string(policy == config::Policy::Priority ? "priority" : "weighted") + "/" +
           kind_name(kind) + "/failback " + (failback == config::Failback::Auto ? "auto" : "manual") +
           "/" + (mode == config::Mode::Auto ? "auto" : "propose") + "/" +
           std::to_string(observers) + " observer(s)/" +
           (family == 0 ? "A" : family == 1 ? "AAAA" : "A+AAAA");
  }
};

std::vector<Combination> every_combination() {
  using K = config::TargetKind;
  std::vector<Combination> out;
  for (auto policy : {config::Policy::Priority, config::Policy::Weighted}) {
    for (auto kind : {K::Rfc2136, K::PowerDns, K::HaProxy, K::Exec}) {
      if (policy == config::Policy::Weighted && kind == K::Rfc2136) continue;  // refused at load
      for (auto failback : {config::Failback::Auto, config::Failback::Manual}) {
        for (auto mode : {config::Mode::Auto, config::Mode::Propose}) {
          for (std::size_t observers : {1, 3}) {
            for (int family = 0; family < 3; ++family) {
              out.push_back({policy, kind, failback, mode, observers, family});
            }
          }
        }
      }
    }
  }
  return out;
}

// The schedule of `seed`, with its configuration forced to `k` (the faults stay random).
Generated generate_in(std::uint64_t seed, const Combination& k) {
  Generated g = generate(seed);
  config::Config& c = g.config;
  auto force = [&](config::Service& svc) {
    svc.policy = k.policy;
    svc.target.kind = k.kind;
    svc.target.scope = k.kind == config::TargetKind::HaProxy || k.kind == config::TargetKind::Exec
                           ? config::TargetScope::Local
                           : config::TargetScope::Shared;
    svc.failback = k.failback;
    svc.mode = k.mode;
  };
  const std::map<RegionId, std::vector<std::string>> v6 = {
      {RegionId{"east"}, {"2001:db8:1::1", "2001:db8:1::2"}},
      {RegionId{"west"}, {"2001:db8:2::1"}},
      {RegionId{"south"}, {"2001:db8:3::1"}}};
  c.services.resize(1);
  config::Service& s = c.services[0];
  force(s);
  // Keys generate() leaves at their defaults, drawn from a stream of their own (the faults and
  // the other settings stay those of generate(seed)), so that the dead-key report sees them move.
  std::mt19937_64 more(seed ^ 0x2545f4914f6cdd1dULL);
  auto draw = [&more](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(more);
  };
  s.reconcile_interval = std::chrono::seconds(draw(2, 12));
  // A quarter of the schedules with a small write budget: it and its window move outcomes.
  s.write_budget = static_cast<std::uint32_t>(draw(0, 3) == 0 ? draw(1, 2) : 10);
  for (auto& r : c.regions) {
    for (auto& e : r.endpoints) e.interval = std::chrono::seconds(draw(1, 2));
  }
  if (k.family == 1) {
    s.publish = v6;
    s.target.rfc2136.type = "AAAA";
  } else if (k.family == 2) {
    config::Service six = s;
    six.name = ServiceId{"www6"};
    six.publish = v6;
    six.target.rfc2136.type = "AAAA";
    c.services.push_back(std::move(six));
  }
  std::vector<ObserverId> ids;
  for (std::size_t i = 0; i < k.observers; ++i)
    ids.push_back(ObserverId{"obs-" + std::to_string(i)});
  c.observer.id = ids[0];
  c.cluster->peers.clear();
  for (std::size_t i = 1; i < ids.size(); ++i) c.cluster->peers.push_back({ids[i], {}});
  if (k.observers > 1 && draw(0, 2) == 0)
    c.cluster->quorum = static_cast<std::uint32_t>(k.observers);
  g.scenario.observers = ids;  // actions naming an observer not in the run go to none or obs-0
  for (auto& a : g.scenario.timeline) {
    if (a.kind == SimAction::Kind::Admin && !c.find_service(a.admin.service)) {
      a.admin.service = s.name;
    }
  }
  return g;
}

// The most accepted writes by one observer to service `s` that the faults of `g`'s schedule can
// explain. An observer writes only when its plan differs from the live state, and its plan
// changes only when its inputs do: the confirmed state of a region, an operator's action, or a
// timer one of those set (failback_delay, hold_down, flip window, TILT). Each such move is at
// most one write: a failover or failback (priority), a reweigh (weighted). So:
//   1 (the starting target may not be what the policy wants: a weight, a degraded region)
//   + 2 per fault on one region (probe, cut_region, heal_region naming it) that reaches an
//     observer of the run: its endpoints may follow one after another, so the region may move
//     twice on the way to its new state (up -> degraded -> down, or back);
//   + 1 per region of the service for a fault of the observer's own (isolate, heal, stall,
//     clock_jump, cut_target, a probe or cut of every region; peer partitions and heals when
//     there are peers): it changes what the observer sees of every region at once, one move
//     each (a split into two by endpoints' different rise or fall is covered by the faults that
//     move nothing: a heal of what was not cut, a stall shorter than a probe, ...);
//   + 2 per operator action on the service: its own write, and the automatic one that may follow
//     it (after an unpin, an unfreeze, a manual failover that an automatic failback undoes).
// It holds for each observer, whether the target is its own (haproxy, exec) or shared (after a
// conflict an observer reads, re-plans and may write on top; a PowerDNS PATCH that lost the race
// lands anyway). A loop that writes at every reconcile read goes past it (a drift repair at each
// read fails it at seed 20), before the write budget stops the loop.
std::uint64_t explained_writes(const Generated& g, std::size_t s) {
  const config::Service& svc = g.config.services[s];
  const std::vector<ObserverId>& run = g.scenario.observers;
  const std::uint64_t regions =
      svc.policy == config::Policy::Priority ? svc.regions.size() : svc.weights.size();
  std::uint64_t bound = 1;
  for (const auto& a : g.scenario.timeline) {
    using K = SimAction::Kind;
    const bool reaches =
        a.observers.empty() ||
        std::any_of(a.observers.begin(), a.observers.end(), [&](const ObserverId& o) {
          return std::find(run.begin(), run.end(), o) != run.end();
        });
    if (a.kind == K::Admin) {
      bound += a.admin.service == svc.name ? 2 : 0;
    } else if (a.kind == K::PartitionPeers || a.kind == K::HealPeers) {
      bound += run.size() > 1 ? regions : 0;
    } else if (reaches) {
      const bool one = (a.kind == K::Probe || a.kind == K::CutRegion || a.kind == K::HealRegion) &&
                       !a.region.empty();
      bound += one ? 2 : regions;
    }
  }
  return bound;
}

// What a schedule did, to compare two runs: every write (accepted or not, its time, writer,
// generation, trigger, members), every decision (plan proposed, made, expired; freeze and
// unfreeze; a refusal when its rule differs from the observer's last one for the service: the
// core reports a refusal again when an unrelated input moves, which decides nothing) and the
// final members of each service.
std::string outcome(const SimResult& r) {
  std::string out;
  for (const auto& w : r.writes) {
    out += std::to_string(w.t.count()) + " " + w.writer.str() + " " + w.service.str() + " " +
           std::to_string(w.generation) + (w.accepted ? " ok " : " no ") +
           (w.refused ? std::string(to_string(*w.refused)) : "") + " " +
           std::string(to_string(w.trigger)) + " " + describe(w.members) + "\n";
  }
  static const std::set<std::string> decisions = {
      std::string(to_string(EventKind::PlanProposed)), std::string(to_string(EventKind::PlanMade)),
      std::string(to_string(EventKind::ProposalExpired)),
      std::string(to_string(EventKind::ServiceFrozen)),
      std::string(to_string(EventKind::ServiceUnfrozen))};
  const std::string refused(to_string(EventKind::PlanRefused));
  std::map<std::pair<ObserverId, ServiceId>, std::string> last_refusal;
  for (const auto& e : r.timeline) {
    const std::string rule = e.event.rule ? std::string(to_string(*e.event.rule)) : "";
    if (e.kind == refused) {
      std::string& last = last_refusal[{e.observer, e.event.service}];
      if (last == rule) continue;
      last = rule;
    } else if (decisions.count(e.kind) == 0) {
      continue;
    }
    out += std::to_string(e.t.count()) + " " + e.observer.str() + " " + e.kind + " " +
           e.event.service.str() + " " + rule + " " + std::to_string(e.event.generation) + "\n";
  }
  for (const auto& m : r.final_members) out += describe(m) + "\n";
  return out;
}

template <typename F>
void each_endpoint(config::Config& c, F&& f) {
  for (auto& r : c.regions) {
    for (auto& e : r.endpoints) f(e);
  }
}

template <typename F>
void each_service(config::Config& c, F&& f) {
  for (auto& s : c.services) f(s);
}

// A key of the configuration the simulator can vary, and one other valid value for it.
struct Key {
  const char* name;
  // Whether the loader accepts the key in the combination (it refuses weights and
  // degraded_weight_factor but under policy "weighted", regions but under "priority", the
  // [cluster] keys without peers, failback_delay with failback "manual", and a target kind's
  // keys on another kind).
  bool (*accepted)(const Combination&);
  // Moves the key, wherever it is set, from its drawn value to another the loader accepts.
  void (*other)(config::Config&);
};

bool always(const Combination&) {
  return true;
}
bool weighted(const Combination& k) {
  return k.policy == config::Policy::Weighted;
}
bool priority(const Combination& k) {
  return k.policy == config::Policy::Priority;
}
bool cluster(const Combination& k) {
  return k.observers > 1;
}
bool automatic_failback(const Combination& k) {
  return k.failback == config::Failback::Auto;
}
bool dns(const Combination& k) {
  return k.kind == config::TargetKind::Rfc2136 || k.kind == config::TargetKind::PowerDns;
}

// The keys the scenario generator sets or the loader accepts with an effect on what the
// simulator models: probing (endpoints, regions), the vote exchange, the policy and its pacing,
// the reconcile loop. Left out: what only the daemon's shell uses (listen addresses, TLS files,
// log settings, admin, oracle, notify, state_dir) and the targets' connection settings (server,
// zone, name, api_url, socket, argv, secret files), which the fakes take no notice of by design.
const Key kKeys[] = {
    {"endpoint.rise", always,
     [](config::Config& c) { each_endpoint(c, [](auto& e) { e.rise = e.rise % 3 + 1; }); }},
    {"endpoint.fall", always,
     [](config::Config& c) { each_endpoint(c, [](auto& e) { e.fall = e.fall % 3 + 1; }); }},
    {"endpoint.forgive_after", always,
     [](config::Config& c) {
       each_endpoint(c, [](auto& e) { e.forgive_after = (e.forgive_after + 1) % 3; });
     }},
    {"endpoint.degraded_latency", always,
     [](config::Config& c) {
       each_endpoint(c,
                     [](auto& e) { e.degraded_latency = e.degraded_latency == 0ms ? 500ms : 0ms; });
     }},
    {"endpoint.interval", always,
     [](config::Config& c) {
       each_endpoint(c, [](auto& e) { e.interval = e.interval == 1s ? 3s : 1s; });
     }},
    {"endpoint.fast_interval", always,
     [](config::Config& c) {
       each_endpoint(c, [](auto& e) { e.fast_interval = e.fast_interval == 0s ? 1s : 0s; });
     }},
    {"endpoint.down_interval", always,
     [](config::Config& c) {
       each_endpoint(c, [](auto& e) { e.down_interval = e.down_interval == 0s ? 4s : 0s; });
     }},
    {"endpoint.timeout", always,
     [](config::Config& c) { each_endpoint(c, [](auto& e) { e.timeout = 500ms; }); }},
    {"region.min_up", always,
     [](config::Config& c) {
       for (auto& r : c.regions) r.min_up = r.min_up == 1 ? 2 : 1;
     }},
    {"region.min_up_fraction", always,
     [](config::Config& c) {
       for (auto& r : c.regions) r.min_up_fraction = r.min_up_fraction == 0 ? 1.0 : 0.0;
     }},
    {"region.degraded_fraction", always,
     [](config::Config& c) {
       for (auto& r : c.regions) r.degraded_fraction = r.degraded_fraction == 1.0 ? 0.4 : 1.0;
     }},
    {"observer.tilt_period", always, [](config::Config& c) { c.observer.tilt_period += 10s; }},
    {"observer.max_loop_lag", always,
     [](config::Config& c) {
       c.observer.max_loop_lag = c.observer.max_loop_lag == 500ms ? 10s : 500ms;
     }},
    {"cluster.quorum", cluster,
     [](config::Config& c) {
       const std::size_t all = c.observer_count();
       c.cluster->quorum = c.quorum() == all ? 0 : static_cast<std::uint32_t>(all);
     }},
    {"cluster.exchange_interval", cluster,
     [](config::Config& c) {
       // verdict_ttl (2 to 4 s here) must stay above it
       c.cluster->exchange_interval = c.cluster->verdict_ttl > 2s ? 2s : 500ms;
     }},
    {"cluster.verdict_ttl", cluster, [](config::Config& c) { c.cluster->verdict_ttl += 4s; }},
    {"service.mode", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.mode = s.mode == config::Mode::Auto ? config::Mode::Propose : config::Mode::Auto;
       });
     }},
    {"service.failback", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.failback = s.failback == config::Failback::Auto ? config::Failback::Manual
                                                           : config::Failback::Auto;
       });
     }},
    {"service.failback_delay", automatic_failback,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.failback_delay = s.failback_delay >= 5s ? 1s : 12s; });
     }},
    {"service.hold_down", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.hold_down = s.hold_down == 0s ? 8s : 0s; });
     }},
    {"service.flip_budget", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.flip_budget = s.flip_budget == 1 ? 4 : 1; });
     }},
    {"service.flip_window", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.flip_window = s.flip_window >= 10s ? 2s : 30s; });
     }},
    {"service.write_budget", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.write_budget = s.write_budget == 1 ? 10 : 1; });
     }},
    {"service.write_budget_window", always,
     [](config::Config& c) {
       each_service(
           c, [](auto& s) { s.write_budget_window = s.write_budget_window == 1s ? 10min : 1s; });
     }},
    {"service.min_targets", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.min_targets = s.min_targets == 1 ? 2 : 1; });
     }},
    {"service.max_decision_age", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.max_decision_age = s.max_decision_age >= 4s ? 1s : 8s; });
     }},
    {"service.reconcile_interval", always,
     [](config::Config& c) {
       each_service(c,
                    [](auto& s) { s.reconcile_interval = s.reconcile_interval >= 7s ? 2s : 20s; });
     }},
    {"service.drift", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.drift = s.drift == config::DriftAction::Repair ? config::DriftAction::Report
                                                          : config::DriftAction::Repair;
       });
     }},
    {"service.regions", priority,
     [](config::Config& c) {
       each_service(c, [](auto& s) { std::reverse(s.regions.begin(), s.regions.end()); });
     }},
    {"service.weights", weighted,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         for (auto& [region, w] : s.weights) w = w % 3 + 1;
       });
     }},
    {"service.degraded_weight_factor", weighted,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.degraded_weight_factor = s.degraded_weight_factor == 1.0 ? 0.5 : 1.0;
       });
     }},
    {"service.publish", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.publish[RegionId{"west"}].push_back(s.publish[RegionId{"west"}].front() + "0");
       });
     }},
    {"service.target.ttl", dns,
     [](config::Config& c) {
       each_service(c, [](auto& s) { s.target.rfc2136.ttl = s.target.powerdns.ttl = 300; });
     }},
    {"service.target.timeout", always,
     [](config::Config& c) {
       each_service(c, [](auto& s) {
         s.target.rfc2136.timeout = s.target.powerdns.timeout = s.target.haproxy.timeout =
             s.target.exec.timeout = 7s;
       });
     }},
};

// The allow-list: keys that may change no outcome where `where` holds, and why. Such a key must
// indeed change none there (else it does not belong here).
struct Allowed {
  const char* key;
  bool (*where)(const Combination&);
  const char* why;
};
const Allowed kAllowed[] = {
    {"endpoint.timeout", always,
     "a simulated probe takes no time: its outcome (a timeout too) is scheduled, not timed"},
    {"service.target.timeout", always,
     "a simulated target answers at once (or never, when cut off): no socket times out"},
    {"service.target.ttl", always,
     "the record's TTL only goes to the server; the simulator has no resolver caches"},
    {"service.drift", always,
     "nothing but the observers writes a simulated target: no hand edit, no drift to repair or "
     "report"},
};

const char* allowed(const Key& key, const Combination& k) {
  for (const auto& a : kAllowed) {
    if (std::string_view(a.key) == key.name && a.where(k)) return a.why;
  }
  return nullptr;
}

// The dimensions of the configuration space a combination is in: "priority", "powerdns",
// "failback manual", "propose", "1 observer(s)", "AAAA", ...
std::vector<std::string> classes(const Combination& k) {
  std::vector<std::string> out;
  std::string text = k.text(), part;
  for (char ch : text + "/") {
    if (ch != '/') {
      part += ch;
      continue;
    }
    out.push_back(part == "auto" || part == "propose" ? "mode " + part : part);
    part.clear();
  }
  return out;
}

constexpr std::uint64_t kAll = static_cast<std::uint64_t>(-1);

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
    std::uint64_t writes = 0, plans_refused = 0, lost_updates = 0;
    // Per target kind of the first service: schedules and accepted writes of that service.
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_kind;
    for (std::uint64_t seed = first; seed < first + schedules; ++seed) {
      Generated g = generate(seed);
      SimResult r = simulate(g.config, g.scenario, quiet);
      auto& kind = by_kind[kind_name(g.config.services[0].target.kind)];
      ++kind.first;
      for (const auto& w : r.writes) {
        writes += w.accepted;
        plans_refused += !w.accepted;
        if (w.service == g.config.services[0].name) kind.second += w.accepted;
      }
      lost_updates += r.lost_updates;
      if (!r.violations.empty()) {
        std::string first_violations;
        for (std::size_t i = 0; i < r.violations.size() && i < 5; ++i) {
          first_violations += "\n  " + r.violations[i];
        }
        FAIL("seed " << seed << " breaks an invariant; replay with FAILOVERD_SIM_SEED=" << seed
                     << first_violations);
      }
    }
    std::string kinds;
    for (const auto& [name, n] : by_kind) {
      kinds += " " + name + ": " + std::to_string(n.first) + " schedules, " +
               std::to_string(n.second) + " writes;";
    }
    MESSAGE(schedules << " schedules, " << writes << " accepted writes, " << plans_refused
                      << " writes refused by guard or fence, " << lost_updates
                      << " lost updates on powerdns (no compare-and-swap);" << kinds);
    CHECK(writes > schedules / 10);  // the schedules do exercise failovers
    if (schedules >= 1000) {
      // Every target kind is driven, and writes reach each one.
      for (const char* k : {"rfc2136", "powerdns", "haproxy", "exec"}) {
        CAPTURE(k);
        CHECK(by_kind[k].second > 0);
      }
    }
  }

  TEST_CASE("liveness: after any fault schedule heals, a dead primary is still failed away from") {
    const char* replay = std::getenv("FAILOVERD_SIM_SEED");
    const std::uint64_t schedules =
        replay && *replay ? 1 : env_number("FAILOVERD_SIM_SCHEDULES", kDefaultSchedules) / 5;
    const std::uint64_t first =
        replay && *replay ? std::strtoull(replay, nullptr, 10) : env_number("FAILOVERD_SIM_FIRST_SEED", 1);
    SimOptions quiet;
    quiet.record_timeline = replay && *replay;
    std::uint64_t moved = 0;
    for (std::uint64_t seed = first; seed < first + schedules; ++seed) {
      RegionId survivor;
      Generated g = liveness(seed, survivor);
      SimResult r = simulate(g.config, g.scenario, quiet);
      if (replay && *replay) MESSAGE(format_text(g.scenario, r));
      CHECK_MESSAGE(r.violations.empty(), "seed " << seed << " breaks an invariant");
      for (std::size_t k = 0; k < g.config.services.size(); ++k) {
        const std::vector<RegionId> active = regions_of(r.final_members[k]);
        const bool ok = active == std::vector<RegionId>{survivor};
        if (!ok) {
          std::string got;
          for (const auto& a : active) got += " " + a.str();
          FAIL("seed " << seed << ": service " << g.config.services[k].name.str()
                       << " ends on" << got << ", not on the only live region " << survivor.str()
                       << "; replay with FAILOVERD_SIM_SEED=" << seed);
        }
        moved += ok;
      }
    }
    MESSAGE(schedules << " liveness schedules, " << moved << " services ended on the survivor");
  }

  TEST_CASE("every combination that loads: safety over random fault schedules for each") {
    // FAILOVERD_SIM_PER_COMBINATION=10000 runs 10,000 schedules for each of the combinations;
    // FAILOVERD_SIM_SEED=S FAILOVERD_SIM_COMBINATION=C replays seed S in combination C (its
    // index, as a failure names it) with its timeline.
    const char* replay = std::getenv("FAILOVERD_SIM_SEED");
    const bool replaying = replay && *replay;
    const std::uint64_t per = replaying ? 1 : env_number("FAILOVERD_SIM_PER_COMBINATION", 20);
    const std::uint64_t first =
        replaying ? std::strtoull(replay, nullptr, 10) : env_number("FAILOVERD_SIM_FIRST_SEED", 1);
    const std::uint64_t only = env_number("FAILOVERD_SIM_COMBINATION", kAll);
    SimOptions quiet;
    quiet.record_timeline = replaying;
    const auto combinations = every_combination();
    std::uint64_t writes = 0, lost = 0, silent = 0, tightest = 0;
    double worst = 0;  // the highest share of its bound one observer's writes reached
    for (std::size_t ci = 0; ci < combinations.size(); ++ci) {
      if (only != kAll && ci != only) continue;
      const Combination& k = combinations[ci];
      std::uint64_t these = 0;
      for (std::uint64_t seed = first; seed < first + per; ++seed) {
        Generated g = generate_in(seed, k);
        SimResult r = simulate(g.config, g.scenario, quiet);
        if (replaying && only != kAll) MESSAGE(format_text(g.scenario, r));
        for (const auto& w : r.writes) these += w.accepted;
        lost += r.lost_updates;
        const std::string again =
            "; replay with FAILOVERD_SIM_SEED=" + std::to_string(seed) +
            " FAILOVERD_SIM_COMBINATION=" + std::to_string(ci) +
            " build/release/tests/failoverd_tests -tc='every combination*safety*'";
        if (!r.violations.empty()) {
          FAIL(k.text() << ": seed " << seed << " breaks an invariant: " << r.violations.front()
                        << again);
        }
        for (std::size_t i = 0; i < g.config.services.size(); ++i) {
          const std::uint64_t bound = explained_writes(g, i);
          tightest = tightest == 0 ? bound : std::min(tightest, bound);
          for (const auto& who : g.scenario.observers) {
            std::uint64_t n = 0;
            for (const auto& w : r.writes) {
              n += w.accepted && w.writer == who && w.service == g.config.services[i].name;
            }
            worst = std::max(worst, static_cast<double>(n) / static_cast<double>(bound));
            if (n > bound) {
              FAIL(k.text() << ": seed " << seed << ": " << n << " writes by " << who.str()
                            << " to " << g.config.services[i].name.str() << ", more than the "
                            << bound << " its faults explain (a loop?)" << again);
            }
          }
        }
      }
      writes += these;
      silent += these == 0;
    }
    MESSAGE(combinations.size() << " combinations x " << per << " schedules: " << writes
                                << " accepted writes, " << lost << " powerdns races, " << silent
                                << " combinations without a write; writes per observer and service "
                                << "within the bound its faults explain, at most " << worst * 100
                                << "% of it (smallest bound " << tightest << ")");
    if (!replaying && only == kAll)
      CHECK(silent == 0);  // every combination is exercised, not just loaded
  }

  TEST_CASE(
      "every combination that loads: every accepted key changes an outcome (dead-key report)") {
    // Each key of kKeys, in each combination whose loader accepts it, over the same schedules:
    // run at the drawn value and at one other, everything else identical, and compare the
    // outcomes (writes, decisions, final members). A key whose change changed no schedule is
    // dead and fails the test, unless kAllowed says why it may be so. An allow-list entry holds
    // for some combinations (a class: a policy, a target kind, failback manual, one observer,
    // ...) and the key must then change nothing there. The table also notes the classes of at
    // least kNoted schedules where a key changed nothing (rare effects, not judged).
    // FAILOVERD_SIM_KEYS_PER_COMBINATION=20 runs more schedules (1 by default).
    constexpr std::uint64_t kNoted = 500;
    const std::uint64_t per = env_number("FAILOVERD_SIM_KEYS_PER_COMBINATION", 1);
    const std::uint64_t first = env_number("FAILOVERD_SIM_FIRST_SEED", 1);
    SimOptions quiet;  // the timeline is kept: decisions are part of the outcome
    const auto combinations = every_combination();
    struct Tally {
      std::uint64_t schedules = 0, changed = 0, combinations = 0, combinations_changed = 0;
      bool allowed = true;  // every combination counted here is allow-listed for the key
    };
    std::vector<Tally> tally(std::size(kKeys));
    std::vector<std::map<std::string, Tally>> by_class(std::size(kKeys));
    for (std::size_t ci = 0; ci < combinations.size(); ++ci) {
      const Combination& k = combinations[ci];
      std::vector<std::uint64_t> changed_here(std::size(kKeys), 0);
      // Seeds of its own for each combination: more kinds of faults over the whole table.
      for (std::uint64_t seed = first + ci * per; seed < first + (ci + 1) * per; ++seed) {
        const Generated g = generate_in(seed, k);
        const std::string drawn = outcome(simulate(g.config, g.scenario, quiet));
        for (std::size_t i = 0; i < std::size(kKeys); ++i) {
          if (!kKeys[i].accepted(k)) continue;
          config::Config other = g.config;
          kKeys[i].other(other);
          changed_here[i] += outcome(simulate(other, g.scenario, quiet)) != drawn;
        }
      }
      for (std::size_t i = 0; i < std::size(kKeys); ++i) {
        if (!kKeys[i].accepted(k)) continue;
        std::vector<Tally*> into{&tally[i]};
        for (const auto& c : classes(k)) into.push_back(&by_class[i][c]);
        for (Tally* t : into) {
          t->schedules += per;
          t->changed += changed_here[i];
          ++t->combinations;
          t->combinations_changed += changed_here[i] > 0;
          t->allowed = t->allowed && allowed(kKeys[i], k) != nullptr;
        }
      }
    }
    std::string table = "key: schedules changed / run, combinations with a change / accepting\n";
    for (std::size_t i = 0; i < std::size(kKeys); ++i) {
      const Tally& t = tally[i];
      const std::string key = kKeys[i].name;
      table += "  " + key + ": " + std::to_string(t.changed) + " / " + std::to_string(t.schedules) +
               ", " + std::to_string(t.combinations_changed) + " / " +
               std::to_string(t.combinations);
      CAPTURE(key);
      if (t.allowed) {
        CHECK_MESSAGE(t.changed == 0, "an allow-listed key changed an outcome: it is not dead");
      } else {
        CHECK_MESSAGE(t.changed > 0, "dead key: accepted, and changed no outcome");
      }
      for (const auto& [name, c] : by_class[i]) {
        const std::string where = name;
        CAPTURE(where);
        if (c.allowed && !t.allowed) {
          table += "; under " + name + " none (allowed)";
          CHECK_MESSAGE(c.changed == 0, "an allow-listed key changed an outcome: it is not dead");
        } else if (!t.allowed && c.changed == 0 && c.schedules >= kNoted) {
          table += "; under " + name + " none of " + std::to_string(c.schedules);
        }
      }
      for (const auto& a : kAllowed) {
        if (key == a.key) table += "\n      allowed: " + std::string(a.why);
      }
      table += "\n";
    }
    MESSAGE(table);
  }
}
