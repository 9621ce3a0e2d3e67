#include "core/writer.h"

#include <doctest/doctest.h>

using namespace failoverd::core;

TEST_SUITE("core.writer") {
  TEST_CASE("the lowest observer id holding the quorum view writes first") {
    Plan p;
    p.evidence = {{ObserverId{"obs-c"}, RegionId{"east"}, Verdict::Down, {}},
                  {ObserverId{"obs-a"}, RegionId{"east"}, Verdict::Down, {}},
                  {ObserverId{"obs-a"}, RegionId{"west"}, Verdict::Up, {}}};
    CHECK(writer_rank(ObserverId{"obs-a"}, p) == 0);
    CHECK(writer_rank(ObserverId{"obs-b"}, p) == 1);  // not in the evidence: counted with it
    CHECK(writer_rank(ObserverId{"obs-c"}, p) == 1);
  }

  TEST_CASE("a single observer always has rank 0") {
    CHECK(writer_rank(ObserverId{"solo"}, Plan{}) == 0);
  }
}
