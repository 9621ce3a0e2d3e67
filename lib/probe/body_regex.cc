#include "probe/body_regex.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace failoverd::probe {

struct BodyRegex::Impl {
  explicit Impl(std::string_view pattern, const RE2::Options& options)
      : re(re2::StringPiece(pattern.data(), pattern.size()), options) {}
  RE2 re;
};

BodyRegex::BodyRegex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BodyRegex::~BodyRegex() = default;

bool BodyRegex::search(std::string_view body) const {
  // No submatches asked for: RE2 answers from its DFA (or the NFA when the DFA's cache is
  // exhausted), never by backtracking.
  return RE2::PartialMatch(re2::StringPiece(body.data(), body.size()), impl_->re);
}

BodyRegexResult compile_body_regex(std::string_view pattern, std::size_t body_limit) {
  RE2::Options options;
  // Bodies are bytes, not necessarily valid UTF-8: "." and classes work on bytes, as the
  // previous (std::regex over char) engine did, and a stray 0xff byte cannot defeat a match.
  options.set_encoding(RE2::Options::EncodingLatin1);
  // Errors are returned to the caller (the loader reports them with file:line:column); RE2
  // must not print them to stderr itself.
  options.set_log_errors(false);
  options.set_max_mem(static_cast<std::int64_t>(kBodyRegexMaxMem));
  BodyRegexResult out;
  auto impl = std::make_unique<BodyRegex::Impl>(pattern, options);
  if (!impl->re.ok()) {
    out.problem = BodyRegexResult::Problem::Syntax;
    out.error = impl->re.error();
    if (out.error.empty()) out.error = "does not compile";
    return out;
  }
  const auto size = static_cast<std::size_t>(std::max(impl->re.ProgramSize(), 1));
  const std::size_t allowed = kBodyRegexMaxCost / std::max<std::size_t>(body_limit, 1);
  if (size > allowed) {
    out.problem = BodyRegexResult::Problem::TooCostly;
    out.error = "is too large for body_limit " + std::to_string(body_limit) + ": " +
                std::to_string(size) + " RE2 instructions, at most " + std::to_string(allowed) +
                " (instructions x body_limit may be at most " + std::to_string(kBodyRegexMaxCost) +
                "); simplify the pattern (a repetition {n,m} costs m times its body) or lower "
                "body_limit";
    return out;
  }
  out.regex = std::make_shared<const BodyRegex>(std::move(impl));
  return out;
}

}  // namespace failoverd::probe
