// notify/format.h: the bodies each format sends, which kinds a receiver gets, the bounded queue
// and which answers are retried; and the retry backoff a receiver's settings give.
#include "notify/format.h"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <random>

#include "core/backoff.h"

using namespace failoverd;
namespace json = boost::json;

namespace {

notify::Notice applied() {
  notify::Notice n;
  n.kind = "failover_applied";
  n.service = "www";
  n.from = {"east"};
  n.to = {"west"};
  n.generation = 7;
  n.reason = "automatic: east confirmed down";
  n.observer = "obs-a";
  n.time = "2026-01-02T03:04:05Z";
  return n;
}

}  // namespace

TEST_SUITE("notify") {
  TEST_CASE("json carries service, kind, regions, generation, reason, observer and time") {
    const auto o = json::parse(notify::format_json(applied())).as_object();
    CHECK(o.at("source") == "failoverd");
    CHECK(o.at("kind") == "failover_applied");
    CHECK(o.at("service") == "www");
    CHECK(o.at("from") == json::array{"east"});
    CHECK(o.at("to") == json::array{"west"});
    CHECK(o.at("generation") == 7);
    CHECK(o.at("reason") == "automatic: east confirmed down");
    CHECK(o.at("observer") == "obs-a");
    CHECK(o.at("time") == "2026-01-02T03:04:05Z");
    CHECK(o.at("summary") ==
          "www: failover applied east -> west (generation 7) on observer obs-a: automatic: east "
          "confirmed down");
  }

  TEST_CASE("an observer-wide notice has a null service and names the observer") {
    notify::Notice n;
    n.kind = "tilt_entered";
    n.observer = "obs-b";
    n.reason = "tilt";
    const auto o = json::parse(notify::format_json(n)).as_object();
    CHECK(o.at("service").is_null());
    CHECK(o.at("summary") == "observer obs-b: tilt entered: tilt");
  }

  TEST_CASE("slack is an incoming-webhook message with only text") {
    const auto o = json::parse(notify::format_slack(applied())).as_object();
    CHECK(o.size() == 1);
    CHECK(o.at("text").as_string().starts_with("[failoverd] www: failover applied east -> west"));
  }

  TEST_CASE("pagerduty: Events v2 trigger with routing key, dedup key and payload") {
    const auto o = json::parse(notify::format_pagerduty(applied(), "RKEY")).as_object();
    CHECK(o.at("routing_key") == "RKEY");
    CHECK(o.at("event_action") == "trigger");
    CHECK(o.at("dedup_key") == "failoverd/www/failover/7");
    const auto& p = o.at("payload").as_object();
    CHECK(p.at("source") == "obs-a");
    CHECK(p.at("severity") == "warning");
    CHECK(p.at("summary").as_string().starts_with("www: failover applied"));
    CHECK(p.at("custom_details").as_object().at("generation") == 7);
  }

  TEST_CASE("pagerduty: a freeze triggers and the unfreeze resolves the same incident") {
    notify::Notice frozen = applied();
    frozen.kind = "flip_budget_exhausted";
    notify::Notice unfrozen = applied();
    unfrozen.kind = "service_unfrozen";
    const auto a = json::parse(notify::format_pagerduty(frozen, "k")).as_object();
    const auto b = json::parse(notify::format_pagerduty(unfrozen, "k")).as_object();
    CHECK(a.at("event_action") == "trigger");
    CHECK(a.at("payload").as_object().at("severity") == "critical");
    CHECK(b.at("event_action") == "resolve");
    CHECK(a.at("dedup_key") == "failoverd/www/frozen");
    CHECK(b.at("dedup_key") == a.at("dedup_key"));
    CHECK_FALSE(b.contains("payload"));
    notify::Notice tilt;
    tilt.kind = "tilt_entered";
    tilt.observer = "o";
    notify::Notice left = tilt;
    left.kind = "tilt_left";
    CHECK(notify::pagerduty_dedup_key(tilt) == "failoverd/o/tilt");
    CHECK(notify::pagerduty_dedup_key(left) == "failoverd/o/tilt");
    CHECK(notify::pagerduty_action("tilt_left") == "resolve");
  }

  TEST_CASE("render picks the receiver's format") {
    config::Notify r;
    r.format = config::NotifyFormat::Slack;
    CHECK(json::parse(notify::render(r, applied(), "")).as_object().contains("text"));
    r.format = config::NotifyFormat::PagerDuty;
    CHECK(json::parse(notify::render(r, applied(), "k")).as_object().at("routing_key") == "k");
    r.format = config::NotifyFormat::Json;
    CHECK(json::parse(notify::render(r, applied(), "k")).as_object().at("kind") ==
          "failover_applied");
  }

  TEST_CASE("without an events list every kind but plan_refused is sent") {
    config::Notify r;
    for (auto kind : config::kNotifyEventKinds) {
      CHECK(notify::wanted(r, kind) == (kind != "plan_refused"));
    }
    r.events = {"plan_refused", "alert"};
    CHECK(notify::wanted(r, "plan_refused"));
    CHECK(notify::wanted(r, "alert"));
    CHECK_FALSE(notify::wanted(r, "failover_applied"));
  }

  TEST_CASE("the queue holds at most its capacity and drops the oldest") {
    notify::DropOldestQueue<int> q(3);
    CHECK_FALSE(q.push(1));
    CHECK_FALSE(q.push(2));
    CHECK_FALSE(q.push(3));
    CHECK(q.push(4));  // 1 goes
    CHECK(q.push(5));  // 2 goes
    CHECK(q.size() == 3);
    CHECK(q.pop() == 3);
    CHECK(q.pop() == 4);
    CHECK(q.pop() == 5);
    CHECK(q.empty());
    notify::DropOldestQueue<int> zero(0);  // at least one
    CHECK_FALSE(zero.push(1));
    CHECK(zero.push(2));
    CHECK(zero.pop() == 2);
  }

  TEST_CASE("5xx, 408 and 429 are retried; 2xx is delivered; other answers are final") {
    using O = notify::Outcome;
    CHECK(notify::classify_status(200) == O::Ok);
    CHECK(notify::classify_status(202) == O::Ok);
    CHECK(notify::classify_status(500) == O::Retry);
    CHECK(notify::classify_status(503) == O::Retry);
    CHECK(notify::classify_status(429) == O::Retry);
    CHECK(notify::classify_status(408) == O::Retry);
    CHECK(notify::classify_status(400) == O::Permanent);
    CHECK(notify::classify_status(404) == O::Permanent);
    CHECK(notify::classify_status(301) == O::Permanent);
    const auto& reasons = notify::failure_reasons();
    CHECK(std::find(reasons.begin(), reasons.end(), "http_5xx") != reasons.end());
    CHECK(std::find(reasons.begin(), reasons.end(), "timeout") != reasons.end());
    CHECK(std::find(reasons.begin(), reasons.end(), "connect") != reasons.end());
  }

  TEST_CASE("retry delays: full jitter under a ceiling that doubles up to retry_cap") {
    const config::Notify r;  // retry_base 1s, retry_cap 30s
    const core::BackoffPolicy p{std::chrono::duration_cast<core::Duration>(r.retry_base),
                                std::chrono::duration_cast<core::Duration>(r.retry_cap)};
    std::mt19937_64 rng(42);
    for (std::uint32_t attempt = 0; attempt < 70; ++attempt) {
      const auto ceiling = std::min<core::Duration>(
          p.cap, attempt < 6 ? p.base * (1 << attempt) : p.cap);
      core::Duration longest{0};
      for (int i = 0; i < 200; ++i) {
        const auto d = core::backoff_delay(p, attempt, rng);
        CHECK(d >= core::Duration::zero());
        CHECK(d <= ceiling);
        longest = std::max(longest, d);
      }
      CHECK(longest > ceiling / 2);  // jitter spans the range, not a fixed delay
    }
  }
}
