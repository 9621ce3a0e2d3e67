// libFuzzer target for the peer message decoder, which parses what any peer server sends us.
// Besides "never crashes", it checks a round-trip property: a message that decodes re-encodes
// to text that decodes to the same message.
//
// With the fuzz preset (add coverage of the library with -fsanitize-coverage):
//   cmake --preset fuzz && cmake --build build/fuzz --target peer_message_fuzz -j2
// clang 14 (Debian 12) cannot compile the Asio coroutine files of failoverd_io under ASan
// ("Cannot represent a difference across sections"), so until that is fixed build the target
// from the few sources it needs, with Boost.JSON compiled in so its parser is instrumented too:
//   echo '#include <boost/json/src.hpp>' > /tmp/json_src.cc
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -Ilib -DBOOST_JSON_NO_LIB tests/fuzz/peer_message_fuzz.cc lib/peer/message.cc \
//     lib/config/values.cc lib/core/types.cc /tmp/json_src.cc -lcrypto -o peer_message_fuzz
//   ./peer_message_fuzz -max_len=70000 -max_total_time=300 corpus/
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
