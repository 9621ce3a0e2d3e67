#include "core/writer.h"

#include <set>

namespace failoverd::core {

std::size_t writer_rank(const ObserverId& self, const Plan& plan) {
  std::set<ObserverId> holders{self};
  for (const auto& v : plan.evidence) holders.insert(v.observer);
  return static_cast<std::size_t>(std::distance(holders.begin(), holders.find(self)));
}

}  // namespace failoverd::core
