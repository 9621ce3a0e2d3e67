// failoverd's Prometheus metrics (prometheus-cpp), served as text by the admin listener's
// /metrics route: one HTTP stack, no second embedded server.
//
// Names follow Prometheus conventions: failoverd_<thing>_<unit>, counters end in _total.
// Hot paths (one call per probe) go through a per-endpoint handle: plain counters in the daemon,
// rendered in the text format at scrape time (a few hundred bytes per endpoint, where
// prometheus-cpp series cost several KiB), so a probe result costs a few adds, not a label-map
// lookup. The per-endpoint handles and scrape() belong to one thread (failoverd's event loop);
// the rest goes through prometheus-cpp and is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"
#include "core/rules.h"
#include "core/types.h"

namespace failoverd::metrics {

// The series of one probed endpoint. Obtained once per endpoint from Metrics::endpoint().
class EndpointSeries {
 public:
  virtual ~EndpointSeries() = default;
  // One finished probe: its duration into the histogram, its reason into the results counter.
  virtual void probe_finished(core::ProbeReason reason, core::Duration latency) = 0;
  // Endpoint health after hysteresis: 1 up, 0 down (or unknown).
  virtual void set_up(bool up) = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The whole registry in the Prometheus text format (version 0.0.4).
  std::string scrape() const;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // A handle valid as long as this Metrics lives; asking twice gives the same series.
  EndpointSeries& endpoint(std::string_view endpoint, std::string_view region,
                           std::string_view kind);

  // One observer's verdict on one region (this observer's or a peer's as last received).
  void region_verdict(std::string_view region, std::string_view observer, core::Verdict verdict);
  // The quorum's confirmed state of a region.
  void quorum_state(std::string_view region, core::Verdict confirmed);
  // A service's live routing: its active region(s) and fence generation; frozen or not.
  void service_state(std::string_view service, std::string_view active_region,
                     core::Generation generation, bool frozen);
  // A configured service's failover and refusal counters, created at 0 (every trigger, every
  // rule), so that the first failover or refusal is an increase Prometheus can see: a counter
  // series that first appears at 1 has no increase() (the shipped alerts use increase()).
  void service_counters(std::string_view service);
  void failover(std::string_view service, core::Trigger trigger);
  // The rule that holds a service where it is (fail static), or none: its series is 1, every
  // other fail-static rule's 0 (all created by service_counters()).
  void fail_static(std::string_view service, std::optional<core::Rule> rule);
  // 1 while this observer abstains (its control endpoint down, every region down from here,
  // or event-loop lag), with the reason in the journal and `failoverctl status`.
  void observer_impaired(bool impaired);
  // 1 while a service's target refuses this observer (auth, policy, clock), retried with backoff.
  void actuator_blocked(std::string_view service, bool blocked);
  void plan_refused(std::string_view service, std::string_view rule);
  void actuator_write(std::string_view service, std::string_view target, std::string_view status,
                      std::string_view rcode);
  // Seconds since the last verdicts received from a peer.
  void peer_age(std::string_view peer, double seconds);
  void event_loop_lag(double seconds);
  void tilt(bool active);
  void config_reload(bool ok);
  // One request to the oracle listener, by the status it was answered with. oracle_counters()
  // (called when an oracle listener is made) creates the usual statuses at 0: 200, 503, 404,
  // 405, 429, 400, 413, 431.
  void oracle_counters();
  void oracle_request(unsigned status);
  // A [[notify]] receiver's sent, dropped and failed (every reason in `reasons`) series, at 0.
  void notify_counters(std::string_view notify, const std::vector<std::string_view>& reasons);
  void notify_sent(std::string_view notify);
  void notify_failed(std::string_view notify, std::string_view reason);
  void notify_dropped(std::string_view notify);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace failoverd::metrics
