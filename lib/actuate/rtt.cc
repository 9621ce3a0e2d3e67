#include "actuate/rtt.h"

#include <algorithm>

namespace failoverd::actuate {

RttEstimator::RttEstimator(core::Duration floor, core::Duration cap)
    : floor_(std::max(floor, core::Duration::zero())), cap_(std::max(cap, floor_)) {}

core::Duration RttEstimator::timeout() const {
  core::Duration base = srtt_ ? *srtt_ + 4 * rttvar_ : floor_;
  base = std::clamp(base, floor_, cap_);
  for (std::uint32_t i = 0; i < doublings_ && base < cap_; ++i) base = std::min(cap_, base * 2);
  return base;
}

void RttEstimator::sample(core::Duration rtt) {
  rtt = std::clamp(rtt, core::Duration::zero(), cap_);
  if (!srtt_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
  } else {
    // RFC 6298: alpha 1/8, beta 1/4.
    const core::Duration err = rtt > *srtt_ ? rtt - *srtt_ : *srtt_ - rtt;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * *srtt_ + rtt) / 8;
  }
  doublings_ = 0;
}

void RttEstimator::timed_out() {
  if (doublings_ < 64) ++doublings_;  // enough to reach any cap from 1 ns
}

}  // namespace failoverd::actuate
