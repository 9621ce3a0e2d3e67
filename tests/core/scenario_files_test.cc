// Every config/scenario-*.toml through the parser and the simulator: the P1-P5 and F1-F5
// fault scenarios with their pass conditions as `expect` entries.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "config/scenario.h"
#include "drive/sim.h"

using namespace failoverd;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST_SUITE("core.sim") {
  TEST_CASE("every scenario file passes its expectations") {
    std::vector<std::filesystem::path> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(FAILOVERD_SOURCE_DIR) / "config")) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("scenario-", 0) == 0 && entry.path().extension() == ".toml") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    CHECK(files.size() >= 10);
    for (const auto& path : files) {
      CAPTURE(path.filename().string());
      config::ScenarioResult parsed = config::parse_scenario_file(path.string());
      REQUIRE_MESSAGE(parsed.ok(), joined(parsed.errors));
      REQUIRE(parsed.file->has_cluster);
      CHECK_FALSE(parsed.file->scenario.expectations.empty());
      core::SimResult r = core::simulate(parsed.file->config, parsed.file->scenario);
      CHECK_MESSAGE(r.ok(), core::format_text(parsed.file->scenario, r));
      // FAILOVERD_SCENARIO_PRINT=f4 prints the timeline of every file whose name contains "f4".
      const char* print = std::getenv("FAILOVERD_SCENARIO_PRINT");
      if (print && path.filename().string().find(print) != std::string::npos) {
        MESSAGE(core::format_text(parsed.file->scenario, r));
      }
    }
  }

  TEST_CASE("scenario errors name file, line, column and key") {
    const char* text = R"(name = "bad"
duration = "ten"
observers = ["a"]
colour = "blue"

[[timeline]]
t = "1s"
action = "explode"

[[expect]]
what = "writes"
max = -1
)";
    config::ScenarioResult r = config::parse_scenario_string(text, "bad.toml");
    REQUIRE_FALSE(r.ok());
    const std::string all = joined(r.errors);
    CHECK(all.find("bad.toml:2:12: duration: expected a duration") != std::string::npos);
    CHECK(all.find("bad.toml:4:10: colour: unknown key") != std::string::npos);
    CHECK(all.find("timeline[0].action: unknown action \"explode\"") != std::string::npos);
    CHECK(all.find("expect[0].max: expected an integer >= 0") != std::string::npos);
  }

  TEST_CASE("a scenario without regions is parsed for use with a loaded config") {
    config::ScenarioResult r = config::parse_scenario_string(R"(
observers = ["obs-a", "obs-b", "obs-c"]
duration = "1m30s"
[[timeline]]
t = "10s"
action = "failover"
observer = "obs-b"
region = "west"
force = true
[[expect]]
what = "writes"
equals = 1
)",
                                                             "x.toml");
    REQUIRE_MESSAGE(r.ok(), joined(r.errors));
    CHECK_FALSE(r.file->has_cluster);
    CHECK(r.file->scenario.duration == std::chrono::seconds(90));
    REQUIRE(r.file->scenario.timeline.size() == 1);
    const core::SimAction& a = r.file->scenario.timeline[0];
    CHECK(a.kind == core::SimAction::Kind::Admin);
    CHECK(a.admin.kind == core::AdminAction::Kind::Failover);
    CHECK(a.admin.region == core::RegionId{"west"});
    CHECK(a.admin.force);
    CHECK(a.observers == std::vector<core::ObserverId>{core::ObserverId{"obs-b"}});
    CHECK(r.file->scenario.expectations[0].min == 1u);
  }
}
