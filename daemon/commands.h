// Sub-commands of the failoverd executable, each implemented in its own daemon/failoverd_*.cc.
#pragma once

#include <string>
#include <vector>

namespace failoverd::daemon {

// `failoverd simulate --config C --scenario S [--format text|json]`: runs the real core on
// simulated time and prints the timeline. Returns the process exit code.
int simulate_command(const std::vector<std::string>& args);

}  // namespace failoverd::daemon
