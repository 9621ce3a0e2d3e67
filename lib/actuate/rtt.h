// The observed round-trip time of one server, and the deadline that follows from it (RFC 6298's
// smoothed RTT and variance, applied to whole DNS exchanges instead of TCP segments).
//
// Pure: no clock reads; the caller measures and reports. Contract:
// - timeout() is srtt + 4 * rttvar, never below `floor` (the configured timeout: a fast server
//   never gets less time than the operator allowed) and never above `cap`. Before any sample it
//   is `floor`.
// - timed_out(): the deadline passed; the next timeout() is doubled (capped) until an exchange
//   is answered (Karn: an exchange that timed out gives no sample). So a server slower than
//   `floor` is reached within a few exchanges instead of never.
// - sample(rtt): an exchange answered after rtt; smooths and forgets the doubling.
#pragma once

#include <cstdint>
#include <optional>

#include "core/types.h"

namespace failoverd::actuate {

class RttEstimator {
 public:
  // The cap used when none is given: an answer slower than this counts as no answer.
  static constexpr core::Duration kDefaultCap = std::chrono::seconds(10);

  // `cap` below `floor` is raised to `floor`.
  explicit RttEstimator(core::Duration floor, core::Duration cap = kDefaultCap);

  core::Duration timeout() const;
  void sample(core::Duration rtt);
  void timed_out();

  std::optional<core::Duration> srtt() const { return srtt_; }
  core::Duration floor() const { return floor_; }
  core::Duration cap() const { return cap_; }

 private:
  core::Duration floor_;
  core::Duration cap_;
  std::optional<core::Duration> srtt_;
  core::Duration rttvar_{};
  std::uint32_t doublings_ = 0;  // timeouts since the last sample
};

}  // namespace failoverd::actuate
