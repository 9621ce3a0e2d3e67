// expect_body_regex against large bodies: the match must not depend on the body's length for
// anything but time (no recursion per byte), up to the body_limit window.
#include <doctest/doctest.h>

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
