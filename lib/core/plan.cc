#include "core/plan.h"

namespace failoverd::core {

std::string_view to_string(Trigger t) {
  switch (t) {
    case Trigger::Automatic: return "automatic";
    case Trigger::Manual: return "manual";
    case Trigger::Restore: return "restore";
  }
  return "automatic";
}

}  // namespace failoverd::core
