#include "drive/sim.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "drive/observer_driver.h"
#include "drive/service_driver.h"

namespace failoverd::core {

std::string_view to_string(SimAction::Kind k) {
  switch (k) {
    case SimAction::Kind::Probe: return "probe";
    case SimAction::Kind::CutRegion: return "cut_region";
    case SimAction::Kind::HealRegion: return "heal_region";
    case SimAction::Kind::PartitionPeers: return "partition_peers";
    case SimAction::Kind::HealPeers: return "heal_peers";
    case SimAction::Kind::Isolate: return "isolate";
    case SimAction::Kind::Heal: return "heal";
    case SimAction::Kind::CutTarget: return "cut_target";
    case SimAction::Kind::Stall: return "stall";
    case SimAction::Kind::ClockJump: return "clock_jump";
    case SimAction::Kind::Admin: return "admin";
  }
  return "action";
}

std::string_view to_string(Expectation::What w) {
  switch (w) {
    case Expectation::What::Writes: return "writes";
    case Expectation::What::Failovers: return "failovers";
    case Expectation::What::FailedWrites: return "failed_writes";
    case Expectation::What::EventCount: return "events";
    case Expectation::What::Active: return "active";
    case Expectation::What::Verdict: return "verdict";
    case Expectation::What::ConfirmedState: return "confirmed";
    case Expectation::What::Frozen: return "frozen";
    case Expectation::What::NoWriteBefore: return "no_write_before";
    case Expectation::What::WriteBy: return "write_by";
    case Expectation::What::Safe: return "safe";
  }
  return "expect";
}

bool SimResult::ok() const {
  if (!violations.empty()) return false;
  return std::all_of(expectations.begin(), expectations.end(),
                     [](const ExpectationResult& e) { return e.ok; });
}

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs",
                static_cast<double>(std::chrono::duration_cast<milliseconds>(d).count()) / 1000.0);
  return buf;
}

bool contains(const std::vector<RegionId>& v, const RegionId& r) {
  return std::find(v.begin(), v.end(), r) != v.end();
}

// A fake target with its kind's real semantics (what the actuator of that kind does):
// - rfc2136: one UPDATE whose prerequisites (the RRset and the fence TXT exactly as read) are
//   compared and whose changes (members and fence) apply in the same message; plain A/AAAA
//   records hold no weight, so members read back at weight 1;
// - powerdns: read, compare, PATCH: the compare is made when the write starts and the PATCH
//   lands a tick later whatever happened in between (no compare-and-swap);
// - haproxy, exec (scope local): one target per observer, its fence kept by that observer
//   (actuate/local_fence.h), so the observer is its only writer.
struct FakeTarget {
  config::TargetKind kind = config::TargetKind::Rfc2136;
  Generation generation = 1;
  std::string writer = "setup";  // the fence's writer
  std::vector<PlanMember> members;
  // For the invariants at the target:
  Trigger trigger = Trigger::Automatic;  // of the last write, recorded in the fence too
  // An operator moved a priority service away from its primary (and no operator moved it back):
  // no automatic failback, whichever observer decides.
  bool manual_hold = false;
  std::optional<TimePoint> last_write;
  std::deque<TimePoint> automatic_writes;

  bool holds_weights() const { return kind != config::TargetKind::Rfc2136; }

  actuate::LiveState read() const {
    actuate::LiveState out;
    for (const auto& m : members) out.members.push_back({m.value, holds_weights() ? m.weight : 1});
    std::sort(out.members.begin(), out.members.end(),
              [](const auto& a, const auto& b) { return a.value < b.value; });
    out.fence = actuate::Fence{generation, writer, trigger};
    return out;
  }
};

bool local_scope(config::TargetKind k) {
  return k == config::TargetKind::HaProxy || k == config::TargetKind::Exec;
}

struct Node {
  Node(ObserverId node_id, ObserverEngine node_engine)
      : id(std::move(node_id)), engine(std::move(node_engine)) {}
  ObserverId id;
  ObserverEngine engine;
  bool isolated = false;
  bool target_cut = false;
  std::vector<bool> region_cut;
  TimePoint stalled_until{};
  TimePoint last_run{};
  bool ran = false;
  TimePoint next_publish{};
  std::deque<std::pair<TimePoint, std::shared_ptr<const std::vector<Vote>>>> inbox;
  std::vector<EndpointId> probe_now;        // asked by the last step: probed next tick
  // Per service, config order: the shipping driver, this observer's own target where the kind
  // is local, and a PowerDNS PATCH that was compared and lands at the next tick.
  std::vector<std::unique_ptr<drive::ServiceDriver>> drivers;
  std::vector<FakeTarget> own_targets;
  std::vector<std::optional<Plan>> landing;
  std::vector<std::optional<actuate::WriteResult>> landed;  // its answer, for the driver
};

config::Config config_for(const config::Config& base, const std::vector<ObserverId>& ids,
                          std::size_t self) {
  config::Config cfg = base;
  cfg.observer.id = ids[self];
  if (!cfg.cluster) cfg.cluster = config::Cluster{};
  cfg.cluster->peers.clear();
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (j != self) cfg.cluster->peers.push_back(config::Peer{ids[j], {}});
  }
  return cfg;
}

class Sim {
 public:
  Sim(const config::Config& base, const Scenario& sc, const SimOptions& opt)
      : base_(base), sc_(sc), opt_(opt), start_(TimePoint{} + std::chrono::hours(1)) {
    std::vector<ObserverId> ids = sc.observers;
    if (ids.empty()) {
      ids.push_back(base.observer.id);
      if (base.cluster) {
        for (const auto& p : base.cluster->peers) ids.push_back(p.id);
      }
    }
    for (std::size_t r = 0; r < base.regions.size(); ++r) {
      for (const auto& e : base.regions[r].endpoints) add_endpoint(e.name, r);
    }
    for (const auto& e : base.control) add_endpoint(e.name, kNone);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      nodes_.emplace_back(ids[i], ObserverEngine(config_for(base, ids, i), start_));
      nodes_.back().region_cut.assign(base.regions.size(), false);
      nodes_.back().next_publish = start_;
      // Every observer was running before the schedule starts and knows the target's initial
      // generation, as the daemon does from its state file after a restart (state_dir).
      for (const auto& svc : base.services) {
        nodes_.back().engine.restore_history(svc.name, ServicePolicy::History{1, {}, {}});
      }
    }
    truth_.assign(nodes_.size(),
                  std::vector<ProbeOutcome>(endpoints_.size(),
                                            ProbeOutcome{ProbeReason::Ok, milliseconds(10)}));
    link_.assign(nodes_.size(), std::vector<bool>(nodes_.size(), true));
    const config::Config& cfg = nodes_.front().engine.config();
    quorum_ = cfg.quorum();
    ttl_ = cfg.cluster->verdict_ttl;
    exchange_interval_ = std::max<Duration>(cfg.cluster->exchange_interval, sc.tick);
    for (const auto& s : base.services) {
      FakeTarget t;
      t.kind = s.target.kind;
      switch (s.policy) {
        case config::Policy::Priority:
          if (!s.regions.empty()) t.members = publish_members(s, {{s.regions.front(), 1.0}});
          break;
        case config::Policy::Weighted: {
          std::vector<std::pair<RegionId, double>> shares;
          for (const auto& [region, weight] : s.weights) {
            if (weight > 0) shares.emplace_back(region, weight);
          }
          t.members = publish_members(s, shares);
          break;
        }
      }
      targets_.push_back(t);
      for (auto& n : nodes_) n.own_targets.push_back(t);
    }
    // The drivers, as the daemon builds them (runtime/engine.cc), over each observer's own copy
    // of the config (its id and peers).
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      const config::Config& own = n.engine.config();
      std::uint64_t seed = 1000003 * (i + 1);
      for (const auto& svc : own.services) {
        drive::DriverOptions o;
        o.self = n.id;
        if (drive::staggered(own, svc)) o.exchange_interval = own.cluster->exchange_interval;
        n.drivers.push_back(std::make_unique<drive::ServiceDriver>(svc, o, seed++));
        n.landing.emplace_back();
        n.landed.emplace_back();
      }
    }
    actions_ = sc.timeline;
    std::stable_sort(actions_.begin(), actions_.end(),
                     [](const SimAction& a, const SimAction& b) { return a.at < b.at; });
  }

  SimResult run() {
    const Duration tick = sc_.tick > Duration::zero() ? sc_.tick : milliseconds(250);
    for (TimePoint now = start_; now <= start_ + sc_.duration; now += tick) {
      apply_actions(now);
      land_patches(now);
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (running(i, now)) sense(i, now, tick);
      }
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (running(i, now)) act(i, now);
      }
    }
    for (std::size_t s = 0; s < targets_.size(); ++s) {
      result_.final_members.push_back(target(0, s).members);
    }
    for (const auto& e : sc_.expectations) result_.expectations.push_back(check(e));
    return std::move(result_);
  }

 private:
  void add_endpoint(const EndpointId& id, std::size_t region) {
    endpoint_index_.emplace(id, endpoints_.size());
    endpoints_.push_back({id, region});
  }

  bool running(std::size_t i, TimePoint now) const { return now >= nodes_[i].stalled_until; }

  std::vector<std::size_t> resolve(const std::vector<ObserverId>& ids) const {
    std::vector<std::size_t> out;
    if (ids.empty()) {
      for (std::size_t i = 0; i < nodes_.size(); ++i) out.push_back(i);
      return out;
    }
    for (const auto& id : ids) {
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].id == id) out.push_back(i);
      }
    }
    return out;
  }

  std::size_t region_index(const RegionId& r) const {
    for (std::size_t i = 0; i < base_.regions.size(); ++i) {
      if (base_.regions[i].name == r) return i;
    }
    return kNone;
  }

  std::size_t service_index(const ServiceId& s) const {
    for (std::size_t i = 0; i < base_.services.size(); ++i) {
      if (base_.services[i].name == s) return i;
    }
    return kNone;
  }

  void record(const ObserverId& who, TimePoint now, std::string kind, Event e) {
    if (!opt_.record_timeline) return;
    result_.timeline.push_back(SimRecord{now - start_, who, std::move(kind), std::move(e)});
  }

  void record(const Node& n, TimePoint now, Events&& events) {
    if (!opt_.record_timeline) return;
    for (auto& e : events) {
      if (e.kind == EventKind::EndpointChanged && !opt_.record_endpoints) continue;
      std::string kind(to_string(e.kind));
      record(n.id, now, std::move(kind), std::move(e));
    }
  }

  void apply_actions(TimePoint now) {
    while (next_action_ < actions_.size() && start_ + actions_[next_action_].at <= now) {
      apply(actions_[next_action_], now);
      ++next_action_;
    }
  }

  void apply(const SimAction& a, TimePoint now) {
    const std::vector<std::size_t> who = resolve(a.observers);
    if (opt_.record_timeline) {
      Event e;
      e.at = now;
      e.region = a.region;
      e.detail = std::string(to_string(a.kind));
      switch (a.kind) {
        case SimAction::Kind::Probe: e.detail += " outcome=" + std::string(to_string(a.outcome.reason)); break;
        case SimAction::Kind::Admin: e.detail += " " + std::string(to_string(a.admin.kind)); break;
        case SimAction::Kind::Stall: e.detail += " for " + seconds_text(a.duration); break;
        case SimAction::Kind::CutRegion:
        case SimAction::Kind::HealRegion:
        case SimAction::Kind::PartitionPeers:
        case SimAction::Kind::HealPeers:
        case SimAction::Kind::Isolate:
        case SimAction::Kind::Heal:
        case SimAction::Kind::CutTarget:
        case SimAction::Kind::ClockJump: break;
      }
      for (std::size_t i : who) e.detail += " " + nodes_[i].id.str();
      record(ObserverId{}, now, "action", std::move(e));
    }
    const std::size_t r = a.region.empty() ? kNone : region_index(a.region);
    switch (a.kind) {
      case SimAction::Kind::Probe: {
        std::vector<std::size_t> eps;
        for (const auto& name : a.endpoints) {
          auto it = endpoint_index_.find(name);
          if (it != endpoint_index_.end()) eps.push_back(it->second);
        }
        if (a.endpoints.empty()) {
          for (std::size_t e = 0; e < endpoints_.size(); ++e) {
            if (endpoints_[e].region != kNone && (a.region.empty() || endpoints_[e].region == r)) {
              eps.push_back(e);
            }
          }
        }
        for (std::size_t i : who) {
          for (std::size_t e : eps) truth_[i][e] = a.outcome;
        }
        break;
      }
      case SimAction::Kind::CutRegion:
      case SimAction::Kind::HealRegion:
        for (std::size_t i : who) {
          for (std::size_t k = 0; k < base_.regions.size(); ++k) {
            if (a.region.empty() || k == r) {
              nodes_[i].region_cut[k] = a.kind == SimAction::Kind::CutRegion;
            }
          }
        }
        break;
      case SimAction::Kind::PartitionPeers: {
        std::vector<std::size_t> group(nodes_.size(), kNone);
        for (std::size_t g = 0; g < a.groups.size(); ++g) {
          for (std::size_t i : resolve(a.groups[g])) group[i] = g;
        }
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          for (std::size_t j = 0; j < nodes_.size(); ++j) {
            if (group[i] != kNone && group[j] != kNone && group[i] != group[j]) {
              link_[i][j] = false;
            }
          }
        }
        break;
      }
      case SimAction::Kind::HealPeers:
        for (auto& row : link_) row.assign(row.size(), true);
        break;
      case SimAction::Kind::Isolate:
        for (std::size_t i : who) nodes_[i].isolated = true;
        break;
      case SimAction::Kind::Heal:
        for (std::size_t i : who) {
          nodes_[i].isolated = false;
          nodes_[i].target_cut = false;
          nodes_[i].region_cut.assign(base_.regions.size(), false);
        }
        break;
      case SimAction::Kind::CutTarget:
        for (std::size_t i : who) nodes_[i].target_cut = true;
        break;
      case SimAction::Kind::Stall:
        for (std::size_t i : who) nodes_[i].stalled_until = now + a.duration;
        break;
      case SimAction::Kind::ClockJump:
        for (std::size_t i : who) record(nodes_[i], now, nodes_[i].engine.report_clock_jump(now));
        break;
      case SimAction::Kind::Admin: {
        const std::size_t i = who.empty() ? 0 : who.front();
        admin(i, a.admin, now);
        break;
      }
    }
  }

  void admin(std::size_t i, AdminAction action, TimePoint now) {
    Node& n = nodes_[i];
    if (action.service.empty() && !base_.services.empty()) action.service = base_.services.front().name;
    const ServicePolicy* policy = n.engine.policy(action.service);
    const bool frozen = policy && policy->frozen();
    const bool tilt = policy && policy->in_tilt(now);
    const bool pinned = policy && policy->pinned();
    const std::size_t s = service_index(action.service);
    Decision d = drive::admin(n.engine, s == kNone ? nullptr : n.drivers[s].get(), action, now);
    // An unpin hands the service back to the automation, failback included (core/policy.h).
    if (action.kind == AdminAction::Kind::Unpin && pinned && s != kNone) {
      target(i, s).manual_hold = false;
    }
    if (d.refused && opt_.record_timeline) {
      Event e;
      e.at = now;
      e.service = action.service;
      e.rule = d.refused;
      e.detail = std::string(to_string(action.kind)) + " refused";
      record(n.id, now, "admin_refused", std::move(e));
    }
    record(n, now, std::move(d.events));
    std::vector<Plan> plans;
    if (d.plan) {
      check_emitted(i, *d.plan, frozen, tilt, now);  // an approved proposal is automatic
      plans.push_back(std::move(*d.plan));
    }
    hand(i, std::move(plans), now);
  }

  ProbeOutcome outcome(std::size_t i, std::size_t e) const {
    const Node& n = nodes_[i];
    if (n.isolated) return ProbeOutcome{ProbeReason::Unreachable, {}};
    const std::size_t r = endpoints_[e].region;
    if (r != kNone && n.region_cut[r]) return ProbeOutcome{ProbeReason::Timeout, {}};
    return truth_[i][e];
  }

  FakeTarget& target(std::size_t i, std::size_t s) {
    return local_scope(targets_[s].kind) ? nodes_[i].own_targets[s] : targets_[s];
  }

  bool reaches_target(std::size_t i) const { return !nodes_[i].isolated && !nodes_[i].target_cut; }

  void hand(std::size_t i, std::vector<Plan> plans, TimePoint now) {
    Node& n = nodes_[i];
    drive::hand_plans(
        n.engine, std::move(plans), now,
        [&](const ServiceId& id) -> drive::ServiceDriver* {
          const std::size_t s = service_index(id);
          return s == kNone ? nullptr : n.drivers[s].get();
        },
        [](const drive::ServiceDriver&) { return std::optional<Duration>{}; });
    for (std::size_t s = 0; s < n.drivers.size(); ++s) pump(i, s, now);
  }

  // The PowerDNS PATCHes sent at the last tick land, whatever the sender does now; the answer is
  // lost when the sender cannot reach the target any more.
  void land_patches(TimePoint now) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      for (std::size_t s = 0; s < n.landing.size(); ++s) {
        if (!n.landing[s]) continue;
        apply_write(i, s, *n.landing[s], now);
        n.landing[s].reset();
        n.landed[s] = reaches_target(i)
                          ? actuate::WriteResult{actuate::WriteStatus::Applied, "200", "200"}
                          : actuate::WriteResult{actuate::WriteStatus::Unknown, "timeout", ""};
      }
    }
  }

  // Runs the driver's due operations against the fake target (each takes no time, except a
  // PowerDNS PATCH, which lands at the next tick), at most a few per call.
  void pump(std::size_t i, std::size_t s, TimePoint now) {
    Node& n = nodes_[i];
    drive::ServiceDriver& d = *n.drivers[s];
    drive::sync_hold(n.engine, d);  // an operator's freeze since the last operation
    if (n.landed[s]) {
      d.on_write(*n.landed[s], now);
      n.landed[s].reset();
      settle(i, s, now);
    }
    for (int k = 0; k < 8 && !n.landing[s] && !n.landed[s]; ++k) {
      auto action = d.poll(now);
      if (!action) break;
      if (action->kind == actuate::ReconcileAction::Kind::Read) {
        actuate::ReadResult r;
        if (reaches_target(i)) {
          r.status = actuate::ReadStatus::Ok;
          r.state = target(i, s).read();
        } else {
          r.status = actuate::ReadStatus::Unreachable;
          r.detail = "timeout";
        }
        d.on_read(r, now);
      } else if (auto w = write(i, s, *action, now)) {
        d.on_write(*w, now);
      }
      settle(i, s, now);
    }
  }

  void settle(std::size_t i, std::size_t s, TimePoint now) {
    Node& n = nodes_[i];
    drive::Settled st = drive::settle(n.engine, *n.drivers[s], now);
    for (const auto& e : st.target_events) {
      // A plan the guards refused at sending, or one whose compare failed (at the target, or at
      // the fresh read before it: nothing sent): it never reached the target.
      if (!e.rule && e.kind != actuate::ReconcileEvent::Kind::Conflict) continue;
      SimWrite w;
      w.t = now - start_;
      w.writer = n.id;
      w.service = base_.services[s].name;
      w.generation = e.generation;
      w.refused = e.rule;
      result_.writes.push_back(std::move(w));
      Event ev;
      ev.at = now;
      ev.service = base_.services[s].name;
      ev.generation = e.generation;
      ev.rule = e.rule;
      ev.detail = e.rule ? "refused by guard" : "fence: " + e.detail;
      record(n.id, now, "write_failed", std::move(ev));
    }
    record(n, now, std::move(st.core_events));
  }

  // Phase 1: what the observer learns this tick.
  void sense(std::size_t i, TimePoint now, Duration tick) {
    Node& n = nodes_[i];
    if (n.ran && now - n.last_run > tick) {
      // It was stopped: its shell measures the lateness of its timers on resuming.
      record(n, now, n.engine.report_loop_lag(now - n.last_run - tick, now));
    }
    n.ran = true;
    n.last_run = now;
    for (std::size_t s = 0; s < n.drivers.size(); ++s) pump(i, s, now);
    while (!n.inbox.empty() && n.inbox.front().first <= now) {
      for (const Vote& v : *n.inbox.front().second) n.engine.receive(v, now);
      n.inbox.pop_front();
    }
    std::vector<EndpointId> due = n.engine.due(now);
    for (const EndpointId& ep : n.probe_now) {
      if (std::find(due.begin(), due.end(), ep) == due.end()) due.push_back(ep);
    }
    n.probe_now.clear();
    for (const EndpointId& ep : due) {
      record(n, now, n.engine.observe(ep, outcome(i, endpoint_index_.at(ep)), now));
    }
  }

  // Phase 2: decide, write, publish.
  void act(std::size_t i, TimePoint now) {
    Node& n = nodes_[i];
    std::vector<std::pair<bool, bool>> before;
    for (const auto& s : base_.services) {
      const ServicePolicy* p = n.engine.policy(s.name);
      before.emplace_back(p->frozen(), p->in_tilt(now));
    }
    StepResult step = n.engine.step(now);
    record(n, now, std::move(step.events));
    n.probe_now = std::move(step.probe_now);
    for (auto& plan : step.plans) {
      const std::size_t s = service_index(plan.service);
      check_emitted(i, plan, before[s].first, before[s].second, now);
    }
    hand(i, std::move(step.plans), now);
    if (now >= n.next_publish) {
      n.next_publish = now + exchange_interval_;
      if (!n.isolated) {
        auto votes = std::make_shared<const std::vector<Vote>>(n.engine.votes(now));
        for (std::size_t j = 0; j < nodes_.size(); ++j) {
          if (j == i || !link_[i][j] || nodes_[j].isolated) continue;
          nodes_[j].inbox.emplace_back(now + sc_.exchange_delay, votes);
        }
      }
    }
  }

  void violation(TimePoint now, const Node& n, const std::string& what) {
    result_.violations.push_back(seconds_text(now - start_) + " " + n.id.str() + ": " + what);
  }

  void check_emitted(std::size_t i, const Plan& plan, bool frozen, bool tilt, TimePoint now) {
    if (plan.trigger != Trigger::Automatic) return;
    if (frozen) violation(now, nodes_[i], "automatic plan while frozen");
    if (tilt) violation(now, nodes_[i], "automatic plan in TILT");
  }

  // Distinct observers with a fresh vote on `region` among `verdicts` in the plan's evidence.
  std::size_t votes_for(const Plan& plan, const RegionId& region,
                        std::initializer_list<Verdict> verdicts) const {
    std::set<ObserverId> who;
    for (const Vote& v : plan.evidence) {
      if (v.region != region || v.received > plan.decided_at) continue;
      if (plan.decided_at - v.received >= ttl_) continue;
      if (std::find(verdicts.begin(), verdicts.end(), v.verdict) == verdicts.end()) continue;
      who.insert(v.observer);
    }
    return who.size();
  }

  // Returns whether the write is a lost update (see below).
  bool check_write(std::size_t i, const config::Service& s, FakeTarget& t, const Plan& plan,
                   TimePoint now) {
    const Node& n = nodes_[i];
    std::uint64_t total = 0;
    for (const auto& m : plan.members) total += m.weight;
    if (plan.members.empty()) violation(now, n, "empty set written");
    if (total == 0) violation(now, n, "zero total weight written");
    if (plan.members.size() < s.min_targets) violation(now, n, "fewer members than min_targets");
    // PowerDNS has no compare-and-swap: two writers inside one read-compare-PATCH window both
    // land, the later one wins, and each finds the other's fence at its read-back. Such a write
    // is counted (lost_updates) and judged only by what it leaves: the checks above and below;
    // the pacing rules (hold-down, flip budget) judge the decisions, and it repeats one.
    const bool lost = plan.generation <= t.generation && t.kind == config::TargetKind::PowerDns;
    if (lost) {
      ++result_.lost_updates;
    } else if (plan.generation <= t.generation) {
      violation(now, n, "generation did not grow");
    }
    const std::vector<RegionId> after = regions_of(plan.members);
    if (s.policy == config::Policy::Priority && after.size() > 1) {
      violation(now, n, "more than one active region in priority mode");
    }
    if (plan.trigger != Trigger::Automatic || lost) return lost;
    const std::vector<RegionId> before = regions_of(t.members);
    // A failover away from everything that served: no region stays, and each one dropped is
    // confirmed down. Only then may a degraded region be added.
    bool away_from_dead = true;
    for (const auto& r : before) {
      away_from_dead = away_from_dead && !contains(after, r) &&
                       votes_for(plan, r, {Verdict::Down}) >= quorum_;
    }
    for (const auto& r : after) {
      if (contains(before, r)) continue;
      // Confirmed Up (quorum.h): a quorum of fresh up-or-degraded votes, fewer than a quorum
      // of them degraded. Confirmed Degraded: a quorum of degraded ones among them.
      const bool serving = votes_for(plan, r, {Verdict::Up, Verdict::Degraded}) >= quorum_;
      const bool degraded = votes_for(plan, r, {Verdict::Degraded}) >= quorum_;
      if (!serving) {
        violation(now, n, "automatic plan adds " + r.str() + " not confirmed up by a quorum");
      } else if (degraded && !away_from_dead) {
        violation(now, n, "automatic plan adds " + r.str() +
                              ", confirmed degraded, while a region that serves stays or is not "
                              "confirmed down");
      } else if (!away_from_dead && s.failback == config::Failback::Manual) {
        violation(now, n, "automatic failback to " + r.str() + " with failback = manual");
      } else if (!away_from_dead && t.manual_hold) {
        violation(now, n, "automatic failback to " + r.str() + " after a manual failover");
      }
    }
    for (const auto& r : before) {
      if (contains(after, r)) continue;
      bool failback = false;
      for (const auto& a : after) {
        auto pa = std::find(s.regions.begin(), s.regions.end(), a);
        auto pr = std::find(s.regions.begin(), s.regions.end(), r);
        failback = failback || (!contains(before, a) && pa < pr);
      }
      if (!failback && votes_for(plan, r, {Verdict::Down}) < quorum_) {
        violation(now, n, "automatic plan drops " + r.str() + " without a quorum of down votes");
      }
    }
    if (t.last_write && now - *t.last_write < s.hold_down) {
      violation(now, n, "automatic flip inside hold_down");
    }
    while (!t.automatic_writes.empty() && now - t.automatic_writes.front() >= s.flip_window) {
      t.automatic_writes.pop_front();
    }
    if (t.automatic_writes.size() + 1 > s.flip_budget) {
      violation(now, n, "more automatic flips than flip_budget within flip_window");
    }
    return false;
  }

  // A write the driver sends: the CAS as the target's kind does it. nullopt: a PowerDNS PATCH
  // compared now that lands at the next tick.
  std::optional<actuate::WriteResult> write(std::size_t i, std::size_t s,
                                            const actuate::ReconcileAction& a, TimePoint now) {
    using actuate::WriteResult;
    using actuate::WriteStatus;
    if (!reaches_target(i)) return WriteResult{WriteStatus::Unknown, "timeout", ""};
    if (now - a.plan.decided_at > base_.services[s].max_decision_age) {
      violation(now, nodes_[i], "a plan older than max_decision_age was sent");
    }
    const ServicePolicy* p = nodes_[i].engine.policy(a.plan.service);
    if (a.plan.trigger == Trigger::Automatic && p != nullptr && p->frozen()) {
      violation(now, nodes_[i], "automatic write sent while frozen");
    }
    FakeTarget& t = target(i, s);
    if (!(t.read() == a.expected)) {
      // Recorded as a failed write when the driver reports the Conflict (settle).
      return WriteResult{WriteStatus::Conflict, "prerequisite failed", "NXRRSET"};
    }
    if (t.kind == config::TargetKind::PowerDns) {
      nodes_[i].landing[s] = a.plan;
      return std::nullopt;
    }
    apply_write(i, s, a.plan, now);
    return WriteResult{WriteStatus::Applied, "NOERROR", "NOERROR"};
  }

  // The plan's members and generation are now what the target holds.
  void apply_write(std::size_t i, std::size_t s, const Plan& plan, TimePoint now) {
    const config::Service& svc = base_.services[s];
    FakeTarget& t = target(i, s);
    const bool lost = check_write(i, svc, t, plan, now);
    SimWrite w;
    w.t = now - start_;
    w.writer = nodes_[i].id;
    w.service = plan.service;
    w.generation = plan.generation;
    w.trigger = plan.trigger;
    w.members = plan.members;
    w.accepted = true;
    const std::vector<RegionId> was = regions_of(t.members), will = regions_of(plan.members);
    w.changed_active = std::set<RegionId>(was.begin(), was.end()) !=
                       std::set<RegionId>(will.begin(), will.end());
    Event e;
    e.at = now;
    e.service = plan.service;
    e.generation = plan.generation;
    e.from = describe(t.members);
    e.to = describe(plan.members);
    e.detail = std::string(to_string(plan.trigger)) + ": " + plan.reason;
    t.generation = plan.generation;
    t.writer = nodes_[i].id.str();
    t.members.clear();
    for (const auto& m : plan.members) {
      t.members.push_back({drive::region_of(svc, m.value), m.value, m.weight});
    }
    if (lost && t.trigger == Trigger::Automatic && !t.automatic_writes.empty() &&
        t.last_write && t.automatic_writes.back() == *t.last_write) {
      // The write it lands over is the one whose effect is lost: the pacing at the target
      // counts this one in its place.
      t.automatic_writes.pop_back();
    }
    t.trigger = plan.trigger;
    if (plan.trigger == Trigger::Manual && svc.policy == config::Policy::Priority &&
        !will.empty() && !svc.regions.empty()) {
      t.manual_hold = will.front() != svc.regions.front();
    }
    t.last_write = now;
    if (plan.trigger == Trigger::Automatic) t.automatic_writes.push_back(now);
    record(nodes_[i].id, now, "write_accepted", std::move(e));
    result_.writes.push_back(std::move(w));
  }

  // --- expectations ---

  static bool in_range(std::uint64_t n, const Expectation& e) {
    return (!e.min || n >= *e.min) && (!e.max || n <= *e.max);
  }

  static std::string range_text(const Expectation& e) {
    if (e.min && e.max && *e.min == *e.max) return " = " + std::to_string(*e.min);
    std::string out;
    if (e.min) out += " >= " + std::to_string(*e.min);
    if (e.max) out += std::string(e.min ? " and" : "") + " <= " + std::to_string(*e.max);
    return out;
  }

  ExpectationResult count(const Expectation& e, std::string text, std::uint64_t n) const {
    return {std::move(text) + range_text(e), std::to_string(n), in_range(n, e)};
  }

  bool service_matches(const Expectation& e, const ServiceId& s) const {
    return e.service.empty() || e.service == s;
  }

  ExpectationResult check(const Expectation& e) const {
    const std::string what(to_string(e.what));
    switch (e.what) {
      case Expectation::What::Writes:
      case Expectation::What::Failovers:
      case Expectation::What::FailedWrites: {
        std::uint64_t n = 0;
        for (const auto& w : result_.writes) {
          if (!service_matches(e, w.service)) continue;
          if (e.before && w.t >= *e.before) continue;
          if (!e.observer.empty() && w.writer != e.observer) continue;
          if (e.what == Expectation::What::Writes) n += w.accepted;
          if (e.what == Expectation::What::Failovers) n += w.accepted && w.changed_active;
          if (e.what == Expectation::What::FailedWrites) n += !w.accepted;
        }
        std::string text = what;
        if (!e.observer.empty()) text += " by " + e.observer.str();
        if (e.before) text += " before " + seconds_text(*e.before);
        return count(e, text, n);
      }
      case Expectation::What::EventCount: {
        std::uint64_t n = 0;
        for (const auto& r : result_.timeline) {
          if (r.kind != e.event || !service_matches(e, r.event.service)) continue;
          if (!e.observer.empty() && r.observer != e.observer) continue;
          if (!e.rule.empty() && (!r.event.rule || to_string(*r.event.rule) != e.rule)) continue;
          if (!e.region.empty() && r.event.region != e.region) continue;
          ++n;
        }
        std::string text = "events " + e.event;
        if (!e.rule.empty()) text += " rule=" + e.rule;
        if (!e.observer.empty()) text += " observer=" + e.observer.str();
        return count(e, text, n);
      }
      case Expectation::What::Active: {
        std::size_t s = e.service.empty() ? 0 : service_index(e.service);
        if (s == kNone || s >= result_.final_members.size()) return {what, "no such service", false};
        std::vector<RegionId> active = regions_of(result_.final_members[s]);
        std::string actual;
        for (const auto& r : active) actual += (actual.empty() ? "" : ",") + r.str();
        return {"active = " + e.region.str(), actual,
                active.size() == 1 && active.front() == e.region};
      }
      case Expectation::What::Verdict:
      case Expectation::What::ConfirmedState: {
        std::string actual;
        bool ok = true;
        for (std::size_t i : resolve(e.observer.empty() ? std::vector<ObserverId>{}
                                                        : std::vector<ObserverId>{e.observer})) {
          const auto& eng = nodes_[i].engine;
          Verdict v = Verdict::Unknown;
          if (e.what == Expectation::What::ConfirmedState) {
            v = eng.quorum().state(e.region);
          } else {
            auto it = eng.view().verdicts().find(e.region);
            if (it != eng.view().verdicts().end()) v = it->second;
          }
          actual += (actual.empty() ? "" : " ") + nodes_[i].id.str() + "=" + std::string(to_string(v));
          ok = ok && to_string(v) == e.is;
        }
        return {what + " " + e.region.str() + " is " + e.is, actual, ok && !actual.empty()};
      }
      case Expectation::What::Frozen: {
        const ServiceId svc = e.service.empty() && !base_.services.empty()
                                  ? base_.services.front().name
                                  : e.service;
        bool any = false;
        std::string actual;
        for (std::size_t i : resolve(e.observer.empty() ? std::vector<ObserverId>{}
                                                        : std::vector<ObserverId>{e.observer})) {
          const ServicePolicy* p = nodes_[i].engine.policy(svc);
          bool f = p && p->frozen();
          any = any || f;
          actual += (actual.empty() ? "" : " ") + nodes_[i].id.str() + "=" + (f ? "true" : "false");
        }
        return {"frozen is " + e.is, actual, (any ? "true" : "false") == e.is};
      }
      case Expectation::What::NoWriteBefore:
      case Expectation::What::WriteBy: {
        std::optional<Duration> first;
        for (const auto& w : result_.writes) {
          if (w.accepted && service_matches(e, w.service)) {
            first = w.t;
            break;
          }
        }
        std::string actual = first ? "first write at " + seconds_text(*first) : "no write";
        bool ok = e.what == Expectation::What::NoWriteBefore ? (!first || *first >= e.t)
                                                             : (first && *first <= e.t);
        return {what + " " + seconds_text(e.t), actual, ok};
      }
      case Expectation::What::Safe:
        return {what, std::to_string(result_.violations.size()) + " violations",
                result_.violations.empty()};
    }
    return {what, "", false};
  }

  const config::Config& base_;
  const Scenario& sc_;
  SimOptions opt_;
  TimePoint start_;
  std::deque<Node> nodes_;  // a deque: a node never moves (its drivers refer to its config)
  struct EndpointRef {
    EndpointId id;
    std::size_t region;
  };
  std::vector<EndpointRef> endpoints_;
  std::map<EndpointId, std::size_t> endpoint_index_;
  std::vector<std::vector<ProbeOutcome>> truth_;
  std::vector<std::vector<bool>> link_;
  std::vector<FakeTarget> targets_;
  std::vector<SimAction> actions_;
  std::size_t next_action_ = 0;
  std::size_t quorum_ = 1;
  Duration ttl_{};
  Duration exchange_interval_{};
  SimResult result_;
};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f",
                static_cast<double>(std::chrono::duration_cast<milliseconds>(d).count()) / 1000.0);
  return buf;
}

}  // namespace

SimResult simulate(const config::Config& base, const Scenario& scenario,
                   const SimOptions& options) {
  return Sim(base, scenario, options).run();
}

std::string format_text(const Scenario& scenario, const SimResult& result) {
  std::string out = "scenario: " + scenario.name + "\n";
  for (const auto& r : result.timeline) {
    std::string t = seconds_text(r.t);
    out += std::string(t.size() < 10 ? 10 - t.size() : 0, ' ') + t + " ";
    out += (r.observer.empty() ? std::string("world") : r.observer.str()) + " ";
    Event e = r.event;
    std::string line = describe(e);
    // describe() starts with the event kind; writes and actions carry their own.
    out += r.kind + line.substr(line.find(' ') == std::string::npos ? line.size() : line.find(' '));
    out += "\n";
  }
  std::size_t accepted = 0;
  for (const auto& w : result.writes) accepted += w.accepted;
  out += "writes: " + std::to_string(accepted) + " accepted, " +
         std::to_string(result.writes.size() - accepted) + " failed\n";
  for (const auto& v : result.violations) out += "VIOLATION " + v + "\n";
  for (const auto& e : result.expectations) {
    out += std::string(e.ok ? "PASS " : "FAIL ") + e.text + " (actual: " + e.actual + ")\n";
  }
  out += std::string("result: ") + (result.ok() ? "PASS" : "FAIL") + "\n";
  return out;
}

std::string format_json_lines(const Scenario& scenario, const SimResult& result) {
  std::string out;
  for (const auto& r : result.timeline) {
    const Event& e = r.event;
    out += "{\"type\":\"event\",\"t\":" + json_seconds(r.t) +
           ",\"observer\":" + json_string(r.observer.str()) + ",\"kind\":" + json_string(r.kind) +
           ",\"service\":" + json_string(e.service.str()) + ",\"region\":" +
           json_string(e.region.str()) + ",\"endpoint\":" + json_string(e.endpoint.str()) +
           ",\"from\":" + json_string(e.from) + ",\"to\":" + json_string(e.to) + ",\"rule\":" +
           json_string(e.rule ? to_string(*e.rule) : "") +
           ",\"generation\":" + std::to_string(e.generation) +
           ",\"detail\":" + json_string(e.detail) + "}\n";
  }
  for (const auto& w : result.writes) {
    out += "{\"type\":\"write\",\"t\":" + json_seconds(w.t) + ",\"writer\":" +
           json_string(w.writer.str()) + ",\"service\":" + json_string(w.service.str()) +
           ",\"generation\":" + std::to_string(w.generation) +
           ",\"accepted\":" + (w.accepted ? "true" : "false") +
           ",\"refused\":" + json_string(w.refused ? to_string(*w.refused) : "") +
           ",\"trigger\":" + json_string(to_string(w.trigger)) +
           ",\"members\":" + json_string(describe(w.members)) + "}\n";
  }
  for (const auto& v : result.violations) {
    out += "{\"type\":\"violation\",\"text\":" + json_string(v) + "}\n";
  }
  for (const auto& e : result.expectations) {
    out += "{\"type\":\"expect\",\"ok\":" + std::string(e.ok ? "true" : "false") +
           ",\"text\":" + json_string(e.text) + ",\"actual\":" + json_string(e.actual) + "}\n";
  }
  out += "{\"type\":\"summary\",\"scenario\":" + json_string(scenario.name) +
         ",\"ok\":" + (result.ok() ? "true" : "false") + "}\n";
  return out;
}

}  // namespace failoverd::core
