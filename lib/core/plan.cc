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

std::vector<RegionId> regions_of(const std::vector<PlanMember>& members) {
  std::vector<RegionId> out;
  for (const auto& m : members) {
    if (std::find(out.begin(), out.end(), m.region) == out.end()) out.push_back(m.region);
  }
  return out;
}

std::string describe(const std::vector<PlanMember>& members) {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out += ',';
    out += m.region.str() + ':' + m.value + '*' + std::to_string(m.weight);
  }
  return out.empty() ? "(empty)" : out;
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
