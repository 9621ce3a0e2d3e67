#include "notify/notifier.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "actuate/http_client.h"
#include "config/secrets.h"
#include "core/backoff.h"
#include "log/log.h"
#include "state/atomic_file.h"

namespace failoverd::notify {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxSecretBytes = 64 * 1024;
// A receiver's answer is not used; a small limit keeps a hostile one from costing memory.
constexpr std::size_t kMaxResponseBytes = 64 * 1024;

std::string_view format_name(config::NotifyFormat f) {
  switch (f) {
    case config::NotifyFormat::Json: return "json";
    case config::NotifyFormat::Slack: return "slack";
    case config::NotifyFormat::PagerDuty: return "pagerduty";
  }
  return "json";
}

std::optional<std::string> read_line_secret(const std::string& path, std::string& out) {
  auto file = state::read_file(path, kMaxSecretBytes);
  if (!file.contents) return path + ": " + (file.missing ? "missing" : file.error);
  auto line = config::parse_line_secret(*file.contents);
  if (!line) return path + ": must hold one non-empty line";
  out = std::move(*line);
  return std::nullopt;
}

}  // namespace

struct Notifier::Sink {
  Sink(asio::io_context& io, config::Notify c, std::uint64_t seed)
      : config(std::move(c)), queue(config.queue_size), timer(io), stop_signal(io), rng(seed) {
    stop_signal.expires_at(asio::steady_timer::time_point::max());
  }
  config::Notify config;
  actuate::HttpUrl url;
  std::string secret;  // routing key (pagerduty) or bearer token (json); never logged
  DropOldestQueue<Notice> queue;
  asio::steady_timer timer;  // backoff between tries
  asio::steady_timer stop_signal;  // never expires; stop() cancels it to abandon a try
  std::mt19937_64 rng;
  bool running = false;
  bool stopped = false;
};

Notifier::Notifier(asio::io_context& io, std::vector<config::Notify> receivers,
                   metrics::Metrics& metrics, std::uint64_t seed)
    : io_(io), metrics_(metrics) {
  for (auto& r : receivers) sinks_.push_back(std::make_shared<Sink>(io, std::move(r), seed++));
}

Notifier::~Notifier() { stop(); }

std::optional<std::string> Notifier::start() {
  for (auto& s : sinks_) {
    const auto& c = s->config;
    const std::string who = "notify " + c.name + ": ";
    std::string url = c.url;
    if (!c.url_file.empty()) {
      if (auto err = read_line_secret(c.url_file, url)) return who + "url_file " + *err;
    }
    auto parsed = actuate::parse_web_url(url);
    if (!parsed) return who + "the URL is not a usable http:// or https:// URL";
    s->url = std::move(*parsed);
    if (!c.secret_file.empty()) {
      if (auto err = read_line_secret(c.secret_file, s->secret)) return who + "secret_file " + *err;
    }
    metrics_.notify_counters(c.name, failure_reasons());
    log::info("notify receiver", {{"notify", c.name}, {"format", format_name(c.format)},
                                  {"https", s->url.tls}, {"queue_size", c.queue_size}});
  }
  return std::nullopt;
}

namespace {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// One receiver's sender: delivers its queue in order until it is empty, then ends (submit()
// starts it again). Holds the sink alive while it runs.
template <typename SinkT>
asio::awaitable<void> drain(std::shared_ptr<SinkT> s, metrics::Metrics& metrics) {
  const auto& c = s->config;
  const core::BackoffPolicy backoff{std::chrono::duration_cast<core::Duration>(c.retry_base),
                                    std::chrono::duration_cast<core::Duration>(c.retry_cap)};
  auto executor = co_await asio::this_coro::executor;
  while (!s->stopped && !s->queue.empty()) {
    Notice notice = s->queue.pop();
    actuate::HttpRequest request;
    request.method = "POST";
    request.target = "";
    request.body = render(c, notice, s->secret);
    if (c.format == config::NotifyFormat::Json && !s->secret.empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + s->secret);
    }
    if (s->url.base_path.empty()) request.target = "/";
    actuate::HttpLimits limits;
    limits.step_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(c.timeout);
    limits.max_response_bytes = kMaxResponseBytes;
    limits.ca_file = c.ca_file;
    std::string reason;
    std::string detail;
    bool sent = false;
    for (std::uint32_t attempt = 0;; ++attempt) {
      // A try in flight is abandoned at stop(), so that a hanging receiver cannot hold up the
      // daemon's exit for its timeout.
      auto raced = co_await (actuate::http_exchange(executor, s->url, request, limits) ||
                             s->stop_signal.async_wait(kNoThrow));
      if (raced.index() == 1 || s->stopped) co_return;
      auto r = std::get<0>(std::move(raced));
      Outcome outcome = Outcome::Retry;
      if (r.ok()) {
        outcome = classify_status(r.status);
        reason = r.status >= 500 ? "http_5xx" : r.status >= 400 ? "http_4xx" : "http_other";
        detail = "HTTP status " + std::to_string(r.status);
      } else {
        reason = std::string(actuate::to_string(r.error));
        detail = r.detail;
      }
      if (outcome == Outcome::Ok) {
        sent = true;
        break;
      }
      if (outcome == Outcome::Permanent || attempt >= c.max_retries) break;
      const auto delay = core::backoff_delay(backoff, attempt, s->rng);
      log::debug("notification retry", {{"notify", c.name}, {"kind", notice.kind},
                                        {"attempt", attempt + 1}, {"reason", reason},
                                        {"detail", detail}});
      s->timer.expires_after(delay);
      co_await s->timer.async_wait(kNoThrow);
      if (s->stopped) co_return;
    }
    if (sent) {
      metrics.notify_sent(c.name);
      log::debug("notification sent", {{"notify", c.name}, {"kind", notice.kind}});
    } else {
      metrics.notify_failed(c.name, reason);
      log::warn("notification failed", {{"notify", c.name}, {"kind", notice.kind},
                                        {"service", notice.service}, {"reason", reason},
                                        {"detail", detail}});
    }
  }
  s->running = false;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

void Notifier::submit(const Notice& notice) {
  if (stopped_) return;
  for (auto& s : sinks_) {
    if (!wanted(s->config, notice.kind)) continue;
    if (s->queue.push(notice)) {
      metrics_.notify_dropped(s->config.name);
      log::warn("notification dropped: queue full",
                {{"notify", s->config.name}, {"queue_size", s->config.queue_size}});
    }
    if (!s->running) {
      s->running = true;
      asio::co_spawn(io_, drain(s, metrics_), asio::detached);
    }
  }
}

void Notifier::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& s : sinks_) {
    s->stopped = true;
    s->queue.clear();
    s->timer.cancel();
    s->stop_signal.cancel();
  }
}

}  // namespace failoverd::notify
