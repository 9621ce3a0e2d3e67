// libFuzzer target for the config loader (lib/config/loader.cc): every byte string as a TOML
// config. Besides "never crashes" (ASan + UBSan in the fuzz preset), it checks the loader's
// promises: a config comes back exactly when there is no error; every error names the file and
// says what is wrong; a config that loads keeps the loader's limits (at most kMaxRegions regions,
// every service's regions among the configured ones).
//
//   cmake --preset fuzz && cmake --build build/fuzz --target config_loader_fuzz -j2
//   mkdir -p /tmp/cfg-corpus && build/fuzz/tests/config_loader_fuzz -max_len=16384 \
//       -max_total_time=600 -timeout=10 /tmp/cfg-corpus config tests/fuzz/corpus/config_loader
// The shipped examples in config/ are the seeds (they name secret files that do not exist
// here, so most mutations exercise the error paths, as an operator's typos do).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace cfg = failoverd::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cfg::LoadResult r = cfg::load_config_string(text, "fuzz.toml");
  if (r.config.has_value() == !r.errors.empty()) std::abort();
  for (const auto& e : r.errors) {
    if (e.file != "fuzz.toml" || e.message.empty()) std::abort();
    const std::string line = e.to_string();
    if (line.rfind("fuzz.toml:", 0) != 0) std::abort();
  }
  if (!r.config) return 0;
  const cfg::Config& c = *r.config;
  if (c.regions.size() > cfg::kMaxRegions) std::abort();
  for (const auto& s : c.services) {
    for (const auto& region : s.regions) {
      if (c.find_region(region) == nullptr) std::abort();
    }
  }
  return 0;
}
