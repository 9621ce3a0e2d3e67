// Shared vocabulary of the pure core: time, strong ids, probe outcomes and verdicts.
//
// Pure: the standard library only. Time is always passed in as a steady_clock time_point; the
// core never reads a clock (a test in tests/ enforces this for all of lib/core).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace failoverd::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A string id that cannot be mixed up with another kind of id.
// Tag is an empty struct naming the kind (RegionTag, EndpointTag, ...).
template <typename Tag>
class StrongId {
 public:
  StrongId() = default;
  explicit StrongId(std::string value) : value_(std::move(value)) {}
  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const StrongId&) const = default;

 private:
  std::string value_;
};

struct RegionTag {};
struct EndpointTag {};
struct ObserverTag {};
struct ServiceTag {};
using RegionId = StrongId<RegionTag>;
using EndpointId = StrongId<EndpointTag>;
using ObserverId = StrongId<ObserverTag>;
using ServiceId = StrongId<ServiceTag>;

// Monotonic generation of a service's routing; lives in the target's fence. Only grows.
using Generation = std::uint64_t;

// Why a probe failed. `Ok` means it succeeded. Stable strings (see to_string) are used in logs,
// metrics labels and the admin API, so never rename one.
enum class ProbeReason {
  Ok,
  Timeout,
  Refused,
  Reset,
  Unreachable,
  ResolveError,
  TlsError,
  BadStatus,
  BodyMismatch,
  TooLarge,
  ProtocolError,
  DnsRcode,
  DnsAnswerMismatch,
  CertExpiring,  // the probe passed but the certificate is close to expiry: degraded, not down
  Internal,
};
std::string_view to_string(ProbeReason r);

// One probe's result as the core sees it.
struct ProbeOutcome {
  ProbeReason reason = ProbeReason::Ok;
  Duration latency{};
  bool ok() const { return reason == ProbeReason::Ok || reason == ProbeReason::CertExpiring; }
};

// An observer's view of a region. Unknown means "abstain": it never counts as up or down.
enum class Verdict { Unknown, Up, Degraded, Down };
std::string_view to_string(Verdict v);

}  // namespace failoverd::core

template <typename Tag>
struct std::hash<failoverd::core::StrongId<Tag>> {
  std::size_t operator()(const failoverd::core::StrongId<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
