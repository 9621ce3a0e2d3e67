// The per-service driver: everything between a core decision and the service's target, the same
// code in the daemon (lib/runtime/engine.cc gives it real time and a real actuator) and in the
// simulator (lib/drive/sim.cc gives it simulated time and a fake target of the same kind).
//
// It owns:
// - the reconciler (actuate/reconcile.h): CAS write after a fresh read, read-back, drift repair,
//   write budget, and the plan guards checked immediately before every write;
// - the writer stagger (core/writer.h): an automatic plan for a shared target in a cluster waits
//   rank * stagger, then goes with a fresh read, so the lowest observer writes and the others
//   find the plan live. The stagger is the exchange interval (clamped to 100 ms .. 2 s) plus
//   twice the target's round-trip time, and the whole wait stays below max_decision_age / 2.
//   Manual plans, local targets and a single observer go at once;
// - the hold: while the service's automation is frozen, no automatic plan and no drift repair;
// - the live state as the core sees it (core::LiveState): members mapped to their regions, and
//   the trigger the fence records for the live generation, whoever wrote it: an operator's move
//   made through any observer is read back as manual by every observer (no automatic failback
//   after it, no flip counted). A fence that records none (written by hand, or by a build before
//   the trigger field) counts as Automatic, the conservative reading for the flip budget.
//
// The shell's loop: take(plan) for each plan of a core step; then repeatedly
//   poll(now) -> an operation (perform it, feed on_read / on_write) or nothing until next_due();
//   take_events() for the journal; live() to the core (ObserverEngine::set_live).
// Pure: no I/O, no clock reads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "actuate/reconcile.h"
#include "config/config.h"
#include "core/policy.h"

namespace failoverd::drive {

struct DriverOptions {
  core::ObserverId self;
  // Set for a cluster: the peers' exchange interval, the base of the writer stagger.
  std::optional<core::Duration> exchange_interval;
};

class ServiceDriver {
 public:
  ServiceDriver(const config::Service& service, DriverOptions options, std::uint64_t seed);

  const config::Service& config() const { return service_; }

  // A plan from the core. Returns the wait when it is deferred to lower-ranked writers
  // (nullopt: handed to the reconciler at once). A newer plan replaces a deferred one.
  // `round_trip`: the target's measured round-trip time, where known.
  std::optional<core::Duration> take(core::Plan plan, core::TimePoint now,
                                     std::optional<core::Duration> round_trip = std::nullopt);
  // Called with every plan at the moment it goes to the reconciler (at once or after its wait).
  void on_handed(std::function<void(const core::Plan&)> f) { on_handed_ = std::move(f); }

  // The service's automation is frozen (operator, peer, core): see actuate::Reconciler::set_held.
  void set_held(bool held) { reconciler_.set_held(held); }

  // The operation due at `now`, if any (a deferred plan whose wait is over is handed first).
  std::optional<actuate::ReconcileAction> poll(core::TimePoint now);
  // When poll() next has something; TimePoint::max() while an operation is out.
  core::TimePoint next_due() const;
  void on_read(const actuate::ReadResult& result, core::TimePoint now);
  void on_write(const actuate::WriteResult& result, core::TimePoint now);
  std::vector<actuate::ReconcileEvent> take_events() { return reconciler_.take_events(); }

  // What the target holds, for the core; nullopt before the first successful read.
  std::optional<core::LiveState> live() const;

  const std::optional<core::Plan>& deferred() const { return deferred_; }
  actuate::Reconciler& reconciler() { return reconciler_; }
  const actuate::Reconciler& reconciler() const { return reconciler_; }

 private:
  void hand(core::Plan plan, core::TimePoint now, bool fresh_read);

  const config::Service& service_;
  DriverOptions options_;
  actuate::Reconciler reconciler_;
  std::optional<core::Plan> deferred_;
  core::TimePoint deferred_until_{};
  std::function<void(const core::Plan&)> on_handed_;
};

// The reconciler's options for a service, as the daemon and the simulator both build them.
actuate::ReconcileOptions reconcile_options(const config::Service& service,
                                            const core::ObserverId& self);

// Whether automatic plans of `service` are staggered among the observers of a cluster: a target
// every observer writes (scope = shared) and more than one observer.
bool staggered(const config::Config& cfg, const config::Service& service);

// The region of a published value (empty when the value is not one of the service's).
core::RegionId region_of(const config::Service& service, const std::string& value);

}  // namespace failoverd::drive
