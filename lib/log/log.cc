#include "log/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace failoverd::log {
namespace {

std::atomic<Format> g_format{Format::Logfmt};
std::atomic<Level> g_level{Level::Info};
std::atomic<bool> g_journald{false};

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
  }
  return "info";
}

// syslog priorities: err=3, warning=4, info=6, debug=7
char priority_digit(Level l) {
  switch (l) {
    case Level::Debug: return '7';
    case Level::Info: return '6';
    case Level::Warning: return '4';
    case Level::Error: return '3';
  }
  return '6';
}

// JOURNAL_STREAM is "dev:inode" of the stream systemd connected; it only counts if stderr is it.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

// Length of the well-formed UTF-8 sequence at s[i] (2 to 4), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) n = 3;
  else if (b >= 0xF0 && b <= 0xF4) n = 4;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0U) != 0x80U) return 0;
  }
  return n;
}

void append_logfmt_value(std::string& out, std::string_view v, bool raw) {
  if (raw || !needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  append_escaped(out, v);
  out += '"';
}

void append_json_string(std::string& out, std::string_view v) {
  out += '"';
  append_escaped(out, v);
  out += '"';
}

std::string now_timestamp() {
  // Wall-clock time, for display only.
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), raw(true) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

void configure(const Options& options) {
  g_format = options.format;
  g_level = options.level;
  g_journald = options.journald < 0 ? stderr_is_journal() : options.journald > 0;
}

bool enabled(Level level) { return static_cast<int>(level) >= static_cast<int>(g_level.load()); }

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char buf[8];
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const std::size_t n = utf8_length(text, i); n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      const auto third = n >= 3 ? static_cast<unsigned char>(text[i + 2]) : 0U;
      if (c == 0xC2 && second >= 0x80 && second <= 0x9F) {  // C1 control, U+0080..U+009F
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(second));
        out += buf;
      } else if (c == 0xE2 && ((second == 0x80 && ((third >= 0x8E && third <= 0x8F) ||
                                                   (third >= 0xAA && third <= 0xAE))) ||
                               (second == 0x81 && third >= 0xA6 && third <= 0xA9))) {
        // Bidirectional marks, embeddings, overrides and isolates (U+200E/F, U+202A..E,
        // U+2066..9): they reorder what the terminal shows.
        const unsigned cp = 0x2000U | ((second & 0x3FU) << 6U) | (third & 0x3FU);
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        out += buf;
      } else {
        out.append(text.substr(i, n));
      }
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

std::string format_line(Format format, Level level, std::string_view timestamp,
                        std::string_view msg, std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(128);
  if (format == Format::Json) {
    out += '{';
    if (!timestamp.empty()) {
      out += "\"ts\":";
      append_json_string(out, timestamp);
      out += ',';
    }
    out += "\"level\":";
    append_json_string(out, level_name(level));
    out += ",\"msg\":";
    append_json_string(out, msg);
    for (const Field& f : fields) {
      out += ',';
      append_json_string(out, f.key);
      out += ':';
      if (f.raw) {
        out += f.value;
      } else {
        append_json_string(out, f.value);
      }
    }
    out += '}';
    return out;
  }
  if (!timestamp.empty()) {
    out += "ts=";
    out += timestamp;
    out += ' ';
  }
  out += "level=";
  out += level_name(level);
  out += " msg=";
  append_logfmt_value(out, msg, false);
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_logfmt_value(out, f.value, f.raw);
  }
  return out;
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  bool journald = g_journald.load();
  std::string line;
  if (journald) {
    line = "<";
    line += priority_digit(level);
    line += '>';
    line += format_line(g_format.load(), level, {}, msg, fields);
  } else {
    line = format_line(g_format.load(), level, now_timestamp(), msg, fields);
  }
  line += '\n';
  // One write(2) per line so concurrent writers never interleave within a line.
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace failoverd::log
