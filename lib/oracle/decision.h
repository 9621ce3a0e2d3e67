// The oracle's answers, as pure functions: what one service's decision looks like to the oracle
// listener (ServiceDecision, a snapshot the engine hands over), the URL's unguessable path
// component, and the status and body for one request. No I/O and no Asio here: the listener
// (oracle/oracle_server.h) and the unit tests call the same code.
//
// URL:    GET /v1/oracle/<service>/<path-secret>/<region>
// Secret: path_secret(secret, service) = the first 32 hex digits (128 bits) of
//         HMAC-SHA256(key = the [oracle] path_secret_file's line, message = "failoverd-oracle/" +
//         service). One secret file serves every service; knowing one service's URL tells
//         nothing about another's. `failoverd --oracle-urls` is not built: the operator computes
//         it (README, "Oracle endpoints") or reads it from the log line "oracle url" (redacted).
// Answer: 200 serve=yes when the region is in the service's live active set as last read back
//         from the target (the same on every observer), 503 serve=no when it is not; 404 for an
//         unknown service, secret or region alike (no hint which part was wrong).
//         state=live        the live set was read recently and nothing holds the observer;
//         state=static      the last decision is kept, reason= says why: tilt,
//                           observer_impaired, no_quorum, all_regions_down,
//                           target_not_confirmed_up, live_read_stale, live_empty;
//         state=starting    the live set has not been read yet: 503 for every region.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::oracle {

using Clock = std::chrono::steady_clock;

inline constexpr std::size_t kPathSecretHexDigits = 32;

// One service's decision as the engine last published it.
struct ServiceDecision {
  std::string service;
  std::vector<std::string> regions;  // configured, priority order
  bool live_known = false;           // the live state has been read back at least once
  std::vector<std::string> active;   // the live active set, member order
  std::uint64_t generation = 0;
  // Set when the observer cannot vouch for a fresh decision right now (tilt, impaired, no
  // quorum, fail static): the answer keeps the live set and says state=static reason=...
  std::optional<std::string> static_reason;
  // The last successful read of the live state, and how old it may get before the answer says
  // state=static reason=live_read_stale.
  std::optional<Clock::time_point> last_read_ok;
  Clock::duration stale_after = std::chrono::seconds(90);
  bool operator==(const ServiceDecision&) const = default;
};

struct Answer {
  unsigned status = 404;
  std::string body;
};

// The path component of `service`'s URLs (lower-case hex, kPathSecretHexDigits long).
std::string path_secret(std::string_view secret, std::string_view service);

// The parts of /v1/oracle/<service>/<secret>/<region> (a query string is ignored); nullopt for
// any other path.
struct Route {
  std::string service;
  std::string secret;
  std::string region;
};
std::optional<Route> parse_route(std::string_view target);

// The target as it may be logged: the secret component of an oracle path replaced by
// "<redacted>", anything else reduced to its first 64 printable characters (it may hold a
// mistyped secret, so no oracle-like path is ever logged whole).
std::string redact(std::string_view target);

// Equal in constant time (for the secret component).
bool same_secret(std::string_view a, std::string_view b);

// The answer for `region` of one decision at `now` (the route already matched the service and
// its secret). An unknown region is 404.
Answer answer(const ServiceDecision& d, std::string_view region, Clock::time_point now);

// What the listener keeps when the engine publishes `next` over `previous`: a live set read back
// empty (the daemon's own guards never write one) keeps the previous non-empty set, state=static
// reason=live_empty, so a priority service is never 503 in every region once a live set is known.
ServiceDecision merge(const ServiceDecision* previous, ServiceDecision next);

}  // namespace failoverd::oracle
