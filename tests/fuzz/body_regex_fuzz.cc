// libFuzzer target: expect_body_regex as the daemon runs it. The input is a pattern, a NUL, and
// a body (at most the default body_limit, 64 KiB); the pattern is compiled exactly as the loader
// and the prober compile it (probe/body_regex.h, the shipped code) and, when it loads, searched
// for in the body. Nothing may crash, hang or grow without bound, whatever the pattern or body.
// Build: cmake --preset fuzz && cmake --build build/fuzz --target body_regex_fuzz
// Run:   build/fuzz/tests/body_regex_fuzz -max_len=70000 -len_control=0 -max_total_time=600
//          -rss_limit_mb=2048 CORPUS_DIR tests/fuzz/corpus/body_regex
// RE2 itself is the system library, not instrumented: coverage guidance only sees this file and
// probe/body_regex.cc, so the search is close to random over patterns and bodies.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "probe/body_regex.h"

namespace {

// The loader refuses longer patterns (config/loader.cc); the prober never keeps a longer body.
constexpr std::size_t kMaxPattern = 1000;
constexpr std::size_t kBodyLimit = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  const char* nul = static_cast<const char*>(std::memchr(text, 0, size));
  const std::size_t pattern_size = nul != nullptr ? static_cast<std::size_t>(nul - text) : size;
  if (pattern_size > kMaxPattern) return -1;  // never loads: not worth the fuzzer's time
  const std::string_view pattern(text, pattern_size);
  std::string_view body;
  if (nul != nullptr) body = std::string_view(nul + 1, size - pattern_size - 1);
  body = body.substr(0, kBodyLimit);

  const failoverd::probe::BodyRegexResult re =
      failoverd::probe::compile_body_regex(pattern, kBodyLimit);
  if (!re.regex) {
    // A refusal always says why (the loader prints it with file:line:column).
    if (re.error.empty() || re.problem == failoverd::probe::BodyRegexResult::Problem::None) {
      __builtin_trap();
    }
    return 0;
  }
  (void)re.regex->search(body);
  return 0;
}
