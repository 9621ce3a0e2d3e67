#include "metrics/metrics.h"

#include "core/rules.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <sstream>
#include <unordered_map>

namespace failoverd::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;

constexpr std::size_t kReasonCount = static_cast<std::size_t>(core::ProbeReason::Internal) + 1;

// Probe latencies from sub-millisecond loopback to multi-second timeouts.
constexpr std::array<double, 12> kProbeBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,   0.25,   0.5,   1,     2.5,   5};

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

// A label value in the text format: backslash, double quote and newline escaped.
void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// As prometheus-cpp's text serializer writes a double (printf %.16g).
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else {
    char buf[32];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16).ptr);
  }
}

// failoverd_probe_duration_seconds of one region and probe kind: per endpoint it would be 15
// series each (1.5 KB of text per endpoint and scrape, 15 MB at 10,000 endpoints).
struct Durations {
  std::string labels;  // kind="..",region=".." escaped
  double sum = 0;
  std::array<std::uint64_t, kProbeBuckets.size() + 1> buckets{};  // per bucket, last +Inf

  void observe(double seconds) {
    std::size_t b = 0;
    while (b < kProbeBuckets.size() && seconds > kProbeBuckets[b]) ++b;
    ++buckets[b];
    sum += seconds;
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto c : buckets) n += c;
    return n;
  }
};

// One endpoint's series as plain numbers, rendered at scrape time (EndpointTable::render):
// a prometheus-cpp gauge and counters per endpoint cost KiBs of label maps, mutexes and atomics.
// Not thread-safe: updated and scraped on the event loop's thread.
class Series final : public EndpointSeries {
 public:
  // `labels`: endpoint="..",kind="..",region=".." escaped; `region_at`: where region= starts.
  Series(std::string labels, std::size_t region_at, Durations& durations)
      : labels_(std::move(labels)), region_at_(static_cast<std::uint32_t>(region_at)),
        durations_(durations) {}

  void probe_finished(core::ProbeReason reason, core::Duration latency) override {
    durations_.observe(std::chrono::duration<double>(latency).count());
    auto i = static_cast<std::size_t>(reason);
    if (i < kReasonCount) {
      ++results_[i];
      seen_ |= 1U << i;
    }
  }

  void set_up(bool up) override { up_ = up; }

  // The label set without its closing brace, with `extra` (name="value",) before region=.
  void append_labels(std::string& out, std::string_view extra) const {
    out += '{';
    out.append(labels_, 0, region_at_);
    out += extra;
    out.append(labels_, region_at_);
  }
  bool has_results() const { return seen_ != 0; }
  bool has_result(std::size_t reason) const { return (seen_ >> reason) & 1U; }
  std::uint64_t result(std::size_t reason) const { return results_[reason]; }
  bool up() const { return up_; }

 private:
  std::string labels_;
  std::uint32_t region_at_;
  std::uint32_t seen_ = 0;  // bit i: reason i has a series (created on first use, as before)
  bool up_ = false;
  Durations& durations_;
  std::array<std::uint64_t, kReasonCount> results_{};
};
static_assert(kReasonCount <= 32, "Series::seen_ holds one bit per reason");

// The per-endpoint families failoverd_probe_results_total and failoverd_endpoint_up, and
// failoverd_probe_duration_seconds per region and kind, in the text format prometheus-cpp
// writes (its label order and number format); a family with no series is left out, as
// prometheus-cpp does.
class EndpointTable {
 public:
  EndpointSeries& get(std::string_view endpoint, std::string_view region, std::string_view kind) {
    std::string key = s(endpoint) + '\0' + s(region) + '\0' + s(kind);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) return *it->second;
    std::string labels = "endpoint=\"";
    append_escaped(labels, endpoint);
    labels += "\",";
    const std::size_t kind_at = labels.size();
    labels += "kind=\"";
    append_escaped(labels, kind);
    labels += "\",";
    const std::size_t region_at = labels.size();
    labels += "region=\"";
    append_escaped(labels, region);
    labels += "\"";
    auto [d, added] = durations_.try_emplace(s(region) + '\0' + s(kind));
    if (added) d->second.labels = labels.substr(kind_at);
    auto& series = series_.emplace_back(std::move(labels), region_at, d->second);
    by_key_.emplace(std::move(key), &series);
    return series;
  }

  void render(std::string& out) const {
    if (series_.empty()) return;
    out.reserve(out.size() + series_.size() * 200 + durations_.size() * 1600);
    render_durations(out);
    render_results(out);
    out += "# HELP failoverd_endpoint_up Endpoint health after rise/fall hysteresis: 1 up, 0 down "
           "or not yet known\n# TYPE failoverd_endpoint_up gauge\n";
    for (const auto& e : series_) {
      out += "failoverd_endpoint_up";
      e.append_labels(out, {});
      out += e.up() ? "} 1\n" : "} 0\n";
    }
  }

 private:
  void render_durations(std::string& out) const {
    out += "# HELP failoverd_probe_duration_seconds Duration of finished probes, by region and "
           "probe kind\n# TYPE failoverd_probe_duration_seconds histogram\n";
    for (const auto& entry : durations_) {
      const auto& d = entry.second;  // not a structured binding: clang 14 cannot capture one
      const std::uint64_t count = d.count();
      auto head = [&](std::string_view suffix) {
        out += "failoverd_probe_duration_seconds";
        out += suffix;
        out += '{';
        out += d.labels;
      };
      head("_count");
      out += "} ";
      append_number(out, count);
      out += '\n';
      head("_sum");
      out += "} ";
      append_number(out, d.sum);
      out += '\n';
      std::uint64_t cumulative = 0;
      for (std::size_t b = 0; b < kProbeBuckets.size(); ++b) {
        cumulative += d.buckets[b];
        head("_bucket");
        out += ",le=\"";
        append_number(out, kProbeBuckets[b]);
        out += "\"} ";
        append_number(out, cumulative);
        out += '\n';
      }
      head("_bucket");
      out += ",le=\"+Inf\"} ";
      append_number(out, count);
      out += '\n';
    }
  }

  void render_results(std::string& out) const {
    bool any = false;
    for (const auto& e : series_) any = any || e.has_results();
    if (!any) return;
    static const std::array<std::string, kReasonCount> reason = [] {
      std::array<std::string, kReasonCount> names;
      for (std::size_t i = 0; i < names.size(); ++i) {
        names[i] = "reason=\"";
        append_escaped(names[i], core::to_string(static_cast<core::ProbeReason>(i)));
        names[i] += "\",";
      }
      return names;
    }();
    out += "# HELP failoverd_probe_results_total Finished probes by endpoint and reason (ok or why "
           "it failed)\n# TYPE failoverd_probe_results_total counter\n";
    for (const auto& e : series_) {
      for (std::size_t i = 0; i < kReasonCount; ++i) {
        if (!e.has_result(i)) continue;
        out += "failoverd_probe_results_total";
        e.append_labels(out, reason[i]);
        out += "} ";
        append_number(out, e.result(i));
        out += '\n';
      }
    }
  }

  std::map<std::string, Durations> durations_;  // by "region\0kind"; nodes never move
  std::deque<Series> series_;  // in creation order; stable addresses (handles point here)
  std::unordered_map<std::string, Series*> by_key_;  // "endpoint\0region\0kind"
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  EndpointTable endpoints;  // the per-endpoint families, kept out of the registry
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
  std::string text;
  impl_->endpoints.render(text);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  text += std::move(out).str();
  return text;
}

EndpointSeries& Metrics::endpoint(std::string_view endpoint, std::string_view region,
                                  std::string_view kind) {
  return impl_->endpoints.get(endpoint, region, kind);
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
