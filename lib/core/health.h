// Endpoint health: rise/fall hysteresis over probe outcomes (HAProxy), forgiveness of old
// failures (gdnsd's ok_thresh), per-state probe intervals (Envoy), and a degraded mark.
//
// Rules (worked example below):
//   - A new endpoint is Pending (not known yet: it counts neither up nor down).
//   - From Pending or Down, `rise` successes in a row make it Up (or Degraded).
//   - From Pending, Up or Degraded, `fall` failures make it Down. With forgive_after = 0 the
//     failures must be consecutive (a success clears them, HAProxy); with forgive_after = N they
//     accumulate and only N successes in a row clear them (gdnsd), so a flapping endpoint that
//     fails once every few probes still goes down.
//   - An Up endpoint is Degraded while its last success was slower than degraded_latency or the
//     certificate is expiring (ProbeReason::CertExpiring); the next fast success makes it Up.
//
// Example, rise = 2, fall = 3 ("+" success, "-" failure):
//   script           + + - - + - - -
//   forgive_after=0  P U U U U U U D   (the "+" in the middle clears the two failures)
//   forgive_after=3  P U U U U D       (failures stay counted: the third "-" brings it down)
// Transitions for the first script: Pending, Changed(P->U), Pending, Pending, Unchanged, ...
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.h"
#include "core/types.h"

namespace failoverd::core {

enum class Health { Pending, Up, Degraded, Down };
std::string_view to_string(Health h);
// Up or Degraded: it serves.
bool serving(Health h);

struct HealthParams {
  std::uint32_t rise = 2;           // 0 is treated as 1
  std::uint32_t fall = 3;           // 0 is treated as 1
  std::uint32_t forgive_after = 0;  // see above
  Duration interval = std::chrono::seconds(1);   // while stable
  Duration fast_interval{};   // while pending or suspect; 0: interval
  Duration down_interval{};   // while down (and not recovering); 0: interval
  Duration degraded_latency{};  // 0: latency never degrades
};
// The tracker's parameters from an endpoint's config.
HealthParams health_params(const config::Endpoint& e);

// Result of one observation (Envoy's HealthTransition).
struct Transition {
  enum class Kind {
    Unchanged,  // same state, no streak toward another state
    Changed,    // from != to
    Pending,    // same state, but a streak toward another one is under way
  };
  Kind kind = Kind::Unchanged;
  Health from = Health::Pending;
  Health to = Health::Pending;
};

// One endpoint's health. Not thread-safe; owned by one observer engine.
class HealthTracker {
 public:
  // The first probe is due at `start`.
  HealthTracker(HealthParams params, TimePoint start);

  // Feeds one probe outcome observed at `now`; schedules the next probe at now + next_interval().
  Transition observe(const ProbeOutcome& outcome, TimePoint now);

  Health state() const { return state_; }
  // A streak toward another state is under way (Envoy's "changed pending").
  bool suspect() const;
  // The interval to use after the current state: fast while pending or suspect, down_interval
  // while down, interval otherwise.
  Duration next_interval() const;
  // When the next probe is due.
  TimePoint next_due() const { return next_due_; }
  // When the last successful probe started (observation time minus its latency); nullopt before
  // the first success.
  std::optional<TimePoint> last_success() const { return last_success_; }

 private:
  HealthParams params_;
  Health state_ = Health::Pending;
  std::uint32_t successes_ = 0;  // in a row
  std::uint32_t failures_ = 0;   // consecutive, or since last forgiven (forgive_after > 0)
  TimePoint next_due_;
  std::optional<TimePoint> last_success_;
};

}  // namespace failoverd::core
