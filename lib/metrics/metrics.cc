#include "metrics/metrics.h"

#include "core/rules.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <map>
#include <sstream>

namespace failoverd::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

constexpr std::size_t kReasonCount = static_cast<std::size_t>(core::ProbeReason::Internal) + 1;

// Probe latencies from sub-millisecond loopback to multi-second timeouts.
const Histogram::BucketBoundaries kProbeBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1,    2.5,   5};

double verdict_value(core::Verdict v) {
  // Gauge encoding, documented in the HELP text: 0 unknown, 1 up, 2 degraded, 3 down.
  switch (v) {
    case core::Verdict::Unknown: return 0;
    case core::Verdict::Up: return 1;
    case core::Verdict::Degraded: return 2;
    case core::Verdict::Down: return 3;
  }
  return 0;
}

std::string s(std::string_view v) { return std::string(v); }

class Series final : public EndpointSeries {
 public:
  Series(Family<Histogram>& durations, Family<Counter>& results, Family<Gauge>& up,
         const std::map<std::string, std::string>& labels)
      : duration_(durations.Add(labels, kProbeBuckets)), up_(up.Add(labels)),
        results_family_(results), labels_(labels) {}

  void probe_finished(core::ProbeReason reason, core::Duration latency) override {
    duration_.Observe(std::chrono::duration<double>(latency).count());
    auto i = static_cast<std::size_t>(reason);
    if (results_[i] == nullptr) {
      auto labels = labels_;
      labels["reason"] = s(core::to_string(reason));
      results_[i] = &results_family_.Add(labels);
    }
    results_[i]->Increment();
  }

  void set_up(bool up) override { up_.Set(up ? 1 : 0); }

 private:
  Histogram& duration_;
  Gauge& up_;
  Family<Counter>& results_family_;
  std::map<std::string, std::string> labels_;
  std::array<Counter*, kReasonCount> results_{};  // created on first use of each reason
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  Family<Histogram>& probe_duration =
      BuildHistogram().Name("failoverd_probe_duration_seconds")
          .Help("Duration of finished probes, by endpoint").Register(*registry);
  Family<Counter>& probe_results =
      BuildCounter().Name("failoverd_probe_results_total")
          .Help("Finished probes by endpoint and reason (ok or why it failed)").Register(*registry);
  Family<Gauge>& endpoint_up =
      BuildGauge().Name("failoverd_endpoint_up")
          .Help("Endpoint health after rise/fall hysteresis: 1 up, 0 down or not yet known")
          .Register(*registry);
  Family<Gauge>& region_verdict =
      BuildGauge().Name("failoverd_region_verdict")
          .Help("An observer's verdict on a region: 0 unknown, 1 up, 2 degraded, 3 down")
          .Register(*registry);
  Family<Gauge>& quorum_state =
      BuildGauge().Name("failoverd_region_confirmed_state")
          .Help("The quorum's confirmed state of a region: 0 unknown, 1 up, 2 degraded, 3 down")
          .Register(*registry);
  Family<Gauge>& service_active =
      BuildGauge().Name("failoverd_service_active_region")
          .Help("1 for the region a service is routed to").Register(*registry);
  Family<Gauge>& service_generation =
      BuildGauge().Name("failoverd_service_generation")
          .Help("The live fence generation of a service").Register(*registry);
  Family<Gauge>& service_frozen =
      BuildGauge().Name("failoverd_service_frozen")
          .Help("1 when automation is frozen for a service").Register(*registry);
  Family<Gauge>& fail_static =
      BuildGauge().Name("failoverd_service_fail_static")
          .Help("1 for the rule holding a service where it is although a change may be needed "
                "(no_quorum, all_regions_down, target_not_confirmed_up)")
          .Register(*registry);
  Family<Gauge>& impaired =
      BuildGauge().Name("failoverd_observer_impaired")
          .Help("1 while this observer abstains from voting (control endpoint down, every region "
                "down from here, or event-loop lag)")
          .Register(*registry);
  Family<Gauge>& blocked =
      BuildGauge().Name("failoverd_actuator_blocked")
          .Help("1 while a service's target refuses this observer's reads or writes (TSIG, "
                "REFUSED, clock); retried with capped backoff").Register(*registry);
  Family<Counter>& failovers =
      BuildCounter().Name("failoverd_failovers_total")
          .Help("Routing changes written, by service and trigger").Register(*registry);
  Family<Counter>& refused =
      BuildCounter().Name("failoverd_plans_refused_total")
          .Help("Plans refused by a safety rule, by service and rule").Register(*registry);
  Family<Counter>& notify_sent =
      BuildCounter().Name("failoverd_notify_sent_total")
          .Help("Notifications a [[notify]] receiver accepted (2xx)").Register(*registry);
  Family<Counter>& notify_failed =
      BuildCounter().Name("failoverd_notify_failed_total")
          .Help("Notifications given up on, by receiver and reason of the last try")
          .Register(*registry);
  Family<Counter>& notify_dropped =
      BuildCounter().Name("failoverd_notify_dropped_total")
          .Help("Notifications dropped unsent because the receiver's queue was full (the oldest "
                "pending one goes)").Register(*registry);
  Family<Counter>& writes =
      BuildCounter().Name("failoverd_actuator_writes_total")
          .Help("Writes to targets by service, target kind, status and rcode").Register(*registry);
  Family<Gauge>& peer_age =
      BuildGauge().Name("failoverd_peer_last_seen_age_seconds")
          .Help("Seconds since verdicts were last received from a peer").Register(*registry);
  Family<Gauge>& loop_lag =
      BuildGauge().Name("failoverd_event_loop_lag_seconds")
          .Help("Lateness of the event loop's last timer").Register(*registry);
  Family<Gauge>& tilt =
      BuildGauge().Name("failoverd_tilt")
          .Help("1 while automatic actions are suspended after a clock jump or stall")
          .Register(*registry);
  Family<Counter>& reloads =
      BuildCounter().Name("failoverd_config_reloads_total")
          .Help("Configuration reloads by result").Register(*registry);

  // Endpoint handles by "endpoint\0region\0kind"; stable addresses (map nodes never move).
  std::map<std::string, Series> endpoints;
  Family<Counter>& oracle_requests =
      BuildCounter().Name("failoverd_oracle_requests_total")
          .Help("Requests to the oracle listener by the HTTP status answered (429: rate limited "
                "per source; 400/413/431: malformed or oversized)").Register(*registry);
  std::map<unsigned, Counter*> oracle_by_status;
  // Last active region per service, so switching it clears the old series to 0.
  std::map<std::string, std::string> active;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

std::string Metrics::scrape() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  return std::move(out).str();
}

EndpointSeries& Metrics::endpoint(std::string_view endpoint, std::string_view region,
                                  std::string_view kind) {
  std::string key = s(endpoint) + '\0' + s(region) + '\0' + s(kind);
  auto it = impl_->endpoints.find(key);
  if (it == impl_->endpoints.end()) {
    std::map<std::string, std::string> labels{
        {"endpoint", s(endpoint)}, {"region", s(region)}, {"kind", s(kind)}};
    it = impl_->endpoints
             .try_emplace(key, impl_->probe_duration, impl_->probe_results, impl_->endpoint_up,
                          labels)
             .first;
  }
  return it->second;
}

void Metrics::region_verdict(std::string_view region, std::string_view observer,
                             core::Verdict verdict) {
  impl_->region_verdict.Add({{"region", s(region)}, {"observer", s(observer)}})
      .Set(verdict_value(verdict));
}

void Metrics::quorum_state(std::string_view region, core::Verdict confirmed) {
  impl_->quorum_state.Add({{"region", s(region)}}).Set(verdict_value(confirmed));
}

void Metrics::service_state(std::string_view service, std::string_view active_region,
                            core::Generation generation, bool frozen) {
  auto& last = impl_->active[s(service)];
  if (!last.empty() && last != active_region) {
    impl_->service_active.Add({{"service", s(service)}, {"region", last}}).Set(0);
  }
  last = s(active_region);
  if (!last.empty()) impl_->service_active.Add({{"service", s(service)}, {"region", last}}).Set(1);
  impl_->service_generation.Add({{"service", s(service)}}).Set(static_cast<double>(generation));
  impl_->service_frozen.Add({{"service", s(service)}}).Set(frozen ? 1 : 0);
}

void Metrics::service_counters(std::string_view service) {
  for (auto t : {core::Trigger::Automatic, core::Trigger::Manual, core::Trigger::Restore}) {
    impl_->failovers.Add({{"service", s(service)}, {"trigger", s(core::to_string(t))}});
  }
  // Rules are numbered from 0 and only ever added at the end; past the last one to_string()
  // answers "unknown_rule".
  for (int i = 0;; ++i) {
    const auto name = core::to_string(static_cast<core::Rule>(i));
    if (name == "unknown_rule") break;
    impl_->refused.Add({{"service", s(service)}, {"rule", s(name)}});
  }
  fail_static(service, std::nullopt);
  actuator_blocked(service, false);
}

void Metrics::actuator_blocked(std::string_view service, bool blocked) {
  impl_->blocked.Add({{"service", s(service)}}).Set(blocked ? 1 : 0);
}

void Metrics::fail_static(std::string_view service, std::optional<core::Rule> rule) {
  for (auto r : {core::Rule::NoQuorum, core::Rule::AllRegionsDown,
                 core::Rule::TargetNotConfirmedUp}) {
    impl_->fail_static.Add({{"service", s(service)}, {"rule", s(core::to_string(r))}})
        .Set(rule == r ? 1 : 0);
  }
}

void Metrics::observer_impaired(bool impaired) {
  impl_->impaired.Add({}).Set(impaired ? 1 : 0);
}

void Metrics::failover(std::string_view service, core::Trigger trigger) {
  impl_->failovers.Add({{"service", s(service)}, {"trigger", s(core::to_string(trigger))}})
      .Increment();
}

void Metrics::plan_refused(std::string_view service, std::string_view rule) {
  impl_->refused.Add({{"service", s(service)}, {"rule", s(rule)}}).Increment();
}

void Metrics::notify_counters(std::string_view notify,
                              const std::vector<std::string_view>& reasons) {
  impl_->notify_sent.Add({{"notify", s(notify)}});
  impl_->notify_dropped.Add({{"notify", s(notify)}});
  for (auto reason : reasons) impl_->notify_failed.Add({{"notify", s(notify)}, {"reason", s(reason)}});
}

void Metrics::notify_sent(std::string_view notify) {
  impl_->notify_sent.Add({{"notify", s(notify)}}).Increment();
}

void Metrics::notify_failed(std::string_view notify, std::string_view reason) {
  impl_->notify_failed.Add({{"notify", s(notify)}, {"reason", s(reason)}}).Increment();
}

void Metrics::notify_dropped(std::string_view notify) {
  impl_->notify_dropped.Add({{"notify", s(notify)}}).Increment();
}

void Metrics::actuator_write(std::string_view service, std::string_view target,
                             std::string_view status, std::string_view rcode) {
  impl_->writes
      .Add({{"service", s(service)}, {"target", s(target)}, {"status", s(status)},
            {"rcode", s(rcode)}})
      .Increment();
}

void Metrics::peer_age(std::string_view peer, double seconds) {
  impl_->peer_age.Add({{"peer", s(peer)}}).Set(seconds);
}

void Metrics::event_loop_lag(double seconds) { impl_->loop_lag.Add({}).Set(seconds); }

void Metrics::tilt(bool active) { impl_->tilt.Add({}).Set(active ? 1 : 0); }

void Metrics::oracle_counters() {
  for (unsigned status : {200U, 503U, 404U, 405U, 429U, 400U, 413U, 431U}) {
    auto& slot = impl_->oracle_by_status[status];
    if (slot == nullptr) slot = &impl_->oracle_requests.Add({{"status", std::to_string(status)}});
  }
}

void Metrics::oracle_request(unsigned status) {
  auto& slot = impl_->oracle_by_status[status];
  if (slot == nullptr) slot = &impl_->oracle_requests.Add({{"status", std::to_string(status)}});
  slot->Increment();
}

void Metrics::config_reload(bool ok) {
  impl_->reloads.Add({{"result", ok ? "success" : "failure"}}).Increment();
}

}  // namespace failoverd::metrics
