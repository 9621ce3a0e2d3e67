#include "config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>

#include "config/loader.h"

namespace failoverd::config {

namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t nanos;
};

// Longest suffix first so "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 5> kUnits{{
    {"ms", 1'000'000},
    {"d", 86'400'000'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
}};

constexpr std::array<Unit, 5> kUnitsDescending{{
    {"d", 86'400'000'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  // Each unit may appear once and units go from largest to smallest ("1h30m", not "30m1h"),
  // so a value has one obvious reading.
  std::int64_t previous_unit = INT64_MAX;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t digits_end = i;
    while (digits_end < text.size() && is_digit(text[digits_end])) ++digits_end;
    if (digits_end == i || digits_end - i > 18) return std::nullopt;
    std::int64_t number = 0;
    std::from_chars(text.data() + i, text.data() + digits_end, number);
    i = digits_end;
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(i, u.suffix.size()) == u.suffix) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr || unit->nanos >= previous_unit) return std::nullopt;
    previous_unit = unit->nanos;
    i += unit->suffix.size();
    std::int64_t part = 0;
    if (__builtin_mul_overflow(number, unit->nanos, &part)) return std::nullopt;
    if (__builtin_add_overflow(total, part, &total)) return std::nullopt;
  }
  return Duration(total);
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ipv6(host)) return std::nullopt;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An unbracketed IPv6 address is ambiguous ("::1:53"): insist on brackets.
    if (host.empty() || host.find(':') != std::string_view::npos) return std::nullopt;
    for (char c : host) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
        return std::nullopt;
      }
    }
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : port) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap) {
  const std::size_t length_gap = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (length_gap > cap) return cap + 1;
  // Two rows of the classic dynamic programme; strings here are short key names.
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    std::size_t row_min = current[0];
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
      row_min = std::min(row_min, current[j]);
    }
    if (row_min > cap) return cap + 1;
    std::swap(previous, current);
  }
  return std::min(previous[b.size()], cap + 1);
}

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::size_t best = 3;
  std::string_view best_word;
  for (std::string_view candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate, 2);
    // "id" vs "ab" is distance 2 but no real hint: the distance must be below the word length.
    if (d < best && d < word.size()) {
      best = d;
      best_word = candidate;
    }
  }
  return std::string(best_word);
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::optional<std::string> check_url(std::string_view url, std::string_view scheme) {
  const std::string prefix = std::string(scheme) + "://";
  if (url.substr(0, prefix.size()) != prefix) {
    return "must start with \"" + prefix + "\" for kind \"" + std::string(scheme) + "\"";
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return std::string("must not contain spaces or control characters");
    }
  }
  const std::string_view rest = url.substr(prefix.size());
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return std::string("has no host");
  if (authority.find('@') != std::string_view::npos) {
    return std::string("must not carry credentials (user@host); use headers instead");
  }
  const bool has_port = authority.front() == '[' ? authority.find("]:") != std::string_view::npos
                                                 : authority.find(':') != std::string_view::npos;
  const std::string with_port = has_port
                                    ? std::string(authority)
                                    : std::string(authority) + (scheme == "https" ? ":443" : ":80");
  if (!parse_host_port(with_port))
    return "has a malformed host or port \"" + std::string(authority) + "\"";
  return std::nullopt;
}

bool is_fqdn(std::string_view name) {
  if (name.size() < 2 || name.size() > 254 || name.back() != '.') return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i + 1 < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

bool is_in_zone(std::string_view name, std::string_view zone) {
  if (name.size() < zone.size()) return false;
  const std::string_view tail = name.substr(name.size() - zone.size());
  for (std::size_t i = 0; i < zone.size(); ++i) {
    if (lower(tail[i]) != lower(zone[i])) return false;
  }
  return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

bool is_ipv4(std::string_view text) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

std::string format_duration(std::chrono::nanoseconds d) {
  std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms <= 0) return "0s";
  std::string out;
  // Largest unit first, as parse_duration requires.
  for (const Unit& u : kUnitsDescending) {
    const std::int64_t unit_ms = u.nanos / 1'000'000;
    if (ms >= unit_ms) {
      out += std::to_string(ms / unit_ms);
      out += u.suffix;
      ms %= unit_ms;
    }
  }
  return out;
}

std::string format_mode(unsigned mode) {
  std::string out = "0";
  for (int shift = 6; shift >= 0; shift -= 3) {
    out += static_cast<char>('0' + ((mode >> shift) & 7U));
  }
  return out;
}

KeyDepth deepest_dotted_key(std::string_view text) {
  KeyDepth worst;
  std::size_t line = 1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view row = text.substr(pos, end - pos);
    const std::size_t first = row.find_first_not_of(" \t");
    // A line starting with '[' is taken as a table header; inside a multi-line array it may be
    // a nested array instead, which only over-counts a few dots.
    const bool header = first != std::string_view::npos && row[first] == '[';
    // Dots count only where keys are: before '=', and after '{' or ',' inside an inline table
    // ("x = { a.b.c = 1 }"), never in values such as floats.
    bool in_key = true;
    std::size_t dots = 0;
    char quote = 0;
    std::string stack;  // open '{' and '[' of the value part, innermost last
    for (std::size_t i = 0; i < row.size(); ++i) {
      const char c = row[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#') {
        break;
      } else if (header && stack.empty() && in_key) {
        // The header's key ends at its closing bracket.
        if (c == ']') in_key = false;
        if (c == '.') ++dots;
      } else if (c == '=') {
        in_key = false;
      } else if (c == '{' || c == '[') {
        if (stack.size() < 4096) stack.push_back(c);
        in_key = c == '{';
      } else if (c == '}' || c == ']') {
        if (!stack.empty()) stack.pop_back();
      } else if (c == ',') {
        in_key = !stack.empty() && stack.back() == '{';
      } else if (c == '.' && in_key) {
        ++dots;
      }
    }
    if (dots > worst.depth) worst = {line, dots};
    pos = end + 1;
    ++line;
  }
  return worst;
}

std::optional<OpenBracket> open_bracket_at(std::string_view text, std::size_t line,
                                           std::size_t column) {
  // Bounded memory on hostile input: brackets nested deeper than this are only counted.
  constexpr std::size_t kMaxTracked = 4096;
  std::vector<OpenBracket> open;
  std::size_t untracked = 0;
  bool in_value = false;  // after '=' of a top-level key, until the end of its line
  std::size_t l = 1;
  std::size_t col = 1;
  std::size_t i = 0;
  const auto step = [&] {
    const auto c = static_cast<unsigned char>(text[i++]);
    if (c == '\n') {
      ++l;
      col = 1;
    } else if ((c & 0xC0U) != 0x80U) {  // UTF-8 continuation bytes are no new character
      ++col;
    }
  };
  const auto reached = [&] { return l > line || (l == line && col >= column); };
  // Skips the string starting at i (a quote character), single- or multi-line.
  const auto skip_string = [&] {
    const char quote = text[i];
    const std::string_view triple = quote == '"' ? "\"\"\"" : "'''";
    const bool multi = text.substr(i, 3) == triple;
    for (int k = multi ? 3 : 1; k > 0; --k) step();
    while (i < text.size() && !reached()) {
      const char c = text[i];
      if (c == '\\' && quote == '"') {
        step();
        if (i < text.size()) step();
        continue;
      }
      if (c == '\n' && !multi) return;  // unterminated: toml++ reports it
      if (c == quote && (!multi || text.substr(i, 3) == triple)) {
        for (int k = multi ? 3 : 1; k > 0; --k) step();
        return;
      }
      step();
    }
  };
  while (i < text.size() && !reached()) {
    const char c = text[i];
    const bool nested = !open.empty() || untracked > 0;
    if (c == '"' || c == '\'') {
      skip_string();
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n' && !reached()) step();
    } else if (!nested && !in_value && c == '[') {
      // A table header: its brackets are no array.
      while (i < text.size() && text[i] != '\n' && !reached()) {
        if (text[i] == '"' || text[i] == '\'') {
          skip_string();
        } else {
          step();
        }
      }
    } else if (!nested && !in_value && c == '=') {
      in_value = true;
      step();
    } else if (!nested && c == '\n') {
      in_value = false;
      step();
    } else if (c == '[' || c == '{') {
      if (open.size() < kMaxTracked) {
        open.push_back({c, l, col});
      } else {
        ++untracked;
      }
      step();
    } else if (c == ']' || c == '}') {
      if (untracked > 0) {
        --untracked;
      } else if (!open.empty()) {
        open.pop_back();
      }
      step();
    } else {
      step();
    }
  }
  if (open.empty() || untracked > 0) return std::nullopt;
  return open.back();
}

}  // namespace failoverd::config
