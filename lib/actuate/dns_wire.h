// DNS wire format (RFC 1035, RFC 2136 UPDATE): a pure encoder and a bounded decoder.
//
// No sockets, no allocation beyond the message itself. The decoder never reads outside its input,
// follows at most kMaxPointers compression pointers per name (each must point strictly backwards),
// and caps names at 255 octets and sections at kMaxRecords records, so any byte string yields
// either a Message or an error. The encoder never compresses.
//
// Names are in presentation form: "www.example.com." (absolute, trailing dot; "." is the root).
// Decoded labels escape '.', '\\' and bytes outside 0x21..0x7e as "\DDD". Comparisons are
// case-insensitive (names_equal).
//
// RDATA is kept as uncompressed wire bytes: for CNAME and SOA the decoder expands compressed
// names, every other type stays opaque. rdata_to_text / rdata_from_text convert A, AAAA, TXT,
// CNAME and SOA to and from text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::actuate::dns {

// RR types used here; any other value is carried as opaque RDATA.
namespace type {
inline constexpr std::uint16_t kA = 1;
inline constexpr std::uint16_t kNs = 2;
inline constexpr std::uint16_t kCname = 5;
inline constexpr std::uint16_t kSoa = 6;
inline constexpr std::uint16_t kTxt = 16;
inline constexpr std::uint16_t kAaaa = 28;
inline constexpr std::uint16_t kTsig = 250;
inline constexpr std::uint16_t kAny = 255;
}  // namespace type

namespace klass {
inline constexpr std::uint16_t kIn = 1;
inline constexpr std::uint16_t kNone = 254;  // RFC 2136: "RR does not exist" / delete one RR
inline constexpr std::uint16_t kAny = 255;   // RFC 2136: "RRset exists" / delete an RRset
}  // namespace klass

enum class Opcode : std::uint8_t { Query = 0, Update = 5 };

// Response codes, including the TSIG extended errors (RFC 8945) that share the number space.
namespace rcode {
inline constexpr std::uint16_t kNoError = 0;
inline constexpr std::uint16_t kFormErr = 1;
inline constexpr std::uint16_t kServFail = 2;
inline constexpr std::uint16_t kNxDomain = 3;
inline constexpr std::uint16_t kNotImp = 4;
inline constexpr std::uint16_t kRefused = 5;
inline constexpr std::uint16_t kYxDomain = 6;
inline constexpr std::uint16_t kYxRrset = 7;
inline constexpr std::uint16_t kNxRrset = 8;
inline constexpr std::uint16_t kNotAuth = 9;
inline constexpr std::uint16_t kNotZone = 10;
inline constexpr std::uint16_t kBadSig = 16;
inline constexpr std::uint16_t kBadKey = 17;
inline constexpr std::uint16_t kBadTime = 18;
}  // namespace rcode
// "NOERROR", "NXRRSET", "BADSIG", ... ; "RCODE<n>" for others.
std::string rcode_name(std::uint16_t rcode);
// "A", "TXT", ...; "TYPE<n>" for others. type_from_name is case-insensitive.
std::string type_name(std::uint16_t t);
std::optional<std::uint16_t> type_from_name(std::string_view name);

inline constexpr std::size_t kMaxMessage = 65535;
inline constexpr std::size_t kMaxName = 255;
inline constexpr int kMaxPointers = 64;
inline constexpr std::size_t kMaxRecords = 4096;

struct Header {
  std::uint16_t id = 0;
  bool qr = false;
  Opcode opcode = Opcode::Query;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  std::uint8_t rcode = 0;  // the low 4 bits only (no EDNS here)
  bool operator==(const Header&) const = default;
};

// A question; in an UPDATE it is the zone section (type SOA).
struct Question {
  std::string name;
  std::uint16_t type = type::kA;
  std::uint16_t klass = klass::kIn;
  bool operator==(const Question&) const = default;
};

struct Rr {
  std::string name;
  std::uint16_t type = type::kA;
  std::uint16_t klass = klass::kIn;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;  // uncompressed wire form (see above)
  // Decoder only: where this RR starts in the decoded buffer (TSIG needs it). 0 when built.
  std::size_t offset = 0;
  bool operator==(const Rr& o) const {
    return name == o.name && type == o.type && klass == o.klass && ttl == o.ttl && rdata == o.rdata;
  }
};

// Sections by their RFC 1035 names; for an UPDATE: questions = zone, answers = prerequisites,
// authority = updates.
struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Rr> answers;
  std::vector<Rr> authority;
  std::vector<Rr> additional;
  bool operator==(const Message&) const = default;
};

// Presentation name -> uncompressed wire labels. nullopt for an empty label, a label over 63
// octets, or a name over 255 octets. Relative names are taken as absolute. Supports "\." and
// "\DDD" escapes.
std::optional<std::vector<std::uint8_t>> name_to_wire(std::string_view name);
// Same, lower-cased (canonical form, RFC 4034 6.2), as TSIG needs.
std::optional<std::vector<std::uint8_t>> name_to_canonical_wire(std::string_view name);
bool names_equal(std::string_view a, std::string_view b);

// The encoded message, or nullopt when a name or an RDATA is unencodable or it exceeds 65535.
std::optional<std::vector<std::uint8_t>> encode(const Message& m);

struct DecodeResult {
  std::optional<Message> message;
  std::string error;  // set when message is nullopt
};
// Decodes any byte string safely (see the header comment). Trailing bytes are an error.
DecodeResult decode(std::span<const std::uint8_t> wire);

// Text <-> RDATA for A ("192.0.2.1"), AAAA (canonical RFC 5952 text), TXT (the character-strings
// concatenated; from text: split in 255-octet strings), CNAME (a name) and SOA
// ("mname rname serial refresh retry expire minimum"). nullopt for other types or bad input.
std::optional<std::vector<std::uint8_t>> rdata_from_text(std::uint16_t t, std::string_view text);
std::optional<std::string> rdata_to_text(std::uint16_t t, std::span<const std::uint8_t> rdata);
// The SOA serial from SOA RDATA.
std::optional<std::uint32_t> soa_serial(std::span<const std::uint8_t> rdata);

// RFC 2136 section 2.4 prerequisites and 2.5 updates. All carry TTL 0 except add_rr.
Rr prereq_rrset_exists_value(std::string name, std::uint16_t t, std::vector<std::uint8_t> rdata);
Rr prereq_rrset_exists(std::string name, std::uint16_t t);          // class ANY, no RDATA
Rr prereq_rrset_does_not_exist(std::string name, std::uint16_t t);  // class NONE, no RDATA
Rr update_delete_rrset(std::string name, std::uint16_t t);          // class ANY, no RDATA
Rr update_delete_rr(std::string name, std::uint16_t t, std::vector<std::uint8_t> rdata);
Rr update_add_rr(std::string name, std::uint16_t t, std::uint32_t ttl,
                 std::vector<std::uint8_t> rdata);

// Checks an UPDATE against RFC 2136 3.2 / 3.4 rules (prerequisite TTL 0; class ANY and NONE with
// empty RDATA in prerequisites; update class ANY/NONE with TTL 0, ANY with empty RDATA; one zone
// of type SOA; every name inside the zone). Returns an error text, or nullopt when valid.
std::optional<std::string> validate_update(const Message& m);

}  // namespace failoverd::actuate::dns
