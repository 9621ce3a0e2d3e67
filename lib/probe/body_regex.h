// The expect_body_regex engine, shared by the config loader (does the pattern compile?), the
// prober (does the body match?) and the regex fuzz target, so all three run the same code.
//
// The engine is RE2: matching takes time linear in the body's length, with no recursion and no
// backtracking, so no body (the prober keeps at most body_limit bytes of it) and no pattern the
// loader accepts can exhaust the stack or the CPU. RE2 syntax is accepted (Perl-like: literals,
// ., classes, \d \w \s \b, *, +, ?, {n,m}, lazy forms, groups, (?:...), (?i), alternation, ^ $);
// backreferences and lookaround are not (they are compile errors). The body is matched as bytes
// (RE2's Latin-1 mode): "." is one byte, and a non-ASCII literal matches its UTF-8 bytes.
//
// RE2's headers stay in body_regex.cc: this header names only an opaque type.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace failoverd::probe {

// Memory RE2 may use for one compiled pattern (its program and its lazily built DFA cache). A
// pattern whose program does not fit is a compile error; a body that would need more DFA states
// is matched with RE2's NFA instead (slower, still linear).
inline constexpr std::size_t kBodyRegexMaxMem = 1024 * 1024;

// Linear is not enough on the event loop: when a body defeats RE2's DFA (a hostile body can),
// the NFA's cost is (pattern size in RE2 instructions) x (body bytes), about 10 ns each on a
// 2-core test machine. So a pattern's instruction count times body_limit must not exceed this:
// 16 Mi, 256 instructions at the default body_limit of 64 KiB, a worst-case match of about
// 0.2 s there. (A simple DFA-friendly match of 64 KiB takes well under 1 ms.)
inline constexpr std::size_t kBodyRegexMaxCost = std::size_t{16} << 20;

class BodyRegex;

// compile_body_regex()'s answer: a compiled pattern, or why not.
struct BodyRegexResult {
  enum class Problem {
    None,
    Syntax,    // RE2 cannot compile it; `error` is RE2's reason ("invalid escape sequence: \1")
    TooCostly  // it compiles, but over kBodyRegexMaxCost; `error` says by how much and what to do
  };
  std::shared_ptr<const BodyRegex> regex;  // null unless problem is None
  Problem problem = Problem::None;
  std::string error;
};

// Compiles `pattern` with the options the daemon uses (Latin-1, kBodyRegexMaxMem, no logging to
// stderr) for bodies of at most `body_limit` bytes, refusing a pattern over kBodyRegexMaxCost.
// The loader and the prober both call it, so a pattern that loads is one that probes. Never
// throws; thread-safe.
BodyRegexResult compile_body_regex(std::string_view pattern, std::size_t body_limit);

// A compiled expect_body_regex. Immutable and safe to share between threads.
class BodyRegex {
 public:
  ~BodyRegex();
  BodyRegex(const BodyRegex&) = delete;
  BodyRegex& operator=(const BodyRegex&) = delete;

  // True when the pattern matches anywhere in `body` (an unanchored search, as the prober does
  // over its body window). Time linear in body.size(); no allocation beyond RE2's bounded cache.
  bool search(std::string_view body) const;

  struct Impl;  // the RE2 object (public only so body_regex.cc can construct it)
  explicit BodyRegex(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace failoverd::probe
