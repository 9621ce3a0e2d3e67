#include "core/backoff.h"

#include <algorithm>

namespace failoverd::core {

Duration backoff_delay(const BackoffPolicy& policy, std::uint32_t attempt, std::mt19937_64& rng) {
  // Double until the cap; past 62 doublings the shift would overflow, and the cap binds long before.
  Duration ceiling = policy.cap;
  if (attempt < 62) {
    auto base = policy.base.count();
    auto cap = policy.cap.count();
    auto scaled = base > (cap >> attempt) ? cap : base << attempt;
    ceiling = Duration(std::min(scaled, cap));
  }
  if (ceiling <= Duration::zero()) return Duration::zero();
  std::uniform_int_distribution<Duration::rep> dist(0, ceiling.count());
  return Duration(dist(rng));
}

}  // namespace failoverd::core
