// libFuzzer target: the DNS decoder, RDATA text conversion and TSIG verification must never crash
// or read out of bounds on any input; whatever decodes must re-encode and decode to the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "actuate/dns_wire.h"
#include "actuate/tsig.h"

namespace dns = failoverd::actuate::dns;
namespace tsig = failoverd::actuate::tsig;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  auto res = dns::decode(in);
  if (res.message) {
    const auto& m = *res.message;
    for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
      for (const auto& rr : *section) {
        (void)dns::rdata_to_text(rr.type, rr.rdata);
        (void)dns::soa_serial(rr.rdata);
      }
    }
    (void)dns::validate_update(m);
    // Decoded names are always encodable, and the uncompressed encoding decodes to the same.
    auto wire = dns::encode(m);
    if (wire) {
      auto again = dns::decode(*wire);
      if (!again.message || !(*again.message == m)) std::abort();
    }
  }
  static const tsig::Key key{"failoverd-key.", tsig::Algorithm::HmacSha256, {1, 2, 3, 4}};
  (void)tsig::verify(in, key, {}, 1000);
  return 0;
}
