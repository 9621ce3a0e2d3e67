// RFC 8945 TSIG: sign DNS messages and verify signed ones with HMAC (OpenSSL 3 EVP_MAC).
//
// Pure: no sockets, no clock reads (the caller passes the time in seconds since the epoch, since
// TSIG is defined on wall-clock time). Secrets stay in TsigKey and are never formatted.
//
// Only full-length MACs are produced and accepted (truncated MACs, RFC 8945 5.2.2.1, are refused
// as BADSIG). Verification never degrades to "unsigned is fine": a missing TSIG is Unsigned.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::actuate::tsig {

enum class Algorithm { HmacSha1, HmacSha256, HmacSha512 };
// "hmac-sha256" or "hmac-sha256." (case-insensitive); nullopt when unsupported.
std::optional<Algorithm> parse_algorithm(std::string_view name);
// The algorithm's domain name as carried in the TSIG RR: "hmac-sha256.".
std::string_view algorithm_name(Algorithm a);

struct Key {
  std::string name;  // "failoverd-key." (a domain name)
  Algorithm algorithm = Algorithm::HmacSha256;
  std::vector<std::uint8_t> secret;
};

// Standard base64 (whitespace ignored); nullopt on bad input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

inline constexpr std::uint16_t kDefaultFudge = 300;

struct SignResult {
  std::vector<std::uint8_t> wire;  // the message with the TSIG RR appended (ARCOUNT + 1)
  std::vector<std::uint8_t> mac;   // keep it: the response's MAC covers it
};
// Signs an encoded, unsigned message. `request_mac` is empty for a request; for a response it is
// the request's MAC. nullopt when the message is malformed (shorter than a header) or HMAC fails.
std::optional<SignResult> sign(std::span<const std::uint8_t> wire, const Key& key,
                               std::uint64_t time_signed, std::uint16_t fudge = kDefaultFudge,
                               std::span<const std::uint8_t> request_mac = {},
                               std::uint16_t error = 0);

enum class Status {
  Ok,
  Unsigned,   // no TSIG RR (last in the additional section)
  Malformed,  // undecodable message or TSIG RR
  BadKey,     // another key or algorithm, or the peer reported BADKEY
  BadSig,     // the MAC does not match, or the peer reported BADSIG
  BadTime,    // outside the fudge window, or the peer reported BADTIME
};
std::string_view to_string(Status s);

struct VerifyResult {
  Status status = Status::Malformed;
  std::uint16_t peer_error = 0;  // the TSIG error field the peer set (16/17/18 or 0)
  std::uint64_t time_signed = 0;
  std::vector<std::uint8_t> mac;  // the message's MAC (valid when status == Ok)
};
// Verifies a signed message: a response with the request's MAC, or a request with an empty
// `request_mac`. `now` is seconds since the epoch.
VerifyResult verify(std::span<const std::uint8_t> wire, const Key& key,
                    std::span<const std::uint8_t> request_mac, std::uint64_t now);

}  // namespace failoverd::actuate::tsig
