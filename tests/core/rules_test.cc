// The rule ids operators see in refusals, alerts, metrics and logs: stable, unique, and each one
// listed in the README, so that whatever a message names can be looked up.
#include "core/rules.h"

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

using namespace failoverd::core;

namespace {

// Rules are only ever added at the end (rules.h); the test checks that this is the last one.
constexpr Rule kLastRule = Rule::TargetSuspect;

std::string readme() {
  std::ifstream in(std::string(FAILOVERD_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_SUITE("core.rules") {
  TEST_CASE("every rule id is snake_case, unique, and in the README's table of rule ids") {
    const std::string text = readme();
    REQUIRE_FALSE(text.empty());
    const auto table = text.find("| id | meaning |");
    REQUIRE(table != std::string::npos);
    std::set<std::string> seen;
    const int last = static_cast<int>(kLastRule);
    for (int i = 0; i <= last; ++i) {
      const std::string id(to_string(static_cast<Rule>(i)));
      CAPTURE(id);
      CHECK(id != "unknown_rule");
      CHECK(seen.insert(id).second);
      bool snake = !id.empty() && id.front() >= 'a' && id.front() <= 'z';
      for (char c : id) snake = snake && ((c >= 'a' && c <= 'z') || c == '_');
      CHECK(snake);
      CHECK(text.find("| `" + id + "` |", table) != std::string::npos);
    }
    CHECK(to_string(static_cast<Rule>(last + 1)) == "unknown_rule");
  }
}
