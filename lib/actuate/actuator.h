// The interface every target writer implements: RFC 2136, PowerDNS API, HAProxy runtime API, exec.
//
// Contract (README "Safety rules, in plain words": never empty, compare-and-swap, read back):
// - read() returns what the target holds now: the managed members and the fence.
// - write(plan, expected) is ONE atomic compare-and-swap where the target allows it: it applies
//   plan.members and fence generation plan.generation only if the target still holds `expected`
//   (the state the decision was made from). It never retries by itself.
// - An unknown outcome (timeout, SERVFAIL, connection lost) is reported as Unknown; the caller
//   resolves it by read(), never by sending again.
// Both run on the caller's executor (one strand per service); neither blocks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string_view>

#include "actuate/target_state.h"

namespace failoverd::actuate {

class Actuator {
 public:
  virtual ~Actuator() = default;
  // A short name for logs and metrics: "rfc2136", "powerdns", "haproxy", "exec".
  virtual std::string_view kind() const = 0;
  virtual boost::asio::awaitable<ReadResult> read() = 0;
  virtual boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                                    const LiveState& expected) = 0;
  // The target's measured round-trip time (smoothed), where the actuator measures one and has
  // had an answer; nullopt otherwise.
  virtual std::optional<core::Duration> round_trip() const { return std::nullopt; }
  // A reload replaced `previous` (same kind, same service definition) with this one: take over
  // what only the process remembers of the target (a local fence, an exec hook's last applied
  // plan), so the reload forgets nothing the target cannot tell. Targets that can be read back
  // keep nothing: the default does nothing.
  virtual void continue_from(const Actuator& previous) { (void)previous; }
};

}  // namespace failoverd::actuate
