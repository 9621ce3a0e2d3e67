#include "core/holds.h"

namespace failoverd::core {

std::string_view to_string(HoldChange change) {
  switch (change) {
    case HoldChange::Freeze: return "freeze";
    case HoldChange::Unfreeze: return "unfreeze";
    case HoldChange::Pin: return "pin";
    case HoldChange::Unpin: return "unpin";
  }
  return "unfreeze";
}

std::optional<HoldChange> parse_hold_change(std::string_view text) {
  for (auto c : {HoldChange::Freeze, HoldChange::Unfreeze, HoldChange::Pin, HoldChange::Unpin}) {
    if (to_string(c) == text) return c;
  }
  return std::nullopt;
}

bool newer(const HoldState& a, const HoldState& b) {
  if (a.version != b.version) return a.version > b.version;
  return a.author.str() > b.author.str();
}

HoldState next_state(const HoldState& current, HoldChange change, const ObserverId& self,
                     const Hold& hold) {
  HoldState out = current;
  out.version = current.version + 1;
  out.author = self;
  out.action = change;
  out.who = hold.who;
  switch (change) {
    case HoldChange::Freeze: out.freeze = hold; break;
    case HoldChange::Unfreeze: out.freeze.reset(); break;
    case HoldChange::Pin: out.pin = hold; break;
    case HoldChange::Unpin: out.pin.reset(); break;
  }
  return out;
}

bool merge(HoldState& local, const HoldState& incoming) {
  if (!newer(incoming, local)) return false;
  local = incoming;
  return true;
}

HoldEffects hold_effects(const HoldState& before, const HoldState& after, bool frozen_now,
                         const std::optional<RegionId>& pinned_now) {
  HoldEffects fx;
  fx.freeze = after.freeze.has_value() && !frozen_now;
  fx.unfreeze = before.freeze.has_value() && !after.freeze.has_value() && frozen_now;
  if (after.pin && pinned_now != after.pin->region) fx.pin = after.pin->region;
  fx.unpin = !after.pin && pinned_now.has_value();
  return fx;
}

}  // namespace failoverd::core
