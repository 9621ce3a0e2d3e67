#include "actuate/target_state.h"

namespace failoverd::actuate {

std::string trigger_field(core::Trigger trigger) {
  if (trigger == core::Trigger::Automatic) return {};
  return " trigger=" + std::string(core::to_string(trigger));
}

std::optional<core::Trigger> parse_trigger(std::string_view value) {
  if (value == core::to_string(core::Trigger::Manual)) return core::Trigger::Manual;
  if (value == core::to_string(core::Trigger::Restore)) return core::Trigger::Restore;
  return std::nullopt;
}

std::string_view to_string(WriteStatus s) {
  switch (s) {
    case WriteStatus::Applied: return "applied";
    case WriteStatus::Conflict: return "conflict";
    case WriteStatus::Unknown: return "unknown";
    case WriteStatus::Refused: return "refused";
    case WriteStatus::Invalid: return "invalid";
  }
  return "unknown";
}

}  // namespace failoverd::actuate
