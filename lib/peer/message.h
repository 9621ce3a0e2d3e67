// The message observers exchange: one observer's verdicts per region, as served on the cluster
// listener (GET /v1/peer/verdicts) and fetched by every peer.
//
// Pure codec (Boost.JSON, no sockets, no clock): encode() writes the canonical JSON; decode()
// checks size, syntax and a strict schema and names the first problem it finds. decode() never
// throws on any input (it is fuzzed: tests/fuzz/peer_message_fuzz.cc).
//
//   {"v":1,"observer":"obs-a","boot_id":"3f9a0c1d2e4b5a69","sequence":17,
//    "config_fingerprint":"<64 hex digits>","sent_unix_ms":1795000000000,
//    "verdicts":[{"region":"use1","verdict":"down","reason":"2 of 3 endpoints down"}],
//    "holds":[{"service":"www","version":3,"author":"obs-a","action":"freeze","who":"ops",
//              "freeze":{"who":"ops","reason":"db migration","since_unix_ms":1795000000000,
//                        "observer":"obs-a"},
//              "pin":null}]}
//
// "holds" is optional: the operator holds the sender knows (core/holds.h), one entry per
// service it has a hold version for; left out when there is none. A pin entry also has
// "region". Receivers adopt them by the rule in core/holds.h, and only from a message PeerBook
// accepted (not one with another config fingerprint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/holds.h"
#include "core/types.h"

namespace failoverd::peer {

inline constexpr int kMessageVersion = 1;
// Limits enforced by decode() (and by the transport on the HTTP body).
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;
// One verdict per region: the config's own limit (the loader refuses larger configs).
inline constexpr std::size_t kMaxRegions = config::kMaxRegions;
inline constexpr std::size_t kMaxReasonBytes = 256;
// Holds: at most one entry per service; decode() takes the receiver's service count as the
// limit, and never more than kMaxHolds. A hold's reason is bounded like the admin API's (and the
// state file's) 1 KiB; `who` is a token name (1 to 128 of [A-Za-z0-9._-]).
inline constexpr std::size_t kMaxHolds = 512;  // 512 minimal entries still fit kMaxMessageBytes
inline constexpr std::size_t kMaxHoldReasonBytes = 1024;
inline constexpr std::size_t kMaxHoldWhoBytes = 128;

// The holds of one service as the sender knows them.
struct ServiceHolds {
  core::ServiceId service;
  core::HoldState state;  // version >= 1
  bool operator==(const ServiceHolds&) const = default;
};

// One observer's view of one region, with a short human reason ("2 of 3 endpoints down").
struct RegionVerdict {
  core::RegionId region;
  core::Verdict verdict = core::Verdict::Unknown;
  std::string reason;
  bool operator==(const RegionVerdict&) const = default;
};

struct PeerMessage {
  core::ObserverId observer;  // the sender
  // Random per sender process start; with `sequence` it lets receivers refuse replays and still
  // recognise a restarted sender (whose sequence starts again at 1 under a new boot id).
  std::uint64_t boot_id = 0;
  std::uint64_t sequence = 0;      // 1, 2, 3... per boot id; 0 is never valid
  std::string config_fingerprint;  // config_fingerprint() of the sender: 64 lower-case hex digits
  std::int64_t sent_unix_ms = 0;   // sender's wall clock, ms since the Unix epoch; display only
  std::vector<RegionVerdict> verdicts;  // at most one per region, at most kMaxRegions
  std::vector<ServiceHolds> holds;      // at most one per service; empty: field left out
  bool operator==(const PeerMessage&) const = default;
};

// The message as compact JSON (field order fixed as in the example above).
std::string encode(const PeerMessage& message);

// decode()'s answer: a message, or why the text is not one ("missing field 'sequence'").
struct Decoded {
  std::optional<PeerMessage> message;
  std::string error;  // empty when message is set
  bool ok() const { return message.has_value(); }
};

// Parses and validates one message: at most kMaxMessageBytes, valid UTF-8 JSON, exactly the
// fields above with their types and ranges, ids as in config (1..64 of [A-Za-z0-9._-]), no
// region twice; "holds", when present, at most `max_holds` entries (capped at kMaxHolds), no
// service twice, versions >= 1, ids, token names and reasons within the bounds above. Never
// throws except std::bad_alloc.
Decoded decode(std::string_view text, std::size_t max_holds = kMaxHolds);

// SHA-256 (64 lower-case hex digits) over a canonical serialisation of the parts of the config
// that must be identical on every observer for their votes to be comparable: regions and their
// endpoints, services and their targets, the effective quorum and the set of observer ids
// (this one and its peers). Host-local settings are left out: the observer's own id, admin,
// listen addresses, control endpoints, and file paths (CA, certificates, keys, secrets), the
// HAProxy socket/address and the exec hook's argv.
std::string config_fingerprint(const config::Config& config);

// `reason` cut to at most kMaxReasonBytes on a UTF-8 character boundary.
std::string clamp_reason(std::string reason);

// "up", "down"... as used on the wire; nullopt for anything else.
std::optional<core::Verdict> parse_verdict(std::string_view text);

}  // namespace failoverd::peer
