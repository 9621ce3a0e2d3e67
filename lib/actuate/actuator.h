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
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/plan.h"

namespace failoverd::actuate {

// The fence as stored in the target: the live generation and the observer that wrote it.
struct Fence {
  core::Generation generation = 0;
  std::string writer;
  bool operator==(const Fence&) const = default;
};

// One published value and its weight as seen in the target (weight 1 where weights do not apply).
struct LiveMember {
  std::string value;
  std::uint32_t weight = 1;
  bool operator==(const LiveMember&) const = default;
};

struct LiveState {
  std::vector<LiveMember> members;   // sorted by value
  std::optional<Fence> fence;        // nullopt: no fence record exists
  std::optional<std::uint32_t> serial;  // SOA serial where the target has one
  bool operator==(const LiveState&) const = default;
};

enum class ReadStatus { Ok, Unreachable, Refused, Error };
struct ReadResult {
  ReadStatus status = ReadStatus::Error;
  LiveState state;       // valid when status == Ok
  std::string detail;    // "SERVFAIL", "connect: refused", "TSIG BADSIG", ...
  // Unreachable only: the target answered part of the read before its deadline passed. It is
  // slow, not down: the caller reads again at once (the actuator has lengthened its deadline)
  // instead of backing off.
  bool answered = false;
};

enum class WriteStatus {
  Applied,   // the target confirmed the change
  Conflict,  // the compare failed (NXRRSET/YXRRSET, fence moved): re-read and re-decide
  Unknown,   // no usable answer (timeout, SERVFAIL, lost connection): resolve by reading back
  Refused,   // REFUSED/NOTAUTH/NOTZONE/BADKEY/BADSIG/401...: an alert, never a blind retry
  Invalid,   // the plan cannot be expressed on this target (FORMERR, bad member): a bug or config
};
std::string_view to_string(WriteStatus s);

struct WriteResult {
  WriteStatus status = WriteStatus::Unknown;
  std::string detail;   // rcode name or error text, for logs and metrics labels
  std::string rcode;    // "NOERROR", "NXRRSET", ... for DNS targets; HTTP status for APIs
};

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
};

}  // namespace failoverd::actuate
