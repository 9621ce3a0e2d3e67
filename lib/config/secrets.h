// The contents of secret files, parsed the same way by the loader (so --check-config reports a
// bad secret before start-up would refuse it) and by the code that uses them.
//
//   - TSIG secrets: standard base64, whitespace ignored, non-empty once decoded.
//   - Admin token files: "name:token" lines; '#' comments and blank lines ignored; names of
//     [A-Za-z0-9._-] (1 to 128 characters); tokens of at least 16 characters.
//   - One-line secrets (a notification's routing key, bearer token or webhook URL): the file's
//     first line, surrounding whitespace trimmed; non-empty, nothing but blank lines after it.
//
// Pure: no file access here (the loader and the runtime read the files).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::config {

// 1 to 128 characters of [A-Za-z0-9._-]: a token's name (and, in the admin API, a service name
// in a path).
bool is_plain_name(std::string_view s);

// Standard base64 (whitespace ignored); nullopt on bad input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

struct NamedToken {
  std::string name;
  std::string token;
};

inline constexpr std::size_t kMinTokenLength = 16;

// Parses a token file's text into `out` (replaced only on success). Returns an error naming the
// line ("line 3: expected name:token") on a malformed one. A file of only comments yields none.
std::optional<std::string> parse_token_lines(std::string_view text, std::vector<NamedToken>& out);

// The secret of a one-line secret file, or nullopt when the file holds no such line.
std::optional<std::string> parse_line_secret(std::string_view text);

}  // namespace failoverd::config
