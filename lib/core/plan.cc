#include "core/plan.h"

#include <algorithm>
#include <tuple>

namespace failoverd::core {

bool same_members(std::vector<PlanMember> a, std::vector<PlanMember> b) {
  auto less = [](const PlanMember& x, const PlanMember& y) {
    return std::tie(x.region, x.value, x.weight) < std::tie(y.region, y.value, y.weight);
  };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  return a == b;
}

std::string_view to_string(Trigger t) {
  switch (t) {
    case Trigger::Automatic: return "automatic";
    case Trigger::Manual: return "manual";
    case Trigger::Restore: return "restore";
  }
  return "automatic";
}

}  // namespace failoverd::core
