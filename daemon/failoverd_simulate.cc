// `failoverd simulate`: placeholder until the simulator lands (see lib/core).
#include <cstdio>

#include "commands.h"

namespace failoverd::daemon {

int simulate_command(const std::vector<std::string>&) {
  std::fprintf(stderr, "failoverd simulate: not built yet\n");
  return 2;
}

}  // namespace failoverd::daemon
