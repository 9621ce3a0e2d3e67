#include "oracle/decision.h"

#include <doctest/doctest.h>

#include <set>

using namespace failoverd::oracle;
using namespace std::chrono_literals;

namespace {

ServiceDecision www(Clock::time_point now) {
  ServiceDecision d;
  d.service = "www";
  d.regions = {"r1", "r2", "r3"};
  d.live_known = true;
  d.active = {"r1"};
  d.generation = 7;
  d.last_read_ok = now - 1s;
  d.stale_after = 70s;
  return d;
}

}  // namespace

TEST_SUITE("oracle") {
  TEST_CASE("oracle path secret: HMAC-SHA256 of the service name, 32 hex digits") {
    // HMAC-SHA256(key "0123456789abcdef", "failoverd-oracle/www"), computed independently with
    // `printf %s failoverd-oracle/www | openssl dgst -sha256 -hmac 0123456789abcdef`.
    const std::string s = path_secret("0123456789abcdef", "www");
    CHECK(s.size() == kPathSecretHexDigits);
    CHECK(s == "bdd5ec79a8889b1e24e090fda8371f95");
    CHECK(path_secret("0123456789abcdef", "api") != s);
    CHECK(path_secret("0123456789abcdeF", "www") != s);
    CHECK(s.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(same_secret(s, path_secret("0123456789abcdef", "www")));
    CHECK_FALSE(same_secret(s, s.substr(1)));
  }

  TEST_CASE("oracle routes: exactly /v1/oracle/service/secret/region") {
    auto r = parse_route("/v1/oracle/www/abc/r1?x=1");
    REQUIRE(r);
    CHECK(r->service == "www");
    CHECK(r->secret == "abc");
    CHECK(r->region == "r1");
    CHECK_FALSE(parse_route("/v1/oracle/www/abc"));
    CHECK_FALSE(parse_route("/v1/oracle/www/abc/r1/x"));
    CHECK_FALSE(parse_route("/v1/oracle/www//r1"));
    CHECK_FALSE(parse_route("/v1/oracle/www/abc/"));
    CHECK_FALSE(parse_route("/v1/status"));
    CHECK_FALSE(parse_route(""));
  }

  TEST_CASE("oracle logs redact the secret component") {
    CHECK(redact("/v1/oracle/www/0123456789abcdef/r1") == "/v1/oracle/www/<redacted>/r1");
    CHECK(redact("/v1/oracle/www/0123456789abcdef/r1?q") == "/v1/oracle/www/<redacted>/r1");
    CHECK(redact("/v1/oracle/www/0123456789abcdef") == "/v1/oracle/www/<redacted>");
    CHECK(redact("/v1/oracle/www") == "/v1/oracle/www");
    CHECK(redact("/x\r\n y") == "/x???y");
    CHECK(redact(std::string(500, 'a')).size() == 64);
  }

  TEST_CASE("oracle answers: 200 in the live set, 503 outside, 404 for an unknown region") {
    const auto now = Clock::now();
    ServiceDecision d = www(now);
    auto a = answer(d, "r1", now);
    CHECK(a.status == 200);
    CHECK(a.body ==
          "failoverd oracle service=www region=r1 serve=yes active=r1 generation=7 state=live\n");
    a = answer(d, "r2", now);
    CHECK(a.status == 503);
    CHECK(a.body ==
          "failoverd oracle service=www region=r2 serve=no active=r1 generation=7 state=live\n");
    a = answer(d, "r9", now);
    CHECK(a.status == 404);
    CHECK(a.body == "not found\n");

    d.active = {"r2", "r3"};
    CHECK(answer(d, "r1", now).status == 503);
    CHECK(answer(d, "r2", now).status == 200);
    CHECK(answer(d, "r3", now).body.find("active=r2,r3") != std::string::npos);
    CHECK(answer(d, "r3", now).body.size() < 5120);
  }

  TEST_CASE("oracle fail static: the last decision is kept and the body says why") {
    const auto now = Clock::now();
    ServiceDecision d = www(now);
    d.static_reason = "tilt";
    auto a = answer(d, "r1", now);
    CHECK(a.status == 200);
    CHECK(a.body.ends_with(" state=static reason=tilt\n"));
    CHECK(answer(d, "r2", now).status == 503);

    d.static_reason.reset();
    d.last_read_ok = now - 71s;
    a = answer(d, "r1", now);
    CHECK(a.status == 200);
    CHECK(a.body.ends_with(" state=static reason=live_read_stale\n"));
    d.last_read_ok.reset();
    CHECK(answer(d, "r1", now).body.ends_with(" state=static reason=live_read_stale\n"));
  }

  TEST_CASE("oracle starting: 503 everywhere until the live state is read") {
    const auto now = Clock::now();
    ServiceDecision d = www(now);
    d.live_known = false;
    d.active.clear();
    d.generation = 0;
    for (const char* r : {"r1", "r2", "r3"}) {
      auto a = answer(d, r, now);
      CHECK(a.status == 503);
      CHECK(a.body.ends_with(" serve=no active= generation=0 state=starting\n"));
    }
  }

  TEST_CASE("oracle never answers 503 for every region once a live set is known") {
    const auto now = Clock::now();
    ServiceDecision before = www(now);
    // Every live set the daemon can read back (its guards never write an empty one) serves at
    // least one configured region.
    for (auto active : std::vector<std::vector<std::string>>{{"r1"}, {"r2"}, {"r3"}, {"r1", "r3"}}) {
      ServiceDecision d = www(now);
      d.active = active;
      std::set<unsigned> statuses;
      for (const auto& r : d.regions) statuses.insert(answer(d, r, now).status);
      CHECK(statuses.count(200) == 1);
    }
    // A live set read back empty (someone else wrote the target) keeps the last one, static.
    ServiceDecision empty = www(now);
    empty.active.clear();
    empty.generation = 9;
    ServiceDecision kept = merge(&before, empty);
    CHECK(kept.active == std::vector<std::string>{"r1"});
    CHECK(kept.generation == 7);
    auto a = answer(kept, "r1", now);
    CHECK(a.status == 200);
    CHECK(a.body.ends_with(" state=static reason=live_empty\n"));
    // Merging again over the kept one still keeps it.
    CHECK(merge(&kept, empty).active == std::vector<std::string>{"r1"});
    // A fresh non-empty set replaces it.
    ServiceDecision next = www(now);
    next.active = {"r2"};
    CHECK(merge(&kept, next) == next);
  }
}
