#include "runtime/engine.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "actuate/failpoint.h"
#include "core/holds.h"
#include "core/observer.h"
#include "drive/observer_driver.h"
#include "drive/service_driver.h"
#include "log/log.h"
#include "notify/notifier.h"
#include "peer/exchange.h"
#include "peer/message.h"
#include "probe/dns_probe.h"
#include "probe/resolver.h"
#include "probe/scheduler.h"
#include "runtime/actuators.h"
#include "runtime/admin_actions.h"
#include "runtime/admin_views.h"
#include "runtime/journal.h"
#include "runtime/state_store.h"
#include "state/state_file.h"

namespace failoverd::runtime {

namespace asio = boost::asio;
namespace json = boost::json;
using core::Clock;
using core::TimePoint;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kLagTick = std::chrono::milliseconds(100);
// Lateness below this is scheduling noise, not a stall; it is not reported to the core.
constexpr auto kLagNoise = std::chrono::milliseconds(20);

// The region a published value belongs to, per the service's publish lists.
std::string_view kind_name(config::ProbeKind k) {
  switch (k) {
    case config::ProbeKind::Http: return "http";
    case config::ProbeKind::Https: return "https";
    case config::ProbeKind::Tcp: return "tcp";
    case config::ProbeKind::Tls: return "tls";
    case config::ProbeKind::Dns: return "dns";
  }
  return "http";
}


}  // namespace

struct ServiceRuntime {
  ServiceRuntime(asio::io_context& io, const config::Service& s, drive::DriverOptions o,
                 std::uint64_t seed)
      : config(s), driver(s, std::move(o), seed), reconciler(driver.reconciler()), wake(io) {}
  const config::Service& config;
  std::unique_ptr<actuate::Actuator> actuator;
  // Between the core's plans and the actuator: stagger, guards, reconcile loop, live state
  // (drive/service_driver.h), the same code the simulator runs.
  drive::ServiceDriver driver;
  actuate::Reconciler& reconciler;  // the driver's, for status and admin actions
  asio::steady_timer wake;
  core::Trigger last_trigger = core::Trigger::Automatic;
  std::string last_outcome;  // the reconciler's last event, for status
  // Who set a hold, why and when, as far as this process knows (runtime/state_store.h). Empty
  // when the hold's origin is not known.
  using HoldOrigin = runtime::HoldOrigin;
  std::optional<HoldOrigin> freeze_origin;
  std::optional<HoldOrigin> pin_origin;
  // The operators' holds as the whole cluster shares them (core/holds.h): set by an action
  // here, adopted from a peer's message when newer, persisted with its version.
  core::HoldState holds;
  // The regions of the plan last handed to the actuator and what was active before it, for the
  // failover_applied notice.
  std::vector<std::string> plan_from;
  std::vector<std::string> plan_to;
  std::string plan_reason;
};

struct Engine::Impl : std::enable_shared_from_this<Engine::Impl>, admin::Control, ActionHost {
  Impl(asio::io_context& io, std::shared_ptr<const config::Config> c, metrics::Metrics& m)
      : io_(io), shared_cfg_(std::move(c)), cfg_(*shared_cfg_), metrics_(m),
        core_(shared_cfg_, Clock::now()), resolver_(io), dns_(io, &resolver_),
        step_timer_(io),
        lag_timer_(io) {}

  asio::io_context& io_;
  std::shared_ptr<const config::Config> shared_cfg_;  // one copy, shared with core_ (and the daemon)
  const config::Config& cfg_;
  metrics::Metrics& metrics_;
  core::ObserverEngine core_;
  probe::Resolver resolver_;  // shared by the DnsProber and the Scheduler's Prober
  probe::DnsProber dns_;
  std::unique_ptr<probe::Scheduler> scheduler_;
  std::unique_ptr<peer::PeerExchange> peers_;  // only with a [cluster] table
  std::map<core::EndpointId, metrics::EndpointSeries*> series_;
  std::map<core::ServiceId, std::unique_ptr<ServiceRuntime>> services_;
  std::size_t endpoints_total_ = 0;
  std::set<core::EndpointId> probed_once_;
  asio::steady_timer step_timer_;
  bool step_posted_ = false;
  asio::steady_timer lag_timer_;
  TimePoint lag_expected_{};
  bool stopped_ = false;
  bool started_ = false;  // start() completed: only then may stop() write the state file
  Journal journal_;  // the decision journal (runtime/journal.h)
  StateStore store_;  // state.json (runtime/state_store.h)
  std::unique_ptr<notify::Notifier> notifier_;  // only with [[notify]] receivers

  // --- the oracle's hook (Engine::decisions, Engine::on_decision) ----------------------------
  std::function<void()> decision_listener_;
  std::map<core::ServiceId, TimePoint> live_read_ok_;  // last successful read of each live state
  void decision_changed() {
    if (decision_listener_ && !stopped_) decision_listener_();
  }

  // --- notifications (notify/notifier.h: never blocks, never awaited here) -------------------
  static std::vector<std::string> names(const std::vector<core::RegionId>& regions) {
    std::vector<std::string> out;
    for (const auto& r : regions) out.push_back(r.str());
    return out;
  }
  void tell(std::string kind, std::string service, std::string reason,
              core::Generation generation = 0, std::vector<std::string> from = {},
              std::vector<std::string> to = {}) {
    if (!notifier_ || stopped_) return;
    notify::Notice n;
    n.kind = std::move(kind);
    n.service = std::move(service);
    n.reason = std::move(reason);
    n.generation = generation;
    n.from = std::move(from);
    n.to = std::move(to);
    n.observer = core_.id().str();
    n.time = wall_time();
    notifier_->submit(n);
  }
  static std::string rule_text(const core::Event& e) {
    std::string out = e.rule ? std::string(core::to_string(*e.rule)) : std::string();
    if (!e.detail.empty()) out += (out.empty() ? "" : ": ") + e.detail;
    return out;
  }

  // --- journal -------------------------------------------------------------------------------
  void journal(std::string service, std::string kind, std::string who,
               std::string detail) override {
    journal_.add(std::move(service), std::move(kind), std::move(who), std::move(detail));
  }

  // --- persisted state (runtime/state_store.h; lib/state/state_file.h says what survives) ----
  void save_state() override {
    if (!store_.is_open()) return;
    state::PersistedState st;
    st.observer = core_.id().str();
    for (const auto& [name, s] : services_) {
      st.services.push_back(
          persisted_service(name, core_.policy(name), s->reconciler, s->holds, store_.wall()));
    }
    journal_.keep(st);
    store_.save(st);
  }

  // Applies a state file read by StateStore::open (start-up has already refused the kinds that
  // must not start).
  void apply_state(const state::Loaded& loaded, TimePoint now) {
    if (!store_.usable(loaded)) return;
    for (const auto& ps : loaded.state.services) {
      auto it = services_.find(core::ServiceId{ps.name});
      if (it == services_.end()) continue;  // no longer configured
      ServiceRuntime& s = *it->second;
      handle(restore_service(ps, loaded.state.journal, it->first, core_,
                             {s.reconciler, s.holds, s.freeze_origin, s.pin_origin}, store_.wall(),
                             now));
    }
    journal_.restore(loaded.state.journal, loaded.state.next_journal_id);
    log::info("state restored", {{"file", store_.path()}, {"journal_entries", journal_.size()}});
  }

  // --- core events ---------------------------------------------------------------------------
  void handle(const core::Events& events) override {
    for (const auto& e : events) {
      const std::string text = core::describe(e);
      switch (e.kind) {
        case core::EventKind::EndpointChanged: {
          log::info("endpoint health changed", {{"event", text}});
          auto it = series_.find(e.endpoint);
          if (it != series_.end()) it->second->set_up(e.to_health && core::serving(*e.to_health));
          break;
        }
        case core::EventKind::VerdictChanged:
        case core::EventKind::QuorumChanged:
        case core::EventKind::LiveChanged:
        case core::EventKind::ObserverRecovered:
        case core::EventKind::ServiceUnfrozen:
        case core::EventKind::TiltLeft:
        case core::EventKind::PlanProposed:
        case core::EventKind::PlanMade:
        case core::EventKind::ProposalExpired:
          log::info(core::to_string(e.kind), {{"event", text}});
          journal(e.service.str(), std::string(core::to_string(e.kind)), "core", text);
          if (e.kind == core::EventKind::ObserverRecovered) tell("observer_recovered", "", e.detail);
          if (e.kind == core::EventKind::ServiceUnfrozen) tell("service_unfrozen", e.service.str(), e.detail);
          if (e.kind == core::EventKind::TiltLeft) tell("tilt_left", "", e.detail);
          if (e.kind == core::EventKind::PlanProposed) notify_proposal(e);
          break;
        case core::EventKind::PlanRefused:
          log::warn("plan refused", {{"event", text}});
          if (e.rule) metrics_.plan_refused(e.service.str(), core::to_string(*e.rule));
          journal(e.service.str(), "plan_refused", "core", text);
          tell("plan_refused", e.service.str(), rule_text(e), e.generation);
          break;
        case core::EventKind::ServiceFrozen:
          if (e.rule == core::Rule::FlipBudgetExhausted) {
            if (auto it = services_.find(e.service); it != services_.end()) {
              it->second->freeze_origin = ServiceRuntime::HoldOrigin{"core", e.detail, wall_time()};
            }
          }
          tell(e.rule == core::Rule::FlipBudgetExhausted ? "flip_budget_exhausted" : "service_frozen",
                 e.service.str(), e.detail.empty() ? rule_text(e) : e.detail);
          [[fallthrough]];
        case core::EventKind::ObserverImpaired:
        case core::EventKind::TiltEntered:
          log::warn(core::to_string(e.kind), {{"event", text}});
          journal(e.service.str(), std::string(core::to_string(e.kind)), "core", text);
          if (e.kind == core::EventKind::ObserverImpaired) tell("observer_impaired", "", rule_text(e));
          if (e.kind == core::EventKind::TiltEntered) tell("tilt_entered", "", rule_text(e));
          break;
        case core::EventKind::Alert:
          log::error("alert", {{"event", text}});
          journal(e.service.str(), "alert", "core", text);
          tell("alert", e.service.str(), rule_text(e), e.generation);
          break;
      }
    }
  }

  void publish_state_metrics() override {
    const auto& self = core_.id().str();
    // TILT is entered by every service's policy at once (a stall or clock jump is the whole
    // observer's); it ends with the first step after tilt_period, which publishes again.
    const auto now = Clock::now();
    bool tilt = false;
    for (const auto& [region, verdict] : core_.view().verdicts()) {
      metrics_.region_verdict(region.str(), self, verdict);
      metrics_.quorum_state(region.str(), core_.quorum().state(region));
    }
    for (const auto& [name, s] : services_) {
      const auto* p = core_.policy(name);
      if (p == nullptr) continue;
      metrics_.service_state(name.str(), join_regions(p->active()), p->live().generation,
                             p->frozen() || s->reconciler.frozen());
      metrics_.fail_static(name.str(), p->fail_static());
      metrics_.actuator_blocked(name.str(), s->reconciler.blocked().has_value());
      tilt = tilt || p->in_tilt(now);
    }
    metrics_.tilt(tilt);
    metrics_.observer_impaired(core_.view().impairment().has_value());
    decision_changed();
  }

  // --- stepping the core ---------------------------------------------------------------------
  // Coalesces many observations into one step per event-loop turn.
  void request_step() override {
    if (step_posted_ || stopped_) return;
    step_posted_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->step_posted_ = false;
      self->step();
    });
  }

  void step() {
    if (stopped_) return;
    const auto now = Clock::now();
    if (peers_) {
      // Votes carry their local receive time; the quorum judges their freshness by it.
      for (const auto& vote : peers_->votes(now)) core_.receive(vote, vote.received);
      for (const auto& p : peers_->status()) {
        metrics_.peer_age(p.id.str(), p.last_seen ? std::chrono::duration<double>(now - *p.last_seen).count()
                                                  : -1.0);
      }
    }
    auto result = core_.step(now);
    if (peers_) hurry_peers(result.events, now);
    handle(result.events);
    for (const auto& endpoint : result.probe_now) {
      log::debug("probing out of turn", {{"endpoint", endpoint.str()}});
      if (scheduler_) scheduler_->probe_now(endpoint);
    }
    hand_plans(std::move(result.plans), now);
    publish_state_metrics();
    // Wake again when the core has something time-driven (vote expiry, hold-down end, ...);
    // probe results wake it by themselves (on_probe).
    auto due = core_.next_step_due(now);
    if (due != TimePoint::max()) {
      step_timer_.expires_at(std::max(due, now + std::chrono::milliseconds(1)));
      step_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->request_step();
      });
    }
  }

  // This observer's verdict on a region moved to or from down: ask the peers now and four
  // times per exchange_interval for a while, so a quorum that agrees forms within a quarter
  // interval instead of up to a whole one. (Not for up <-> degraded, nor for unknown after
  // start or TILT.)
  void hurry_peers(const core::Events& events, TimePoint now) {
    const bool moved = std::any_of(events.begin(), events.end(), [](const core::Event& e) {
      using core::Verdict;
      return e.kind == core::EventKind::VerdictChanged && e.from_verdict && e.to_verdict &&
             *e.from_verdict != Verdict::Unknown && *e.to_verdict != Verdict::Unknown &&
             (*e.from_verdict == Verdict::Down || *e.to_verdict == Verdict::Down);
    });
    if (!moved) return;
    const auto interval = std::chrono::duration_cast<core::Duration>(cfg_.cluster->exchange_interval);
    const auto every = std::max<core::Duration>(interval / 4, std::chrono::milliseconds(25));
    peers_->hurry(every, now + 4 * interval);
  }

  // Each plan to its service's driver, which defers an automatic plan for a shared target to the
  // lower observer ids (drive/service_driver.h: the stagger) or hands it on at once.
  void hand_plans(std::vector<core::Plan> plans, TimePoint now) {
    std::vector<std::pair<core::ServiceId, core::Generation>> which;
    for (const auto& p : plans) which.emplace_back(p.service, p.generation);
    const auto waits = drive::hand_plans(
        core_, std::move(plans), now,
        [this](const core::ServiceId& id) -> drive::ServiceDriver* {
          auto it = services_.find(id);
          return it == services_.end() ? nullptr : &it->second->driver;
        },
        [this](const drive::ServiceDriver& d) -> std::optional<core::Duration> {
          const auto& s = *services_.at(d.config().name);
          return s.actuator ? s.actuator->round_trip() : std::nullopt;
        });
    for (std::size_t k = 0; k < which.size(); ++k) {
      auto it = services_.find(which[k].first);
      if (it == services_.end()) continue;
      if (waits[k]) {
        log::info("deferring to a lower observer id",
                  {{"service", which[k].first.str()}, {"generation", which[k].second},
                   {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(*waits[k]).count()}});
      }
      it->second->wake.cancel();  // its loop picks the plan (or the wait) up
    }
  }

  void hand_plan(core::Plan plan, TimePoint now) override {
    std::vector<core::Plan> plans;
    plans.push_back(std::move(plan));
    hand_plans(std::move(plans), now);
  }

  // The regions a service's target holds now, as this observer knows them.
  std::vector<std::string> live_regions(const core::ServiceId& service) const {
    std::vector<std::string> out;
    if (const auto* p = core_.policy(service)) out = names(core::regions_of(p->live().members));
    return out;
  }

  void notify_proposal(const core::Event& e) {
    std::vector<std::string> to;
    if (const auto* p = core_.policy(e.service); p != nullptr && p->pending()) {
      to = names(p->pending()->active);
    }
    tell("plan_proposed", e.service.str(), e.detail, e.generation, live_regions(e.service),
           std::move(to));
  }

  // The driver hands `plan` to the reconciler (at once or after the stagger).
  void on_handed(ServiceRuntime& s, const core::Plan& plan) {
    log::info("plan handed to actuator",
              {{"service", plan.service.str()}, {"generation", plan.generation},
               {"active", join_regions(plan.active)}, {"trigger", core::to_string(plan.trigger)},
               {"reason", plan.reason}});
    s.plan_from = live_regions(plan.service);
    s.plan_to = names(plan.active);
    s.plan_reason = std::string(core::to_string(plan.trigger)) + ": " + plan.reason;
    tell("failover_planned", plan.service.str(), s.plan_reason, plan.generation, s.plan_from,
           s.plan_to);
    s.last_trigger = plan.trigger;
  }

  // --- probes --------------------------------------------------------------------------------
  void on_probe(const probe::ProbeResult& r) {
    if (stopped_) return;
    auto it = series_.find(r.endpoint);
    if (it != series_.end()) it->second->probe_finished(r.outcome.reason, r.outcome.latency);
    if (!r.outcome.ok()) {
      log::debug("probe failed", {{"endpoint", r.endpoint.str()},
                                  {"reason", core::to_string(r.outcome.reason)},
                                  {"detail", r.detail}});
    }
    probed_once_.insert(r.endpoint);
    const auto now = Clock::now();
    handle(core_.observe(r.endpoint, r.outcome, now));
    if (const auto* t = core_.view().tracker(r.endpoint)) {
      scheduler_->set_interval(r.endpoint, t->next_interval());
    }
    request_step();
  }

  // --- event-loop lag (tilt) -----------------------------------------------------------------
  void arm_lag_timer() {
    lag_expected_ = Clock::now() + kLagTick;
    lag_timer_.expires_at(lag_expected_);
    lag_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped_) return;
      const auto now = Clock::now();
      const auto lag = now - self->lag_expected_;
      self->metrics_.event_loop_lag(std::chrono::duration<double>(lag).count());
      if (lag > kLagNoise) {
        self->handle(self->core_.report_loop_lag(lag, now));
        self->request_step();
      } else if (self->peers_) {
        self->request_step();  // take in peers' votes even when no local probe finished
      }
      self->arm_lag_timer();
    });
  }

  // --- actuation -----------------------------------------------------------------------------
  std::optional<std::string> build_actuator(ServiceRuntime& s) {
    auto built = make_actuator(io_.get_executor(), s.config, core_.id());
    if (!built.actuator) return built.error;
    s.actuator = std::move(built.actuator);
    return std::nullopt;
  }

  void handle_reconcile(ServiceRuntime& s, const std::vector<actuate::ReconcileEvent>& events) {
    const std::string service = s.config.name.str();
    for (const auto& e : events) {
      std::string kind(actuate::to_string(e.kind));
      s.last_outcome = kind + (e.detail.empty() ? "" : ": " + e.detail);
      log::Field fields[] = {{"service", service}, {"event", kind}, {"generation", e.generation},
                             {"detail", e.detail}};
      if (e.alert) {
        log::error("actuator alert", {fields[0], fields[1], fields[2], fields[3]});
      } else {
        log::info("actuator", {fields[0], fields[1], fields[2], fields[3]});
      }
      if (e.kind == actuate::ReconcileEvent::Kind::Applied) {
        metrics_.failover(service, s.last_trigger);
        tell("failover_applied", service, s.plan_reason, e.generation, s.plan_from, s.plan_to);
      }
      if (e.alert) tell("actuator_error", service, kind + (e.detail.empty() ? "" : ": " + e.detail),
                          e.generation);
      // A repeated unreachable or refused answer (retried after backoff) is logged; the
      // journal keeps the first of each cause (alert) and the change back (resumed).
      const bool repeat = !e.alert && (e.kind == actuate::ReconcileEvent::Kind::Unreachable ||
                                       e.kind == actuate::ReconcileEvent::Kind::Refused);
      if (!repeat) journal(service, "actuator_" + kind, "actuator", e.detail);
    }
  }

  // The reconciler repairs drift and takes automatic plans only while automation is not frozen.
  void sync_hold(ServiceRuntime& s) { drive::sync_hold(core_, s.driver); }

  // --- ActionHost (runtime/admin_actions.h) --------------------------------------------------
  core::ObserverEngine& observer_core() override { return core_; }
  core::Decision admin_on(const core::AdminAction& action, core::TimePoint now) override {
    auto it = services_.find(action.service);
    return drive::admin(core_, it == services_.end() ? nullptr : &it->second->driver, action, now);
  }
  void wake_service(const core::ServiceId& service) override { services_.at(service)->wake.cancel(); }

  asio::awaitable<void> run_service(ServiceRuntime& s) {
    auto self = shared_from_this();
    while (!stopped_) {
      auto action = s.driver.poll(Clock::now());
      if (!action) {
        auto due = s.driver.next_due();
        auto cap = Clock::now() + std::chrono::seconds(60);
        s.wake.expires_at(due == TimePoint::max() ? cap : std::min(due, cap));
        co_await s.wake.async_wait(kNoThrow);  // cancelled when a plan arrives
        continue;
      }
      namespace fp = actuate::failpoint;
      if (action->kind == actuate::ReconcileAction::Kind::Read) {
        const bool verifying = s.reconciler.verifying();
        auto r = co_await s.actuator->read();
        if (verifying) fp::hit(fp::Point::DuringVerify);
        if (stopped_) break;
        sync_hold(s);
        s.driver.on_read(r, Clock::now());
        if (r.status == actuate::ReadStatus::Ok) live_read_ok_[s.config.name] = Clock::now();
      } else {
        fp::hit(fp::Point::BeforeSend);
        auto w = co_await s.actuator->write(action->plan, action->expected);
        fp::hit(fp::Point::AfterResponse);
        if (stopped_) break;
        sync_hold(s);
        metrics_.actuator_write(s.config.name.str(), s.actuator->kind(), actuate::to_string(w.status),
                                w.rcode);
        s.driver.on_write(w, Clock::now());
      }
      // The driver's events, a write budget spent (the service freezes, held by "core"), the
      // hold and the live state read back, to the core.
      drive::Settled settled = drive::settle(core_, s.driver, Clock::now());
      handle_reconcile(s, settled.target_events);
      if (settled.budget_frozen) {
        if (const auto* policy = core_.policy(s.config.name)) {
          s.freeze_origin = ServiceRuntime::HoldOrigin{"core", policy->frozen_reason(), wall_time()};
        }
      }
      handle(settled.core_events);
      decision_changed();
      if (settled.budget_frozen) publish_state_metrics();
      if (s.driver.live()) request_step();
      save_state();  // after set_live: the generation read and any flip it counted are kept
    }
  }

  // --- cluster-wide holds (core/holds.h) -----------------------------------------------------
  // What this observer tells its peers: every service with a hold version.
  std::vector<peer::ServiceHolds> hold_message() const {
    std::vector<peer::ServiceHolds> out;
    for (const auto& [name, s] : services_) {
      if (s->holds.version > 0) out.push_back({name, s->holds});
    }
    return out;
  }

  // A peer's accepted message carried holds: adopt each one newer than ours and apply it as the
  // operator's action would be here (without a plan: the observer that took a pin writes it,
  // except for a local target, which each observer moves itself).
  void adopt_peer_holds(const core::ObserverId& from, const std::vector<peer::ServiceHolds>& in) {
    if (stopped_) return;
    bool changed = false;
    for (const auto& entry : in) {
      auto it = services_.find(entry.service);
      if (it == services_.end()) continue;  // not configured here
      ServiceRuntime& s = *it->second;
      const core::HoldState before = s.holds;
      if (!core::merge(s.holds, entry.state)) continue;
      changed = true;
      apply_adopted_holds(s, before, from);
    }
    if (!changed) return;
    save_state();
    publish_state_metrics();
    request_step();
  }

  void apply_adopted_holds(ServiceRuntime& s, const core::HoldState& before,
                           const core::ObserverId& from) {
    const auto* policy = core_.policy(s.config.name);
    if (policy == nullptr) return;
    const core::HoldState& h = s.holds;
    const auto now = Clock::now();
    const auto fx = core::hold_effects(before, h, policy->frozen(), policy->pinned());
    auto run = [&](core::AdminAction::Kind kind, const std::string& reason = {},
                   const core::RegionId& region = {}) {
      core::AdminAction a;
      a.kind = kind;
      a.service = s.config.name;
      a.reason = reason;
      a.region = region;
      core::Decision d = core_.admin(a, now);
      handle(d.events);
      return d;
    };
    if (fx.freeze) run(core::AdminAction::Kind::Freeze, h.freeze->reason);
    if (fx.unfreeze) {
      run(core::AdminAction::Kind::Unfreeze);
      s.reconciler.reset_budget();  // as for an operator's unfreeze here
    }
    if (!policy->frozen()) s.freeze_origin.reset();
    if (fx.pin) {
      bool done = false;
      if (s.config.target.scope == config::TargetScope::Local) {
        // Each observer writes its own local target: move it as the pin moved the other's.
        core::Decision d = run(core::AdminAction::Kind::Pin, {}, *fx.pin);
        if (d.plan) hand_plan(std::move(*d.plan), now);
        done = !d.refused;
      }
      if (!done) core_.restore_pin(s.config.name, *fx.pin);
    }
    if (fx.unpin) run(core::AdminAction::Kind::Unpin);
    if (!policy->pinned()) s.pin_origin.reset();
    sync_hold(s);
    const core::Hold* hold = h.action == core::HoldChange::Freeze ? (h.freeze ? &*h.freeze : nullptr)
                             : h.action == core::HoldChange::Pin  ? (h.pin ? &*h.pin : nullptr)
                                                                  : nullptr;
    std::string detail = std::string(core::to_string(h.action)) + " adopted from " +
                         h.author.str() + ", by " + (h.who.empty() ? "-" : h.who);
    if (hold != nullptr) {
      if (h.action == core::HoldChange::Pin) detail += " to " + hold->region.str();
      detail += ": " + (hold->reason.empty() ? std::string("-") : hold->reason);
    }
    detail += " (hold version " + std::to_string(h.version) +
              (from != h.author ? ", heard via " + from.str() : std::string()) + ")";
    log::info("hold adopted", {{"service", s.config.name.str()}, {"detail", detail}});
    journal(s.config.name.str(), "peer_" + std::string(core::to_string(h.action)), h.who, detail);
  }

  // --- admin::Control ------------------------------------------------------------------------
  // The views (runtime/admin_views.h) read these of a service.
  static ServiceFacts facts(const ServiceRuntime& s) {
    return {s.config, s.actuator ? s.actuator->kind() : "none", s.reconciler, s.holds,
            s.freeze_origin, s.pin_origin, s.last_outcome};
  }

  json::value status() override {
    std::vector<ServiceFacts> services;
    for (const auto& [name, s] : services_) services.push_back(facts(*s));
    std::vector<peer::PeerStatus> peers;
    if (peers_) peers = peers_->status();
    return status_view(core_, cfg_, services, peers_ ? &peers : nullptr);
  }

  std::optional<json::value> service(std::string_view name) override {
    auto it = services_.find(core::ServiceId{std::string(name)});
    if (it == services_.end()) return std::nullopt;
    return service_view(core_, cfg_, facts(*it->second));
  }

  admin::ActionResult act(const admin::ActionRequest& req) override {
    auto it = services_.find(core::ServiceId{req.service});
    if (it == services_.end()) {
      return {admin::ActionResult::Kind::NotFound, "unknown service '" + req.service + "'", "", {}};
    }
    ServiceRuntime& s = *it->second;
    return act_on_service(*this, req, s.config,
                          {s.reconciler, s.holds, s.freeze_origin, s.pin_origin});
  }

  json::value events(std::optional<std::uint64_t> cursor, std::size_t limit) override {
    return journal_.view(cursor, limit);
  }
};

Engine::Engine(asio::io_context& io, const config::Config& config, metrics::Metrics& metrics)
    : Engine(io, std::make_shared<const config::Config>(config), metrics) {}

Engine::Engine(asio::io_context& io, std::shared_ptr<const config::Config> config,
               metrics::Metrics& metrics)
    : impl_(std::make_shared<Impl>(io, std::move(config), metrics)) {}

Engine::~Engine() { stop(); }

std::optional<std::string> Engine::start(const Engine* previous) {
  Impl& im = *impl_;
  const auto& cfg = im.cfg_;
  std::uint64_t seed = std::hash<std::string>{}(cfg.observer.id.str());

  for (const auto& svc : cfg.services) {
    drive::DriverOptions o;
    o.self = cfg.observer.id;
    if (drive::staggered(cfg, svc)) o.exchange_interval = cfg.cluster->exchange_interval;
    auto s = std::make_unique<ServiceRuntime>(im.io_, svc, o, seed++);
    s->driver.on_handed([&im, rt = s.get()](const core::Plan& plan) { im.on_handed(*rt, plan); });
    if (auto err = im.build_actuator(*s)) return "service " + svc.name.str() + ": " + *err;
    im.services_.emplace(svc.name, std::move(s));
    im.metrics_.service_counters(svc.name.str());
  }

  if (!cfg.notify.empty()) {
    im.notifier_ = std::make_unique<notify::Notifier>(im.io_, cfg.notify, im.metrics_, seed);
    if (auto err = im.notifier_->start()) return *err;
  }

  if (!cfg.observer.state_dir.empty()) {
    state::Loaded loaded;
    if (auto err = im.store_.open(cfg.observer.state_dir, cfg.observer.id.str(), loaded)) return *err;
    im.apply_state(loaded, Clock::now());
    im.store_.start_writing();
  }

  std::vector<config::Endpoint> endpoints;
  for (const auto& region : cfg.regions) {
    for (const auto& e : region.endpoints) {
      endpoints.push_back(e);
      im.series_[e.name] = &im.metrics_.endpoint(e.name.str(), region.name.str(),
                                                 kind_name(e.kind));
    }
  }
  for (const auto& e : cfg.control) {
    endpoints.push_back(e);
    im.series_[e.name] = &im.metrics_.endpoint(e.name.str(), "control", kind_name(e.kind));
  }
  im.endpoints_total_ = endpoints.size();

  probe::SchedulerOptions so;
  so.seed = seed;
  so.resolver = &im.resolver_;
  std::weak_ptr<Impl> weak = impl_;
  so.external_probe = [weak](const config::Endpoint& e, probe::Prober::Completion done) {
    auto self = weak.lock();
    if (!self) return;
    self->dns_.start(e, [done = std::move(done)](probe::ProbeResult r) { done(std::move(r)); });
  };
  im.scheduler_ = std::make_unique<probe::Scheduler>(
      im.io_, endpoints, so, [weak](const probe::ProbeResult& r) {
        if (auto self = weak.lock()) self->on_probe(r);
      });
  for (const auto& err : im.scheduler_->errors()) log::error("endpoint cannot be probed", {{"error", err}});

  if (cfg.cluster) {
    peer::ExchangeOptions po;
    po.self = cfg.observer.id;
    po.cluster = *cfg.cluster;
    po.config_fingerprint = peer::config_fingerprint(cfg);
    po.max_holds = cfg.services.size();
    po.hold_source = [weak] {
      auto self = weak.lock();
      return self ? self->hold_message() : std::vector<peer::ServiceHolds>{};
    };
    po.on_holds = [weak](const core::ObserverId& from, const std::vector<peer::ServiceHolds>& h) {
      if (auto self = weak.lock()) self->adopt_peer_holds(from, h);
    };
    im.peers_ = std::make_unique<peer::PeerExchange>(im.io_, po, [weak] {
      std::vector<peer::RegionVerdict> out;
      auto self = weak.lock();
      if (!self) return out;
      const auto reason = self->core_.view().impairment();
      for (const auto& [region, verdict] : self->core_.view().verdicts()) {
        out.push_back({region, verdict, reason.value_or("")});
      }
      return out;
    });
    if (auto err = im.peers_->start()) return "cluster listener: " + *err;
    log::info("cluster listening", {{"port", im.peers_->local_port()},
                                    {"peers", cfg.cluster->peers.size()},
                                    {"quorum", cfg.quorum()}});
  }

  if (previous != nullptr) {
    const Impl& was = *previous->impl_;
    // A service defined as before keeps what only the process knew of its target (the budget
    // count, a local fence, an exec hook's last plan); a changed one starts fresh.
    for (auto& [name, s] : im.services_) {
      auto it = was.services_.find(name);
      if (it == was.services_.end() || !(it->second->config == s->config)) continue;
      s->reconciler.continue_from(it->second->reconciler);
      if (s->actuator && it->second->actuator) s->actuator->continue_from(*it->second->actuator);
    }
    // An endpoint whose health was kept has had its first round already.
    for (const auto& id : im.core_.adopt(was.core_)) {
      if (was.probed_once_.count(id) != 0) im.probed_once_.insert(id);
    }
    probe::Scheduler::ContinueAt continue_at;
    if (was.scheduler_) {
      const probe::Scheduler* old_scheduler = was.scheduler_.get();
      continue_at = [old_scheduler](const core::EndpointId& id) { return old_scheduler->next_due(id); };
    }
    im.scheduler_->start(continue_at);
  } else {
    im.scheduler_->start();
  }
  im.arm_lag_timer();
  for (auto& [name, s] : im.services_) {
    asio::co_spawn(im.io_, im.run_service(*s), asio::detached);
  }
  im.request_step();
  im.started_ = true;
  log::info("probing", {{"endpoints", endpoints.size()}, {"services", im.services_.size()}});
  return std::nullopt;
}

void Engine::stop() {
  Impl& im = *impl_;
  if (im.stopped_) return;
  im.stopped_ = true;
  if (im.scheduler_) im.scheduler_->stop();
  if (im.peers_) im.peers_->stop();
  if (im.notifier_) im.notifier_->stop();
  // What was handed to the writer is on disk before a successor (a reload) reads the file. An
  // engine whose start() failed (a reload rejected late) writes nothing: its services are the
  // rejected config's, and the previous configuration is about to read the file.
  if (im.store_.is_open()) {
    if (im.started_) im.save_state();
    im.store_.flush();
  }
  im.step_timer_.cancel();
  im.lag_timer_.cancel();
  for (auto& [name, s] : im.services_) {
    s->wake.cancel();
  }
}

admin::Control& Engine::control() { return *impl_; }

// --- the oracle's hook --------------------------------------------------------------------------

namespace {

Clock::duration target_timeout(const config::Target& t) {
  switch (t.kind) {
    case config::TargetKind::Rfc2136: return t.rfc2136.timeout;
    case config::TargetKind::PowerDns: return t.powerdns.timeout;
    case config::TargetKind::HaProxy: return t.haproxy.timeout;
    case config::TargetKind::Exec: return t.exec.timeout;
  }
  return std::chrono::seconds(10);
}

}  // namespace

std::vector<oracle::ServiceDecision> Engine::decisions() const {
  const Impl& im = *impl_;
  const auto now = Clock::now();
  // No fresh quorum view: fewer peers heard from within verdict_ttl than a quorum needs.
  bool no_quorum = false;
  if (im.peers_) {
    std::size_t fresh = 0;
    for (const auto& p : im.peers_->status()) {
      if (p.last_seen && now - *p.last_seen <= im.cfg_.cluster->verdict_ttl) ++fresh;
    }
    no_quorum = fresh + 1 < im.cfg_.quorum();
  }
  const bool impaired = im.core_.view().impairment().has_value();
  std::vector<oracle::ServiceDecision> out;
  for (const auto& [name, s] : im.services_) {
    const auto* p = im.core_.policy(name);
    if (p == nullptr) continue;
    oracle::ServiceDecision d;
    d.service = name.str();
    for (const auto& r : s->config.regions) d.regions.push_back(r.str());
    if (d.regions.empty()) {  // weighted: the regions are the weights' keys
      for (const auto& [r, w] : s->config.weights) d.regions.push_back(r.str());
    }
    d.live_known = p->live_known();
    for (const auto& r : p->active()) d.active.push_back(r.str());
    d.generation = p->live().generation;
    if (p->in_tilt(now)) {
      d.static_reason = "tilt";
    } else if (impaired) {
      d.static_reason = "observer_impaired";
    } else if (no_quorum) {
      d.static_reason = "no_quorum";
    } else if (auto rule = p->fail_static()) {
      d.static_reason = std::string(core::to_string(*rule));
    }
    if (auto it = im.live_read_ok_.find(name); it != im.live_read_ok_.end()) d.last_read_ok = it->second;
    // Two periodic reads missed (and the second's timeout): the live state is no longer fresh.
    d.stale_after = 2 * s->config.reconcile_interval + target_timeout(s->config.target);
    out.push_back(std::move(d));
  }
  return out;
}

void Engine::on_decision(std::function<void()> listener) {
  impl_->decision_listener_ = std::move(listener);
  impl_->decision_changed();
}

std::optional<std::string> Engine::not_ready_reason() const {
  const Impl& im = *impl_;
  if (im.probed_once_.size() < im.endpoints_total_) {
    return "first probe round not done (" + std::to_string(im.probed_once_.size()) + " of " +
           std::to_string(im.endpoints_total_) + " endpoints probed)";
  }
  if (im.peers_) {
    const auto now = Clock::now();
    std::size_t fresh = 0;
    for (const auto& p : im.peers_->status()) {
      if (p.last_seen && now - *p.last_seen <= im.cfg_.cluster->verdict_ttl) ++fresh;
    }
    const std::size_t needed = im.cfg_.quorum() > 0 ? im.cfg_.quorum() - 1 : 0;
    if (fresh < needed) {
      return "only " + std::to_string(fresh) + " peers heard from within verdict_ttl; " +
             std::to_string(needed) + " needed for a quorum";
    }
  }
  return std::nullopt;
}

}  // namespace failoverd::runtime
