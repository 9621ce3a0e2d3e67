// expect_body_regex against large bodies: the match must not depend on the body's length for
// anything but time (no recursion per byte), up to the body_limit window.
#include "probe/body_regex.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "probe/probe_support.h"
#include "probe/prober.h"
#include "support/hostile_server.h"

using namespace failoverd;
using namespace failoverd::probe;
using namespace failoverd::probe::test;
using namespace failoverd::testing;
using core::ProbeReason;
namespace asio = boost::asio;

namespace {

struct BigBodyCase {
  std::string pattern;
  std::string body;
  ProbeReason expected;
};

std::string repeat(std::string_view unit, std::size_t total) {
  std::string out;
  out.reserve(total);
  while (out.size() < total) out.append(unit.substr(0, total - out.size()));
  return out;
}

// Each pattern of the issue, against bodies from 30 KB up to the default body_limit (64 KiB):
// bodies it matches, and a full window it does not match (the whole window is searched).
std::vector<BigBodyCase> big_body_cases() {
  constexpr std::size_t kLimit = 64 * 1024;
  std::vector<BigBodyCase> cases;
  for (std::size_t size : {std::size_t{30'000}, std::size_t{40'000}, kLimit}) {
    cases.push_back({"ok.*", "ok" + repeat("x", size - 2), ProbeReason::Ok});
    cases.push_back({"ok[a-z]*", "ok" + repeat("a", size - 2), ProbeReason::Ok});
    cases.push_back({"a+$", repeat("a", size), ProbeReason::Ok});
    cases.push_back({"ok(a|b)*", "ok" + repeat("ab", size - 2), ProbeReason::Ok});
  }
  cases.push_back({"ok.*z", "ok" + repeat("x", kLimit - 2), ProbeReason::BodyMismatch});
  cases.push_back({"a+$", repeat("a", kLimit - 1) + "b", ProbeReason::BodyMismatch});
  cases.push_back({"ok(a|b)*c", "ok" + repeat("ab", kLimit - 2), ProbeReason::BodyMismatch});
  return cases;
}

// Random patterns from a small grammar of what the loader accepts: literals, ., classes,
// \d \w \s, groups (capturing and not), alternation, ^ and $, and every quantifier (*, +, ?,
// {n}, {n,}, {n,m}, each optionally lazy). Every pattern it makes is valid RE2 and valid
// ECMAScript with the same meaning for ASCII bodies without \r.
class PatternGen {
 public:
  explicit PatternGen(std::uint64_t seed) : rng_(seed) {}

  std::string pattern() {
    std::string out;
    alternation(out, 0);
    return out;
  }

  // A body over a small alphabet, so that patterns match often and fail late.
  std::string body(std::size_t size) {
    static constexpr std::string_view kAlphabet = "aaabbc0 \n";
    std::string out(size, 'a');
    for (char& c : out) c = kAlphabet[pick(kAlphabet.size())];
    return out;
  }

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

 private:
  void alternation(std::string& out, int depth) {
    const std::size_t branches = 1 + pick(2);
    for (std::size_t i = 0; i < branches; ++i) {
      if (i > 0) out += '|';
      sequence(out, depth);
    }
  }

  void sequence(std::string& out, int depth) {
    if (pick(6) == 0) out += '^';
    const std::size_t pieces = pick(4);
    for (std::size_t i = 0; i < pieces; ++i) piece(out, depth);
    if (pick(6) == 0) out += '$';
  }

  void piece(std::string& out, int depth) {
    atom(out, depth);
    switch (pick(10)) {
      case 0:
        out += '*';
        break;
      case 1:
        out += '+';
        break;
      case 2:
        out += '?';
        break;
      case 3: {
        const std::size_t n = pick(4);
        out += '{' + std::to_string(n) + '}';
        break;
      }
      case 4: {
        const std::size_t n = pick(4);
        out += '{' + std::to_string(n) + ",}";
        break;
      }
      case 5: {
        const std::size_t n = pick(4);
        out += '{' + std::to_string(n) + ',' + std::to_string(n + pick(4)) + '}';
        break;
      }
      default:
        return;  // no quantifier
    }
    if (pick(4) == 0) out += '?';  // lazy
  }

  void atom(std::string& out, int depth) {
    const std::size_t kinds = depth < 2 ? 8 : 6;
    switch (pick(kinds)) {
      case 0:
      case 1:
        out += "abc0 "[pick(5)];
        break;
      case 2:
        out += '.';
        break;
      case 3: {
        static constexpr std::string_view kClasses[] = {"[ab]", "[^a]", "[a-c]", "[^b\\n]", "[0 ]"};
        out += kClasses[pick(std::size(kClasses))];
        break;
      }
      case 4: {
        static constexpr std::string_view kEscapes[] = {"\\d", "\\w", "\\s", "\\D", "\\n"};
        out += kEscapes[pick(std::size(kEscapes))];
        break;
      }
      case 5:
        out += "ab";
        break;
      case 6:
        out += '(';
        alternation(out, depth + 1);
        out += ')';
        break;
      case 7:
        out += "(?:";
        alternation(out, depth + 1);
        out += ')';
        break;
    }
  }

  std::mt19937_64 rng_;
};

}  // namespace

TEST_SUITE("probe.body_regex") {
  TEST_CASE("a body regex over a body up to body_limit is matched, not a crash") {
    for (const BigBodyCase& c : big_body_cases()) {
      CAPTURE(c.pattern);
      CAPTURE(c.body.size());
      asio::io_context io;
      HostileOptions o;
      o.mode = HostileMode::Canned;
      o.canned = http_response(200, c.body);
      HostileServer server(io, o);
      Prober prober(io);
      auto ep = http_endpoint(local_url(server.port()), 5s);
      ep.http.expect_body_regex = c.pattern;
      ProbeResult r = run_probe(io, prober, ep);
      CHECK(r.outcome.reason == c.expected);
    }
  }
}

TEST_SUITE("probe.body_regex") {
  TEST_CASE("random patterns of the accepted syntax over random bodies up to body_limit") {
    constexpr std::uint64_t kSeed = 20261202;
    constexpr std::size_t kPatterns = 2000;
    constexpr std::size_t kLimit = 64 * 1024;
    PatternGen gen(kSeed);
    std::size_t compiled = 0, too_costly = 0, matched = 0;
    for (std::size_t i = 0; i < kPatterns; ++i) {
      const std::string pattern = gen.pattern();
      CAPTURE(kSeed);
      CAPTURE(i);
      CAPTURE(pattern);
      const BodyRegexResult re = compile_body_regex(pattern, kLimit);
      // The grammar makes only valid patterns: the one acceptable refusal is the cost bound.
      REQUIRE_MESSAGE(re.problem != BodyRegexResult::Problem::Syntax, re.error);
      if (re.problem == BodyRegexResult::Problem::TooCostly) {
        ++too_costly;
        continue;
      }
      REQUIRE(re.regex);
      ++compiled;
      // One body per pattern: a quarter at the full window, the rest anywhere up to it.
      const std::size_t size = gen.pick(4) == 0 ? kLimit : gen.pick(kLimit + 1);
      matched += re.regex->search(gen.body(size)) ? 1 : 0;
      // On short bodies, the meaning is the one std::regex (ECMAScript) gave the same pattern:
      // swapping the engine does not change what an existing expect_body_regex matches.
      for (int k = 0; k < 3; ++k) {
        const std::string small = gen.body(gen.pick(12));
        CAPTURE(small);
        const bool ecma = std::regex_search(small, std::regex(pattern, std::regex::ECMAScript));
        CHECK(re.regex->search(small) == ecma);
      }
    }
    MESSAGE(compiled << " compiled, " << too_costly << " over the cost bound, " << matched
                     << " matched their long body");
    // The grammar reaches both outcomes, or the test proves little.
    CHECK(compiled > kPatterns / 2);
    CHECK(matched > 0);
    CHECK(matched < compiled);
  }
}
