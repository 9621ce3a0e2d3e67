// libFuzzer target for the state file parser (lib/state/state_file.cc), which reads what is on
// disk at start-up: a file damaged, truncated, or written by hand. Besides "never crashes", it
// checks that a state that parses is bounded (reason, details, journal length) and survives a
// round trip: serialize() then parse() gives it back.
//
//   cmake --preset fuzz && cmake --build build/fuzz --target state_file_fuzz -j2
//   build/fuzz/tests/state_file_fuzz -max_len=65536 -max_total_time=600 \
//       tests/fuzz/corpus/state_file
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "state/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace st = failoverd::state;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  st::Parsed p = st::parse(text, "obs-a");
  if ((p.kind == st::Parsed::Kind::Ok) != p.error.empty()) std::abort();
  if (p.kind != st::Parsed::Kind::Ok) return 0;
  if (p.state.journal.size() > st::kPersistedJournal) std::abort();
  for (const auto& s : p.state.services) {
    if (s.frozen_reason.size() > st::kMaxReasonBytes) std::abort();
  }
  for (const auto& e : p.state.journal) {
    if (e.detail.size() > st::kMaxDetailBytes || e.who.size() > st::kMaxReasonBytes) std::abort();
  }
  st::Parsed again = st::parse(st::serialize(p.state), "obs-a");
  if (again.kind != st::Parsed::Kind::Ok) std::abort();
  // Services come back in the JSON object's order; compare as sets by name.
  if (again.state.services.size() != p.state.services.size()) {
    // Duplicate names in the input collapse into one key when serialised.
    for (std::size_t i = 0; i < p.state.services.size(); ++i) {
      for (std::size_t j = i + 1; j < p.state.services.size(); ++j) {
        if (p.state.services[i].name == p.state.services[j].name) return 0;
      }
    }
    std::abort();
  }
  if (again.state.journal != p.state.journal) std::abort();
  if (again.state.next_journal_id != p.state.next_journal_id) std::abort();
  return 0;
}
