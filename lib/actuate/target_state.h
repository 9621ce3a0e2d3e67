// What a target holds and how it answered, as the actuators report it and the reconciler
// (actuate/reconcile.h) and the service driver (drive/service_driver.h) consume it. Plain values:
// no I/O, so the pure layers and the simulator's fake targets use the same types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"

namespace failoverd::actuate {

// The fence as stored in the target: the live generation, the observer that wrote it and how
// (an operator's failover or failback, a restore, or automatic). Every observer reads the trigger
// back, so an operator's move binds the whole cluster (no automatic failback after a manual
// failover, and it counts against no observer's flip budget), not only the observer that made it.
struct Fence {
  core::Generation generation = 0;
  std::string writer;
  core::Trigger trigger = core::Trigger::Automatic;
  bool operator==(const Fence&) const = default;
};

// The fence's trigger field: "" for Automatic (a fence written without one reads as automatic),
// " trigger=manual" or " trigger=restore" otherwise; parse_trigger takes the value after "=".
std::string trigger_field(core::Trigger trigger);
std::optional<core::Trigger> parse_trigger(std::string_view value);

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

}  // namespace failoverd::actuate
