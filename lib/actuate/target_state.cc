#include "actuate/target_state.h"

namespace failoverd::actuate {

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
