// Test helper: builds DNS messages byte by byte (no compression unless asked).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::probe::test {

class WireBuilder {
 public:
  WireBuilder& u8(std::uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  WireBuilder& u16(std::uint16_t v) {
    bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes.push_back(static_cast<std::uint8_t>(v & 0xFF));
    return *this;
  }
  WireBuilder& u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    return u16(static_cast<std::uint16_t>(v & 0xFFFF));
  }
  // "www.example." -> 3www7example0
  WireBuilder& name(std::string_view n) {
    std::size_t start = 0;
    while (start < n.size()) {
      std::size_t dot = n.find('.', start);
      if (dot == std::string_view::npos) dot = n.size();
      if (dot > start) {
        u8(static_cast<std::uint8_t>(dot - start));
        for (std::size_t i = start; i < dot; ++i) u8(static_cast<std::uint8_t>(n[i]));
      }
      start = dot + 1;
    }
    return u8(0);
  }
  // One label, no terminator (to be followed by more labels, a pointer or u8(0)).
  WireBuilder& label(std::string_view l) {
    u8(static_cast<std::uint8_t>(l.size()));
    for (char c : l) u8(static_cast<std::uint8_t>(c));
    return *this;
  }
  WireBuilder& pointer(std::uint16_t offset) {
    return u16(static_cast<std::uint16_t>(0xC000 | offset));
  }
  WireBuilder& raw(std::initializer_list<std::uint8_t> v) {
    bytes.insert(bytes.end(), v.begin(), v.end());
    return *this;
  }
  // Header: id, flags (QR set by default: 0x8180 = QR RD RA), counts.
  WireBuilder& header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(0).u16(0);
  }
  WireBuilder& question(std::string_view n, std::uint16_t type) { return name(n).u16(type).u16(1); }
  // Record header up to and including rdlength; the caller appends rdata.
  WireBuilder& rr(std::string_view owner, std::uint16_t type, std::uint32_t ttl,
                  std::uint16_t rdlen) {
    return name(owner).u16(type).u16(1).u32(ttl).u16(rdlen);
  }
  std::size_t size() const { return bytes.size(); }

  std::vector<std::uint8_t> bytes;
};

// A reply to `qname`/`qtype` with rcode and one A record per address ("a.b.c.d").
inline std::vector<std::uint8_t> a_reply(std::uint16_t id, std::string_view qname, int rcode,
                                         const std::vector<std::array<std::uint8_t, 4>>& addrs,
                                         std::uint32_t ttl = 300) {
  WireBuilder w;
  w.header(id, static_cast<std::uint16_t>(0x8580 | rcode), 1,
           static_cast<std::uint16_t>(addrs.size()));
  w.question(qname, 1);
  for (const auto& a : addrs) {
    w.pointer(12).u16(1).u16(1).u32(ttl).u16(4);
    for (auto b : a) w.u8(b);
  }
  return w.bytes;
}

}  // namespace failoverd::probe::test
