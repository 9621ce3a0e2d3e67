// Who writes a shared target first. Every observer that confirms a decision may write it, and the
// fence CAS lets exactly one succeed; to avoid needless contention, observers defer to the lowest
// observer id among those that hold the fresh quorum view (the plan's evidence). Rank 0 writes at
// once; rank r waits r * stagger, then re-reads the fence and writes only if the plan is not live.
//
// Example: evidence from obs-c and obs-a, self obs-b -> holders {obs-a, obs-b, obs-c}, rank 1.
#pragma once

#include <cstddef>

#include "core/plan.h"

namespace failoverd::core {

// The position of `self` among the distinct observers in `plan.evidence` plus `self`, by id.
std::size_t writer_rank(const ObserverId& self, const Plan& plan);

}  // namespace failoverd::core
