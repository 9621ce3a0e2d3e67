// What a [[notify]] receiver is told, and how it is written for each format. Pure: no I/O, no
// clock (the caller stamps the time), no Asio.
//
// Notice kinds (config::kNotifyEventKinds). Without an `events` list a receiver gets every kind
// but plan_refused (refusals are routine while a quorum forms; those needing a human also come
// as `alert`):
//   failover_planned       a plan was handed to the actuator (from/to regions, generation, reason)
//   failover_applied       the target holds it (read back)
//   plan_proposed          propose mode: a plan waits for approval
//   plan_refused           a wanted change was held back by a safety rule (reason: the rule)
//   service_frozen         automation stopped (operator freeze, or the actuator froze it)
//   service_unfrozen       automation resumed
//   flip_budget_exhausted  too many automatic flips in flip_window: frozen
//   actuator_error         a target write or read needs a human (refused, invalid, conflict...)
//   tilt_entered/tilt_left clock jump or event-loop stall: automatic actions suspended/resumed
//   observer_impaired/observer_recovered   this observer abstains / votes again
//   alert                  the core asks for a human (a refusal rule that alerts)
//
// Formats:
//   json       {"source":"failoverd","kind","service","from":[..],"to":[..],"generation",
//               "reason","observer","time","summary"}
//   slack      an incoming-webhook message {"text": summary}
//   pagerduty  Events API v2: {"routing_key","event_action":"trigger"|"resolve","dedup_key",
//               "payload":{"summary","source","severity","timestamp","component","group",
//               "custom_details"}}. dedup_key is per service and kind (frozen states share one,
//               which service_unfrozen resolves; tilt and impairment are per observer and are
//               resolved by tilt_left / observer_recovered); a failover's key carries its
//               generation, so each failover is its own incident.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace failoverd::notify {

struct Notice {
  std::string kind;     // one of config::kNotifyEventKinds
  std::string service;  // empty for observer-wide kinds (tilt, impairment)
  std::vector<std::string> from;  // regions active before (failovers)
  std::vector<std::string> to;    // regions active after
  std::uint64_t generation = 0;
  std::string reason;
  std::string observer;
  std::string time;  // "2026-01-02T03:04:05Z"
};

// True for the kinds sent when a receiver has no `events` list.
bool is_default(std::string_view kind);
// True when receiver `n` wants notices of `kind`.
bool wanted(const config::Notify& n, std::string_view kind);

// One line for people: "www: failover applied east -> west (generation 4) on observer obs-a: ...".
std::string summary(const Notice& n);

std::string format_json(const Notice& n);
std::string format_slack(const Notice& n);
std::string format_pagerduty(const Notice& n, std::string_view routing_key);

// PagerDuty's view of a kind.
std::string_view pagerduty_action(std::string_view kind);     // "trigger" or "resolve"
std::string_view pagerduty_severity(std::string_view kind);   // critical|error|warning|info
std::string pagerduty_dedup_key(const Notice& n);

// The body for receiver `n`'s format (`secret` is the routing key for pagerduty).
std::string render(const config::Notify& n, const Notice& notice, std::string_view secret);

// A FIFO of at most `capacity` items (at least 1). When full, push() drops the oldest item to
// make room for the new one and returns true: the newest news is what a receiver most needs.
template <typename T>
class DropOldestQueue {
 public:
  explicit DropOldestQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  bool push(T item) {
    bool dropped = false;
    if (items_.size() >= capacity_) {
      items_.pop_front();
      dropped = true;
    }
    items_.push_back(std::move(item));
    return dropped;
  }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  std::size_t capacity() const { return capacity_; }
  T pop() {
    T front = std::move(items_.front());
    items_.pop_front();
    return front;
  }
  void clear() { items_.clear(); }

 private:
  std::size_t capacity_;
  std::deque<T> items_;
};

// How one delivery attempt ended, as the metrics' `reason` label (ok: delivered).
// Retried: every transport failure, 5xx, 408 and 429. Not retried: other statuses below 200 or
// from 300 up (the receiver will not change its mind).
enum class Outcome { Ok, Retry, Permanent };
Outcome classify_status(unsigned status);
// Every reason label failoverd_notify_failed_total may carry (created at 0).
const std::vector<std::string_view>& failure_reasons();

}  // namespace failoverd::notify
