#include "probe/scheduler.h"

#include <algorithm>
#include <array>
// GCC 12 -O2 reports a false "potential null pointer dereference" in Asio's executor
// comparison (io_context.hpp) once inlined; silenced for Asio's headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#pragma GCC diagnostic pop
#include <deque>
#include <optional>
#include <queue>
#include <random>
#include <unordered_map>

namespace failoverd::probe {

namespace asio = boost::asio;
using core::Clock;
using core::Duration;
using core::TimePoint;

namespace {

// Lateness histogram: 50 µs buckets up to 100 ms.
constexpr Duration kBucket = std::chrono::microseconds(50);
constexpr std::size_t kBuckets = 2000;
// A probe due this soon is started now when the loop is awake anyway (a timer or a finished
// probe): it saves a wakeup, and 0.5 ms early is harmless for a health check.
constexpr Duration kEarly = std::chrono::microseconds(500);

}  // namespace

struct Scheduler::Impl : std::enable_shared_from_this<Scheduler::Impl> {
  struct Slot {
    std::optional<ProbeSpec> spec;
    std::unique_ptr<config::Endpoint> external;  // dns: probed through options.external_probe
    core::EndpointId name;
    std::string error;  // prepare failed
    Duration interval{};
    TimePoint due{};       // next due time
    TimePoint last_due{};  // due time of the probe in flight
    Duration last_lateness{};
    std::uint32_t seq = 0;  // heap entries with another seq are stale
    bool in_flight = false;
    bool queued = false;
    std::optional<TimePoint> owed;  // a round came due while in flight: its due time
  };
  struct Entry {
    TimePoint due;
    std::uint32_t slot;
    std::uint32_t seq;
    bool operator>(const Entry& o) const { return due > o.due; }
  };

  Impl(asio::io_context& ctx, SchedulerOptions opts, ResultHandler handler)
      : io(ctx), prober(ctx, opts.resolver), timer(ctx), options(std::move(opts)),
        on_result(std::move(handler)), rng(options.seed) {}

  asio::io_context& io;
  Prober prober;
  asio::steady_timer timer;
  SchedulerOptions options;
  ResultHandler on_result;
  std::mt19937_64 rng;
  std::vector<Slot> slots;
  std::unordered_map<core::EndpointId, std::uint32_t> index;
  std::vector<std::string> errors;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
  std::deque<std::uint32_t> waiting;
  TimePoint armed_for = TimePoint::max();
  std::size_t in_flight = 0;
  std::uint64_t skipped = 0;
  bool running = false;
  bool started = false;  // start() was called (next_due() answers from then on)
  std::array<std::uint32_t, kBuckets + 1> histogram{};
  std::uint64_t late_count = 0;
  Duration late_max{};

  Duration jittered(Duration interval) {
    if (options.jitter <= 0) return interval;
    std::uniform_real_distribution<double> d(-options.jitter, options.jitter);
    auto delta = std::chrono::duration_cast<Duration>(interval * d(rng));
    return interval + delta;
  }

  void push(std::uint32_t i) {
    Slot& s = slots[i];
    heap.push(Entry{s.due, i, ++s.seq});
  }

  void arm() {
    if (!running || heap.empty()) return;
    TimePoint next = heap.top().due;
    if (next >= armed_for) return;
    armed_for = next;
    timer.expires_at(next);
    timer.async_wait([alive = weak_from_this()](const boost::system::error_code& ec) {
      auto self = alive.lock();
      if (!self || ec) return;
      self->armed_for = TimePoint::max();
      self->on_timer();
    });
  }

  void on_timer() {
    if (!running) return;
    fire_due(Clock::now());
    arm();
  }

  void fire_due(TimePoint now) {
    while (!heap.empty() && heap.top().due <= now + kEarly) {
      Entry e = heap.top();
      heap.pop();
      Slot& s = slots[e.slot];
      if (e.seq != s.seq) continue;
      TimePoint due = s.due;
      s.due = due + jittered(s.interval);
      // Far behind (a stall): do not replay every missed round, resume from now.
      if (s.due < now) s.due = now + jittered(s.interval);
      push(e.slot);
      if (s.in_flight || s.queued) {
        ++skipped;
        if (s.in_flight && !s.owed) s.owed = due;
        continue;
      }
      s.last_due = due;
      if (in_flight < options.max_in_flight) {
        launch(e.slot, now);
      } else {
        s.queued = true;
        waiting.push_back(e.slot);
      }
    }
  }

  void record_lateness(Duration late) {
    if (late < Duration::zero()) late = Duration::zero();
    std::size_t b = static_cast<std::size_t>(late / kBucket);
    histogram[std::min(b, kBuckets)]++;
    late_count++;
    late_max = std::max(late_max, late);
  }

  void launch(std::uint32_t i, TimePoint now, bool count_lateness = true) {
    Slot& s = slots[i];
    s.in_flight = true;
    s.last_lateness = count_lateness ? now - s.last_due : Duration::zero();
    if (count_lateness) record_lateness(s.last_lateness);
    ++in_flight;
    auto done = [this, i](ProbeResult&& r) { on_done(i, std::move(r)); };
    if (s.spec) {
      prober.start(*s.spec, std::move(done));
    } else if (s.external && options.external_probe) {
      options.external_probe(*s.external, std::move(done));
    } else {
      ProbeResult r;
      r.endpoint = s.name;
      r.started = now;
      r.outcome.reason = core::ProbeReason::Internal;
      r.detail = s.error.empty() ? "no prober for this kind" : s.error;
      asio::post(io, [alive = weak_from_this(), i, r = std::move(r)]() mutable {
        if (auto self = alive.lock()) self->on_done(i, std::move(r));
      });
    }
  }

  void on_done(std::uint32_t i, ProbeResult&& r) {
    Slot& s = slots[i];
    s.in_flight = false;
    --in_flight;
    r.scheduled = s.last_due;
    r.lateness = s.last_lateness;
    if (on_result) on_result(r);
    if (running && s.owed && !s.in_flight && !s.queued) {
      // The round that came due during the probe: now, not one interval later.
      s.last_due = *s.owed;
      s.owed.reset();
      if (in_flight < options.max_in_flight) {
        launch(i, Clock::now(), false);
      } else {
        s.queued = true;
        waiting.push_back(i);
      }
    }
    s.owed.reset();
    drain();
    // Already awake: start what is due (the timer stays armed for the rest).
    if (running && !heap.empty()) {
      TimePoint now = Clock::now();
      if (heap.top().due <= now + kEarly) {
        fire_due(now);
        arm();
      }
    }
  }

  void drain() {
    if (!running) return;
    TimePoint now{};
    while (!waiting.empty() && in_flight < options.max_in_flight) {
      if (now == TimePoint{}) now = Clock::now();
      std::uint32_t i = waiting.front();
      waiting.pop_front();
      slots[i].queued = false;
      launch(i, now);
    }
  }

  Duration percentile(double q) const {
    if (late_count == 0) return Duration::zero();
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(late_count - 1));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b <= kBuckets; ++b) {
      seen += histogram[b];
      if (seen > rank) {
        return b == kBuckets ? late_max : kBucket * static_cast<Duration::rep>(b + 1);
      }
    }
    return late_max;
  }
};

Scheduler::Scheduler(asio::io_context& io, const std::vector<config::Endpoint>& endpoints,
                     SchedulerOptions options, ResultHandler on_result)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(on_result))) {
  Impl& m = *impl_;
  m.slots.resize(endpoints.size());
  m.index.reserve(endpoints.size());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const config::Endpoint& ep = endpoints[i];
    Impl::Slot& s = m.slots[i];
    s.name = ep.name;
    s.interval = ep.interval.count() > 0 ? std::chrono::duration_cast<Duration>(ep.interval)
                                         : Duration(std::chrono::seconds(1));
    m.index.emplace(ep.name, static_cast<std::uint32_t>(i));
    if (ep.kind == config::ProbeKind::Dns) {
      s.external = std::make_unique<config::Endpoint>(ep);
      continue;
    }
    PrepareResult p = m.prober.prepare(ep);
    if (p.spec) {
      s.spec = std::move(p.spec);
    } else {
      s.error = std::move(p.error);
      m.errors.push_back(ep.name.str() + ": " + s.error);
    }
  }
}

Scheduler::~Scheduler() {
  impl_->running = false;
  impl_->timer.cancel();
}

const std::vector<std::string>& Scheduler::errors() const { return impl_->errors; }

void Scheduler::start(const ContinueAt& continue_at) {
  Impl& m = *impl_;
  if (m.running) return;
  m.running = true;
  m.started = true;
  TimePoint now = Clock::now();
  for (std::uint32_t i = 0; i < m.slots.size(); ++i) {
    Impl::Slot& s = m.slots[i];
    std::uniform_int_distribution<Duration::rep> spread(0, s.interval.count() - 1);
    const Duration phase(spread(m.rng));  // drawn for every slot: the same seed, the same phases
    const auto at = continue_at ? continue_at(s.name) : std::nullopt;
    s.due = at ? std::clamp(*at, now, now + s.interval) : now + phase;
    m.push(i);
  }
  m.arm();
}

std::optional<core::TimePoint> Scheduler::next_due(const core::EndpointId& endpoint) const {
  const Impl& m = *impl_;
  auto it = m.index.find(endpoint);
  if (it == m.index.end() || !m.started) return std::nullopt;
  const Impl::Slot& s = m.slots[it->second];
  // A probe still in flight is the round a successor must run again: its result goes to this
  // scheduler's owner, which is stopping.
  return s.in_flight ? s.last_due : s.due;
}

void Scheduler::stop() {
  Impl& m = *impl_;
  m.running = false;
  m.timer.cancel();
  m.armed_for = TimePoint::max();
  for (std::uint32_t i : m.waiting) m.slots[i].queued = false;
  m.waiting.clear();
}

bool Scheduler::set_interval(const core::EndpointId& endpoint, core::Duration interval) {
  Impl& m = *impl_;
  auto it = m.index.find(endpoint);
  if (it == m.index.end() || interval <= core::Duration::zero()) return false;
  Impl::Slot& s = m.slots[it->second];
  if (s.interval == interval) return true;
  s.interval = interval;
  if (m.running) {
    // Pull the next probe in when the new interval is shorter than what is left to wait.
    // Before its first probe, an endpoint waits at most one new interval from now.
    TimePoint sooner = s.last_due == TimePoint{} ? Clock::now() + interval : s.last_due + interval;
    if (sooner < s.due) {
      s.due = std::max(sooner, Clock::now());
      m.push(it->second);
      m.arm();
    }
  }
  return true;
}

bool Scheduler::probe_now(const core::EndpointId& endpoint) {
  Impl& m = *impl_;
  auto it = m.index.find(endpoint);
  if (it == m.index.end() || !m.running) return false;
  Impl::Slot& s = m.slots[it->second];
  const TimePoint now = Clock::now();
  if (s.in_flight) {
    if (!s.owed) s.owed = now;
    return true;
  }
  if (s.queued) return true;
  // An extra probe: the regular rounds keep their phase (no burst of re-aligned endpoints
  // later), and it is not counted as lateness.
  s.last_due = now;
  if (m.in_flight < m.options.max_in_flight) {
    m.launch(it->second, now, false);
  } else {
    s.queued = true;
    m.waiting.push_back(it->second);
  }
  return true;
}

LatenessStats Scheduler::lateness() const {
  const Impl& m = *impl_;
  return LatenessStats{m.late_count, m.percentile(0.50), m.percentile(0.99), m.late_max};
}

void Scheduler::reset_lateness() {
  impl_->histogram.fill(0);
  impl_->late_count = 0;
  impl_->late_max = Duration::zero();
}

std::size_t Scheduler::in_flight() const { return impl_->in_flight; }
std::size_t Scheduler::queued() const { return impl_->waiting.size(); }
std::size_t Scheduler::endpoint_count() const { return impl_->slots.size(); }
std::uint64_t Scheduler::skipped() const { return impl_->skipped; }
const Prober& Scheduler::prober() const { return impl_->prober; }

}  // namespace failoverd::probe
