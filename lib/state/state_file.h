// The observer's state file (state_dir/state.json): what survives a restart.
//
// Contract:
//   - Holds, per configured service, the operator's freeze (with its reason) and pin, the last
//     known good set (for `restore`) and the flip history (generation read, flip times), plus
//     the newest journal entries; and, once any observer took an operator action on the
//     service, the cluster's hold state (core/holds.h) with its version, so that a restarted
//     observer does not undo a newer action it heard of ("hold"; files without it read as
//     version 0). Live routing is never
//     taken from here: it is re-read from the target before anything is written.
//   - Small by construction: every operator-supplied string is bounded (kMaxReasonBytes, refused
//     above it by the admin API), journal details are cut at kMaxDetailBytes and only the newest
//     kPersistedJournal entries are kept, so the file stays far below kMaxStateFileBytes.
//   - A file that cannot be this observer's is never applied: another observer's id or an
//     unknown version refuses start-up (and --check-config reports it); so does anything that is
//     not a regular file (a FIFO would hang a blocking open) or a file larger than
//     kMaxStateFileBytes; so does a file that is ours (version and observer match) with a field
//     that is off, as its holds may be in it. Only a file that is not JSON, or carries no version
//     or observer, is set aside as state.json.corrupt (the atomic writes make that outside
//     damage, never our own half-write).
//
// Pure apart from load_state_file(), which reads the file (non-blocking open, no symlinks).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::state {

inline constexpr int kStateVersion = 1;
inline constexpr std::size_t kMaxReasonBytes = 1024;
inline constexpr std::size_t kMaxDetailBytes = 2048;
inline constexpr std::size_t kPersistedJournal = 200;
inline constexpr std::size_t kMaxStateFileBytes = 64 * 1024 * 1024;
// flip_budget + 1 flips are all a policy keeps; the loader caps flip_budget at 1000.
inline constexpr std::size_t kMaxPersistedFlips = 1001;

struct PersistedMember {
  std::string value;
  std::uint32_t weight = 1;
  bool operator==(const PersistedMember&) const = default;
};

// One hold of the cluster's hold state (core::Hold).
struct PersistedHold {
  std::string who;
  std::string reason;
  std::int64_t since_unix_ms = 0;
  std::string observer;
  std::string region;  // pin only
  bool operator==(const PersistedHold&) const = default;
};

struct PersistedService {
  std::string name;
  bool frozen = false;
  std::string frozen_reason;
  std::optional<std::string> pinned;
  std::vector<PersistedMember> last_known_good;
  // What the policy knew of the target (core::ServicePolicy::History), in wall-clock ms since the
  // Unix epoch: the generation last read (0: none), the last flip and the automatic flips
  // counted (oldest first, at most kMaxPersistedFlips). A restart that reads this generation
  // back counts no flip and arms no hold-down.
  std::uint64_t generation = 0;
  std::optional<std::int64_t> last_flip_unix_ms;
  std::vector<std::int64_t> automatic_flips_unix_ms;
  // The cluster's hold state (core::HoldState); version 0: none, the fields below unused.
  std::uint64_t hold_version = 0;
  std::string hold_author;
  std::string hold_action;  // "freeze", "unfreeze", "pin", "unpin"
  std::string hold_who;
  std::optional<PersistedHold> freeze_hold;
  std::optional<PersistedHold> pin_hold;
  bool operator==(const PersistedService&) const = default;
};

struct PersistedEntry {
  std::uint64_t id = 0;
  std::string time;
  std::string service;
  std::string kind;
  std::string who;
  std::string detail;
  bool operator==(const PersistedEntry&) const = default;
};

struct PersistedState {
  std::string observer;
  std::vector<PersistedService> services;
  std::vector<PersistedEntry> journal;  // newest first
  std::uint64_t next_journal_id = 1;
  bool operator==(const PersistedState&) const = default;
};

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string bounded(std::string_view s, std::size_t max);

// The file's text. Applies the bounds above (reasons, details, journal length).
std::string serialize(const PersistedState& state);

struct Parsed {
  enum class Kind {
    Ok,
    Corrupt,         // not the expected JSON: set aside, start without it
    WrongObserver,   // written by another observer id: refuse to start
    UnknownVersion,  // a version this build does not read: refuse to start
    Malformed,       // ours (version and observer match) but a field is off: refuse to start
  };
  Kind kind = Kind::Ok;
  PersistedState state;  // Ok only
  std::string error;     // the other kinds: why
};

// Parses a state file's text written for `expected_observer`.
Parsed parse(std::string_view text, std::string_view expected_observer);

struct Loaded {
  enum class Kind {
    Missing,  // first start
    Ok,
    Corrupt,  // set it aside and start without it
    Refused,  // start-up must refuse: error says why and what to do
  };
  Kind kind = Kind::Missing;
  PersistedState state;
  std::string error;
};

// Reads and parses `path` (state_dir/state.json) without following a symbolic link and without
// blocking on a FIFO or device.
Loaded load_state_file(const std::string& path, std::string_view expected_observer);

}  // namespace failoverd::state
