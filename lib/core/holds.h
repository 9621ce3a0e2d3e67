// An operator's holds on one service (freeze, pin) as the whole cluster shares them, and the
// rule by which observers agree on them without trusting each other's clocks.
//
// Contract:
//   - Every operator freeze/unfreeze/pin/unpin taken on any observer produces a new HoldState
//     for its service: version = the highest version this observer knows for the service + 1,
//     author = this observer. The state is complete (it says what is frozen and what is pinned
//     after the action), so the newest state alone decides.
//   - newer(a, b): a.version > b.version, or equal versions and a.author > b.author (observer
//     ids compared as strings). A total order: two observers that act at once with the same
//     version resolve the same way everywhere.
//   - merge(): an observer adopts a peer's state only when it is newer than its own, and then
//     takes its version and author, so its own next action is newer still. An older or equal
//     one is ignored. Versions never go down: they are persisted (state.json), so a restarted
//     observer still knows the newest state it had and does not undo a newer action when it
//     hears an older one.
//   - `since_unix_ms` is the acting observer's wall clock, for display only; it never orders.
// Pure: no clock, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/types.h"

namespace failoverd::core {

// One hold in force: who (the admin token's name) set it on which observer, why and when.
struct Hold {
  std::string who;
  std::string reason;
  std::int64_t since_unix_ms = 0;  // the acting observer's wall clock; display only
  ObserverId observer;             // where the action was taken
  RegionId region;                 // pin only: the region it holds
  bool operator==(const Hold&) const = default;
};

enum class HoldChange { Freeze, Unfreeze, Pin, Unpin };
// "freeze", "unfreeze", "pin", "unpin".
std::string_view to_string(HoldChange change);
std::optional<HoldChange> parse_hold_change(std::string_view text);

struct HoldState {
  std::uint64_t version = 0;  // 0: no operator action on this service known anywhere yet
  ObserverId author;          // the observer whose action made this version
  HoldChange action = HoldChange::Unfreeze;  // the action that made it (version >= 1)
  std::string who;                           // that action's token name
  std::optional<Hold> freeze;
  std::optional<Hold> pin;
  bool operator==(const HoldState&) const = default;
};

// True when `a` is a later state than `b` under the rule above.
bool newer(const HoldState& a, const HoldState& b);

// What an operator action does to the state: a copy of `current` with `freeze` (or `pin`)
// replaced, version current.version + 1, author `self`, action `change` by hold.who.
HoldState next_state(const HoldState& current, HoldChange change, const ObserverId& self,
                     const Hold& hold);

// Adopts `incoming` into `local` when it is newer; returns whether it did.
bool merge(HoldState& local, const HoldState& incoming);

// What an observer must change in its policy after adopting `after` over `before`, given what
// its policy holds now. A freeze the core set by itself (flip or write budget) is not in the
// hold state: only an adopted unfreeze of an operator's freeze (before had one, after has none)
// lifts the policy's freeze, so a pin adopted meanwhile never thaws a budget freeze.
struct HoldEffects {
  bool freeze = false;
  bool unfreeze = false;
  std::optional<RegionId> pin;  // pin to this region (the policy holds another or none)
  bool unpin = false;
};
HoldEffects hold_effects(const HoldState& before, const HoldState& after, bool frozen_now,
                         const std::optional<RegionId>& pinned_now);

}  // namespace failoverd::core
