#include "config/loader.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace failoverd::config;

TEST_SUITE("config") {
  TEST_CASE("probe") {
    auto r = load_config_file(FAILOVERD_SOURCE_DIR "/config/demo.toml");
    for (auto& e : r.errors) MESSAGE(e.to_string());
  }
}
