// `failoverd simulate`: runs a scenario through the real decision core on simulated time.
//
//   failoverd simulate [--config C] --scenario S [--format text|json]
//
// The scenario file (config/scenario-*.toml) embeds its cluster; --config replaces the embedded
// regions, services and thresholds with those of a daemon config (its observer and peers are
// the simulated observers unless the scenario lists its own). Exit code: 0 when every
// expectation holds and no safety invariant broke, 1 otherwise, 2 on a usage or load error.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "commands.h"
#include "config/loader.h"
#include "config/scenario.h"
#include "drive/sim.h"

namespace failoverd::daemon {

namespace {

constexpr const char* kUsage =
    "usage: failoverd simulate [--config FILE] --scenario FILE [--format text|json]\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "failoverd simulate: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int simulate_command(const std::vector<std::string>& args) {
  std::optional<std::string> config_path, scenario_path;
  std::string format = "text";
  std::size_t i = 0;
  if (!args.empty() && args[0] == "simulate") i = 1;  // tolerate the sub-command name
  for (; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string value;
    std::string_view flag = arg;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      flag = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return usage_error("missing value for " + std::string(arg));
    }
    if (flag == "--config") {
      config_path = value;
    } else if (flag == "--scenario") {
      scenario_path = value;
    } else if (flag == "--format") {
      format = value;
    } else {
      return usage_error("unknown argument " + std::string(arg));
    }
  }
  if (!scenario_path) return usage_error("--scenario is required");
  if (format != "text" && format != "json") return usage_error("--format must be text or json");

  config::ScenarioResult parsed = config::parse_scenario_file(*scenario_path);
  if (!parsed.ok()) {
    for (const auto& e : parsed.errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 2;
  }
  config::ScenarioFile& file = *parsed.file;
  config::Config cfg = file.config;
  if (config_path) {
    config::LoadResult loaded = config::load_config_file(*config_path);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      return 2;
    }
    cfg = std::move(*loaded.config);
  } else if (!file.has_cluster) {
    return usage_error(*scenario_path + " defines no regions and services; pass --config");
  }

  core::SimResult result = core::simulate(cfg, file.scenario);
  const std::string out = format == "json" ? core::format_json_lines(file.scenario, result)
                                           : core::format_text(file.scenario, result);
  std::fputs(out.c_str(), stdout);
  return result.ok() ? 0 : 1;
}

}  // namespace failoverd::daemon
