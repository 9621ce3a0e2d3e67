// The state store: what the engine's runtime state becomes in state.json and back.
//
// Owns: the state file's path, the writer thread (state/state_writer.h), the last text handed
// to it, and the wall anchor that maps monotonic times to wall-clock ms for what survives a
// restart (the monotonic clock starts again at boot). lib/state/state_file.h says what the file
// holds; this file says how the engine's pieces (a service's policy history, freeze, pin,
// reconciler's last known good set, cluster holds) map onto state::PersistedService.
//
// Promises:
//   - open() makes state_dir (owner-only when it creates it) and reads the file; a refused file
//     is an error, a corrupt one is set aside as state.json.corrupt by usable().
//   - save() never blocks on the disk and skips a text identical to the last one handed over;
//     flush() returns once the last text was tried (StateWriter's promise).
//   - One wall anchor per store, so the same time always converts to the same text.
//   - persist_holds/restored_holds and persisted_service/restore_service are inverses for
//     everything the file keeps.
// Called by the engine: open at start, restore_service per service, save after each change
// that must survive a restart, flush at stop.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/events.h"
#include "core/holds.h"
#include "core/types.h"
#include "state/state_file.h"

namespace failoverd::core {
class ObserverEngine;
class ServicePolicy;
}  // namespace failoverd::core
namespace failoverd::actuate {
class Reconciler;
}
namespace failoverd::state {
class StateWriter;
}

namespace failoverd::runtime {

// Wall-clock ms since the epoch, now.
std::int64_t unix_ms_now();
// A wall-clock stamp in ms since the epoch as "2026-12-03T12:00:00Z" (display only).
std::string wall_time_of(std::int64_t unix_ms);
// wall_time_of(unix_ms_now()).
std::string wall_time();

// Monotonic times as wall-clock ms and back. A wall time in the future is taken as now.
struct WallAnchor {
  core::TimePoint steady;
  std::int64_t unix_ms;
  static WallAnchor now() { return {core::Clock::now(), unix_ms_now()}; }
  std::int64_t to_unix_ms(core::TimePoint t) const {
    return unix_ms - std::chrono::duration_cast<std::chrono::milliseconds>(steady - t).count();
  }
  core::TimePoint from_unix_ms(std::int64_t ms) const {
    return steady - std::chrono::milliseconds(std::max<std::int64_t>(0, unix_ms - ms));
  }
};

// Who set a hold, why and when, as far as this process knows: recorded when an operator's
// freeze or pin (or the core's own freeze) takes effect, and after a restart found again in
// the journal the state file kept.
struct HoldOrigin {
  std::string by;      // the token's name, or "core"
  std::string reason;
  std::string since;   // wall time, UTC
};

// The cluster hold state of a service as the state file keeps it, and back.
void persist_holds(const core::HoldState& h, state::PersistedService& ps);
core::HoldState restored_holds(const state::PersistedService& ps);

// The newest journaled operator action of `kind` on `service` that took effect, as a hold's
// origin. The journal's detail reads "ACTION; reason: TEXT; outcome: MESSAGE".
std::optional<HoldOrigin> origin_from_journal(const std::vector<state::PersistedEntry>& journal,
                                              const std::string& service, const std::string& kind);

// What a service's runtime state is made of, as far as the state file keeps it.
struct ServiceParts {
  actuate::Reconciler& reconciler;
  core::HoldState& holds;
  std::optional<HoldOrigin>& freeze_origin;
  std::optional<HoldOrigin>& pin_origin;
};

// One service as the state file keeps it (`policy` may be null: no policy, nothing of it kept).
state::PersistedService persisted_service(const core::ServiceId& name,
                                          const core::ServicePolicy* policy,
                                          const actuate::Reconciler& reconciler,
                                          const core::HoldState& holds, const WallAnchor& wall);

// Applies one service the state file kept to the core and to the service's parts: holds, a
// freeze (through the core, as an operator's would be), its origin, the pin, the policy's
// history, the last known good set. Returns the core's events for the caller to handle.
core::Events restore_service(const state::PersistedService& ps,
                             const std::vector<state::PersistedEntry>& journal,
                             const core::ServiceId& id, core::ObserverEngine& core,
                             ServiceParts parts, const WallAnchor& wall, core::TimePoint now);

class StateStore {
 public:
  StateStore();
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Makes state_dir and reads state_dir/state.json into `loaded`. An error (state_dir cannot
  // be made, the file is refused) means nothing was opened.
  std::optional<std::string> open(const std::string& state_dir, const std::string& observer,
                                  state::Loaded& loaded);
  // Starts the writer thread (after what was loaded has been applied); save() writes from then.
  void start_writing();
  bool is_open() const { return writer_ != nullptr; }
  const std::string& path() const { return path_; }
  const WallAnchor& wall() const { return wall_; }

  // Whether `loaded` (from open) should be applied: a corrupt file is logged and set aside.
  bool usable(const state::Loaded& loaded) const;

  // Hands `st` to the writer unless it is the text last handed over; logs an earlier write's
  // error. Does nothing before start_writing().
  void save(const state::PersistedState& st);
  // Waits until the last text was tried, and logs its error.
  void flush();

 private:
  std::string path_;    // state_dir/state.json
  std::string saved_;   // what was last handed to the writer, to skip identical writes
  const WallAnchor wall_ = WallAnchor::now();
  std::unique_ptr<state::StateWriter> writer_;
};

}  // namespace failoverd::runtime
