#include "admin/api.h"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace failoverd::admin;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// A hand-written fake: one service "www", records the last action, answers as told.
struct FakeControl : Control {
  json::value status() override { return json::object{{"services", json::array{"www"}}}; }
  std::optional<json::value> service(std::string_view name) override {
    if (name != "www") return std::nullopt;
    return json::object{{"name", "www"}};
  }
  ActionResult act(const ActionRequest& r) override {
    last = r;
    ++calls;
    return next;
  }
  json::value events(std::optional<std::uint64_t> cursor, std::size_t limit) override {
    return json::object{{"cursor", cursor ? json::value(*cursor) : json::value(nullptr)},
                        {"limit", limit}};
  }
  ActionRequest last;
  int calls = 0;
  ActionResult next;
};

const std::string kToken = "s3cret-token-0123456789";

struct Fixture {
  explicit Fixture(std::uint32_t rate_per_second = 1000) {
    TokenSet tokens;
    REQUIRE_FALSE(TokenSet::parse("# operators\nalice:" + kToken + "\n\nbob: other-token-abcdefghij\n", tokens));
    api = std::make_unique<Api>(control, std::move(tokens), ApiOptions{rate_per_second});
  }
  Response call(std::string method, std::string target, std::string body = {},
                std::optional<std::string> token = kToken, std::string peer = "127.0.0.1:40000") {
    Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.peer = std::move(peer);
    if (token) r.headers["authorization"] = "Bearer " + *token;
    return api->handle(r, now);
  }
  FakeControl control;
  std::unique_ptr<Api> api;
  Clock::time_point now{};
};

json::value body(const Response& r) { return json::parse(r.body); }

}  // namespace

TEST_SUITE("admin.api") {
  TEST_CASE("token files are name:token lines and reject malformed ones by line") {
    TokenSet t;
    CHECK(TokenSet::parse("alice " + kToken, t) == std::optional<std::string>("line 1: expected name:token"));
    CHECK(TokenSet::parse("\n\nal ice:" + kToken, t) ==
          std::optional<std::string>("line 3: token name may use only A-Z a-z 0-9 . _ -"));
    CHECK(TokenSet::parse("alice:short", t) ==
          std::optional<std::string>("line 1: token for 'alice' is shorter than 16 characters"));
    REQUIRE_FALSE(TokenSet::parse("alice:" + kToken, t));
    CHECK(t.authenticate(kToken) == std::optional<std::string>("alice"));
    CHECK_FALSE(t.authenticate(kToken + "x"));
    CHECK_FALSE(t.authenticate(kToken.substr(1)));
    CHECK_FALSE(t.authenticate(""));
  }

  TEST_CASE("every /v1 call needs a valid bearer token") {
    Fixture f;
    SUBCASE("none") { CHECK(f.call("GET", "/v1/status", {}, std::nullopt).status == 401); }
    SUBCASE("wrong") { CHECK(f.call("GET", "/v1/status", {}, "nope-nope-nope-nope").status == 401); }
    SUBCASE("right") { CHECK(f.call("GET", "/v1/status").status == 200); }
    auto r = f.call("POST", "/v1/services/www/freeze", R"({"reason":"x"})", std::nullopt);
    CHECK(r.status == 401);
    CHECK(f.control.calls == 0);
  }

  TEST_CASE("with no token file the API refuses everything") {
    FakeControl c;
    Api api(c, TokenSet{}, {});
    Request r;
    r.method = "GET";
    r.target = "/v1/status";
    r.headers["authorization"] = "Bearer " + kToken;
    auto res = api.handle(r, Clock::time_point{});
    CHECK(res.status == 401);
    CHECK(body(res).at("error") == "admin API disabled: set admin.token_file in the config");
  }

  TEST_CASE("a mutating call reaches the control with who, what and why") {
    Fixture f;
    f.control.next.body = json::object{{"generation", 8}};
    auto r = f.call("POST", "/v1/services/www/failover",
                    R"({"region":"west","reason":"drill","force":true})");
    CHECK(r.status == 200);
    CHECK(body(r).at("generation") == 8);
    CHECK(f.control.last.action == Action::Failover);
    CHECK(f.control.last.service == "www");
    CHECK(f.control.last.region == "west");
    CHECK(f.control.last.reason == "drill");
    CHECK(f.control.last.force);
    CHECK(f.control.last.who == "alice");
    CHECK(f.call("POST", "/v1/services/www/pin", R"({"region":"west","reason":"dr"})").status ==
          200);
    CHECK(f.control.last.action == Action::Pin);
    CHECK(f.control.last.region == "west");
    CHECK(f.call("POST", "/v1/services/www/unpin").status == 200);
    CHECK(f.control.last.action == Action::Unpin);
  }

  TEST_CASE("the control's answers map to the documented status codes") {
    Fixture f;
    using K = ActionResult::Kind;
    f.control.next = {K::Refused, "would publish an empty set", "empty_set", {}};
    auto r = f.call("POST", "/v1/services/www/unfreeze");
    CHECK(r.status == 422);
    CHECK(body(r).at("rule") == "empty_set");
    f.control.next = {K::Conflict, "frozen", "", {}};
    CHECK(f.call("POST", "/v1/services/www/approve").status == 409);
    f.control.next = {K::NotFound, "no proposal", "", {}};
    CHECK(f.call("POST", "/v1/services/www/approve").status == 404);
  }

  TEST_CASE("malformed requests get 400, unknown things 404, wrong methods 405") {
    Fixture f;
    CHECK(f.call("POST", "/v1/services/www/failover", "{not json").status == 400);
    CHECK(f.call("POST", "/v1/services/www/failover", "[1]").status == 400);
    CHECK(f.call("POST", "/v1/services/www/failover", R"({"reason":"x"})").status == 400);
    CHECK(f.call("POST", "/v1/services/www/failover", R"({"region":"w"})").status == 400);
    CHECK(f.call("POST", "/v1/services/www/freeze", R"({"reason":"x","extra":1})").status == 400);
    CHECK(f.call("POST", "/v1/services/www/freeze", R"({"reason":7})").status == 400);
    CHECK(f.call("POST", "/v1/services/www/pin", R"({"reason":"x"})").status == 400);
    CHECK(f.call("POST", "/v1/services/www/pin", R"({"region":"w"})").status == 400);
    CHECK(f.call("GET", "/v1/services/w%20w").status == 400);
    CHECK(f.call("GET", "/v1/events?cursor=abc").status == 400);
    CHECK(f.call("GET", "/v1/events?limit=0").status == 400);
    CHECK(f.call("GET", "/v1/services/nope").status == 404);
    CHECK(f.call("POST", "/v1/services/www/explode").status == 404);
    CHECK(f.call("GET", "/v1/nothing").status == 404);
    CHECK(f.call("GET", "/v1/services/www/freeze").status == 405);
    CHECK(f.call("POST", "/v1/status").status == 405);
    CHECK(f.control.calls == 0);
  }

  TEST_CASE("request bytes echoed in an error keep the reply valid JSON") {
    Fixture f;
    auto r = f.call("POST", "/v1/services/www/fai\xealover");
    CHECK(r.status == 404);
    CHECK(body(r).at("error") == "unknown action 'fai?lover'");
  }

  TEST_CASE("events pass cursor and limit through") {
    Fixture f;
    auto b = body(f.call("GET", "/v1/events?cursor=17&limit=5"));
    CHECK(b.at("cursor") == 17);
    CHECK(b.at("limit") == 5);
  }

  TEST_CASE("an operator over its token's rate gets 429 and recovers as time passes") {
    Fixture f(5);
    for (int i = 0; i < 5; ++i) CHECK(f.call("GET", "/v1/status").status == 200);
    CHECK(f.call("GET", "/v1/status").status == 429);
    // The budget is the token's, wherever it comes from; another token has its own.
    CHECK(f.call("GET", "/v1/status", {}, kToken, "127.0.0.2:1").status == 429);
    CHECK(f.call("GET", "/v1/status", {}, "other-token-abcdefghij", "127.0.0.2:1").status == 200);
    f.now += std::chrono::milliseconds(400);
    CHECK(f.call("GET", "/v1/status").status == 200);
    CHECK(f.call("GET", "/v1/status").status == 200);
    CHECK(f.call("GET", "/v1/status").status == 429);
  }

  TEST_CASE("unauthenticated requests cannot spend an operator's budget from the same address") {
    Fixture f(50);
    for (int i = 0; i < 120; ++i) {
      auto status = f.call("GET", "/v1/status", {}, std::nullopt).status;
      CHECK((i < 50 ? status == 401 : status == 429));
    }
    for (int i = 0; i < 10; ++i) CHECK(f.call("GET", "/v1/status").status == 200);
    CHECK(f.call("GET", "/v1/status", {}, "nope-nope-nope-nope").status == 429);
  }

  TEST_CASE("many client addresses never reset the budget of one that used it up") {
    Fixture f(5);
    const std::string flooder = "127.0.0.1:40000";
    for (int i = 0; i < 5; ++i)
      CHECK(f.call("GET", "/v1/status", {}, std::nullopt, flooder).status == 401);
    CHECK(f.call("GET", "/v1/status", {}, std::nullopt, flooder).status == 429);
    SUBCASE("1,030 other addresses (the old table wiped itself at 1,024)") {
      for (int i = 0; i < 1030; ++i) {
        auto peer = "127.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":1";
        CHECK(f.call("GET", "/v1/status", {}, std::nullopt, peer).status == 401);
      }
      CHECK(f.call("GET", "/v1/status", {}, std::nullopt, flooder).status == 429);
    }
    SUBCASE("more addresses than the table holds: evicted ones come back empty, not full") {
      const std::size_t n = Api::kMaxAddresses + 10;
      int refused = 0;
      for (std::size_t i = 0; i < n; ++i) {
        auto peer = "127.2." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":1";
        if (f.call("GET", "/v1/status", {}, std::nullopt, peer).status == 429) ++refused;
      }
      // The table had room for all but the flooder's entry and the last few: those start empty.
      CHECK(refused == 11);
      // The flooder was the least recently seen and was forgotten: it does not come back full.
      CHECK(f.call("GET", "/v1/status", {}, std::nullopt, flooder).status == 429);
      // Budgets still refill with time.
      f.now += std::chrono::seconds(1);
      CHECK(f.call("GET", "/v1/status", {}, std::nullopt, flooder).status == 401);
    }
    // The operator was never affected.
    CHECK(f.call("GET", "/v1/status", {}, kToken, flooder).status == 200);
  }

  TEST_CASE("responses say whether the request was authenticated") {
    Fixture f;
    CHECK_FALSE(f.call("GET", "/v1/status", {}, std::nullopt).authenticated);
    CHECK_FALSE(f.call("GET", "/v1/status", {}, "nope-nope-nope-nope").authenticated);
    CHECK(f.call("GET", "/v1/status").authenticated);
    CHECK(f.call("GET", "/v1/nothing").authenticated);
  }

  TEST_CASE("HEAD is answered like GET") {
    Fixture f;
    CHECK(f.call("HEAD", "/v1/status").status == 200);
    CHECK(f.call("HEAD", "/v1/services/www").status == 200);
    CHECK(f.call("HEAD", "/v1/events").status == 200);
  }
}

TEST_SUITE("admin.api") {
  TEST_CASE("no /v1 reply may be cached: the data is current state, errors included") {
    Fixture f;
    auto header = [](const Response& r, std::string_view name) {
      for (const auto& [n, v] : r.headers) {
        if (n == name) return v;
      }
      return std::string();
    };
    for (const Response& r : {f.call("GET", "/v1/status"), f.call("GET", "/v1/events"),
                              f.call("GET", "/v1/status", {}, std::nullopt),
                              f.call("GET", "/v1/nothing")}) {
      CHECK(header(r, "Cache-Control") == "no-store");
      CHECK(header(r, "X-Content-Type-Options") == "nosniff");
    }
  }
}
