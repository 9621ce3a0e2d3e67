// libFuzzer target for the peer message decoder (the bytes a peer, or anyone reaching the cluster
// listener's clients, controls). Besides "never crashes", it checks a round-trip property: a
// message that decodes re-encodes to text that decodes to the same message.
//
//   cmake --preset fuzz -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link
//   cmake --build build/fuzz --target peer_message_fuzz -j2
//   ./build/fuzz/tests/peer_message_fuzz -max_len=70000 -max_total_time=300
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "peer/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = failoverd::peer::decode(text);
  if (decoded.ok() != decoded.error.empty()) std::abort();
  if (decoded.ok()) {
    auto again = failoverd::peer::decode(failoverd::peer::encode(*decoded.message));
    if (!again.ok() || !(*again.message == *decoded.message)) std::abort();
  }
  return 0;
}
