// Capped exponential backoff with full jitter:
//   delay(n) = uniform(0, min(cap, base * 2^n))
// Pure: the caller passes the attempt number and a seeded generator; nothing here sleeps.
#pragma once

#include <cstdint>
#include <random>

#include "core/types.h"

namespace failoverd::core {

struct BackoffPolicy {
  Duration base = std::chrono::milliseconds(200);
  Duration cap = std::chrono::seconds(30);
};

// The delay before retry number `attempt` (0 for the first retry). Never exceeds policy.cap and
// never grows past it however large `attempt` is.
Duration backoff_delay(const BackoffPolicy& policy, std::uint32_t attempt, std::mt19937_64& rng);

}  // namespace failoverd::core
