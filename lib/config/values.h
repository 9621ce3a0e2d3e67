// Small, pure helpers of the config loader: value syntax checks and "did you mean" suggestions.
//
// No toml++ here, so each helper is unit-testable on plain strings. parse_duration and
// parse_host_port (declared in config/loader.h) are implemented in values.cc beside these.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace failoverd::config {

// Levenshtein distance between a and b, but stops counting at `cap`: returns cap + 1 for
// anything farther. Cheap enough to run against every known key on every unknown key.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap = 2);

// The candidate closest to `word` when it is within edit distance 2 (and not a wholesale
// rewrite of a very short word); empty when nothing is close. Ties go to the first candidate.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

// An id usable in logs, metrics labels and fences: 1..64 characters of [A-Za-z0-9._-].
bool is_valid_id(std::string_view id);

// Checks an http:// or https:// URL for a probe. `scheme` is "http" or "https". Returns an
// error message ("must start with ..."), or nullopt when the URL is usable.
std::optional<std::string> check_url(std::string_view url, std::string_view scheme);

// A DNS name written fully qualified: non-empty, ends with '.', labels of 1..63 characters and
// at most 253 characters overall.
bool is_fqdn(std::string_view name);

// True when `name` is `zone` or lies below it (both fully qualified; case-insensitive).
bool is_in_zone(std::string_view name, std::string_view zone);

// Textual IPv4 / IPv6 address checks (inet_pton).
bool is_ipv4(std::string_view text);
bool is_ipv6(std::string_view text);

// A duration the way it is written in config: 90s -> "1m30s", 0 -> "0s", 250ms -> "250ms".
// Sub-millisecond remainders are dropped (config durations have millisecond resolution).
std::string format_duration(std::chrono::nanoseconds d);

// Octal file mode as operators read it: 0644 -> "0644".
std::string format_mode(unsigned mode);

// A conservative pre-scan run before toml++: the most dotted key parts on one line (dots
// outside quotes in a [table] header, before '=', and in the keys of inline tables). toml++
// recurses once per level, and a hostile "a.a.a...." of a few hundred kilobytes overflows the
// stack, so the loader rejects input above a small limit first. Returns {line (1-based),
// depth} of the worst line.
struct KeyDepth {
  std::size_t line = 0;
  std::size_t depth = 0;
};
KeyDepth deepest_dotted_key(std::string_view text);

// The innermost array ('[') or inline table ('{') of a value that is still open at `line` and
// `column` (1-based, as toml++ reports them: columns count characters, not bytes), found by a
// scan that skips strings and comments and tells table headers from arrays. toml++ reports an
// unclosed array where it gave up, often many lines later; this is where it began. nullopt when
// none is open there.
struct OpenBracket {
  char bracket = 0;  // '[' or '{'
  std::size_t line = 0;
  std::size_t column = 0;
};
std::optional<OpenBracket> open_bracket_at(std::string_view text, std::size_t line,
                                           std::size_t column);

}  // namespace failoverd::config
