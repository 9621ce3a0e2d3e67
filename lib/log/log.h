// Structured logging to stderr: logfmt by default, JSON lines on request.
//
//   log::info("admin listening", {{"address", "127.0.0.1:8649"}});
//   -> ts=2026-11-23T09:42:01.123Z level=info msg="admin listening" address=127.0.0.1:8649
//
// Under systemd (JOURNAL_STREAM names our stderr) each line starts with a syslog priority prefix
// such as "<6>" so journald files it at the right level, and the timestamp is left to journald.
// Thread-safe: each line is formatted first, then written with one write(2).
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace failoverd::log {

enum class Level { Debug, Info, Warning, Error };
enum class Format { Logfmt, Json };

// One key=value pair. Numbers and bools are formatted here; strings are quoted as needed.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), raw(true) {}
  template <std::integral T>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, double v);

  std::string_view key;
  std::string value;
  bool raw = false;  // a number or bool: never quoted in JSON
};

struct Options {
  Format format = Format::Logfmt;
  Level level = Level::Info;
  // nullopt: detect from JOURNAL_STREAM. true/false: force.
  int journald = -1;
};

// Process-wide settings; call once from main (and again on reload). Not needed in tests.
void configure(const Options& options);
bool enabled(Level level);
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Warning, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Error, m, f); }

// `text` made safe to print on a terminal: control characters (C0, DEL, and C1 in UTF-8, among
// them ESC and CSI, which start terminal escape sequences), bidirectional overrides and newlines
// become \n, \r, \t or \uXXXX; bytes that are not UTF-8 become \xNN; a backslash is doubled. Other UTF-8 is kept.
std::string printable(std::string_view text);

// The formatted line (without the trailing newline and journald prefix); exposed for tests.
std::string format_line(Format format, Level level, std::string_view timestamp,
                        std::string_view msg, std::initializer_list<Field> fields);

}  // namespace failoverd::log
