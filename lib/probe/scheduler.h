// Runs the probes of N endpoints at their intervals.
//
// - The first probe of each endpoint is placed uniformly at random within its first interval
//   (seeded), so a start or a reload never sends a burst.
// - Each later probe is due one interval after the previous *due* time (fixed rate, no drift),
//   stretched or shrunk by up to ±jitter (seeded generator).
// - The core decides the interval (normal, fast while suspect, down): set_interval() takes effect
//   at once (a shorter interval pulls the next probe in).
// - At most max_in_flight probes run at once; due probes beyond that wait in FIFO order. An
//   endpoint never has two probes in flight: if it is still in flight when due, that round is
//   owed and starts the moment the probe in flight ends (its result carries the owed round's due
//   time as `scheduled`; it is not counted as lateness), and further rounds missed meanwhile are
//   skipped. So a target that makes probes time out is still probed once per interval when its
//   timeout is as long as the interval, never more often. There are no retries, so failing
//   targets never draw more traffic than healthy ones.
// - Lateness (actual start minus due time) is measured for every probe, carried in the
//   ProbeResult and summarised (p50/p99/max) by lateness(). A probe due within 0.5 ms is started
//   early when the loop is awake anyway (saves a wakeup), so a result's lateness can be slightly
//   negative; the summary counts early starts as 0.
//
// Single-threaded: construct, call and destroy on the io_context's thread; results are delivered
// on it. Never blocks. Destroying the scheduler cancels everything; no result arrives after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "probe/prober.h"
#include "probe/result.h"

namespace failoverd::probe {

struct SchedulerOptions {
  std::size_t max_in_flight = 1024;
  std::uint64_t seed = 1;
  double jitter = 0.05;  // fraction of the interval, 0 <= jitter < 1
  // Probes endpoints the Prober does not handle (kind dns): must call `done` exactly once, on the
  // io_context thread, not from inside the call. Unset: such endpoints report Internal.
  std::function<void(const config::Endpoint&, Prober::Completion done)> external_probe;
  // Resolves host names in http/https/tcp/tls endpoints (see Prober). Not owned; must outlive
  // the Scheduler. nullptr: only IP literals can be probed.
  Resolver* resolver = nullptr;
};

struct LatenessStats {
  std::uint64_t count = 0;
  core::Duration p50{};
  core::Duration p99{};  // resolution 50 µs; values past 100 ms count as 100 ms + in `max`
  core::Duration max{};
};

class Scheduler {
 public:
  using ResultHandler = std::function<void(const ProbeResult&)>;

  // Prepares every endpoint (see errors()). Does not probe until start().
  Scheduler(boost::asio::io_context& io, const std::vector<config::Endpoint>& endpoints,
            SchedulerOptions options, ResultHandler on_result);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Endpoints that could not be prepared, as "name: why". They are still scheduled and report
  // ProbeReason::Internal with that text, so they show up as down rather than vanish.
  const std::vector<std::string>& errors() const;

  // `continue_at`, when set, gives an endpoint's first due time instead of a random phase: a
  // reload continues the previous scheduler's rounds (previous.next_due()), so no endpoint
  // waits longer than one interval. A time already past is due now; one more than an interval
  // away is cut to one interval.
  using ContinueAt = std::function<std::optional<core::TimePoint>(const core::EndpointId&)>;
  void start(const ContinueAt& continue_at = {});
  // Stops scheduling; probes in flight finish and are still reported.
  void stop();
  // When the endpoint's next round is due (also after stop()); for an endpoint whose probe is
  // still in flight, that probe's due time (a successor taking over after stop() runs that
  // round again, as its result will not reach it). nullopt before start() or for an unknown
  // endpoint.
  std::optional<core::TimePoint> next_due(const core::EndpointId& endpoint) const;

  // The interval for the endpoint's next probes (the core's fast/down interval). Returns false
  // for an unknown endpoint or a non-positive interval.
  bool set_interval(const core::EndpointId& endpoint, core::Duration interval);
  // Probes the endpoint now, out of its turn (the core wants to hear from it sooner): one extra
  // probe; its regular rounds keep their times, so endpoints asked together do not stay
  // aligned. If a probe is in flight, the extra one starts the moment it ends; if one is queued
  // behind max_in_flight, nothing changes. Not counted as lateness. Returns false for an
  // unknown endpoint or when stopped. The caller bounds how often it asks (the core: once per
  // wait for a standby, at most once per interval for a region's other endpoints).
  bool probe_now(const core::EndpointId& endpoint);

  LatenessStats lateness() const;
  void reset_lateness();
  std::size_t in_flight() const;
  std::size_t queued() const;
  std::size_t endpoint_count() const;
  // Rounds skipped because the endpoint's previous probe was still running.
  std::uint64_t skipped() const;
  const Prober& prober() const;

  struct Impl;  // implementation detail

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::probe
