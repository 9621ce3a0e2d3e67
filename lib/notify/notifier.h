// The notifier: delivers Notices to the [[notify]] receivers over HTTP(S) webhooks.
//
// Contract:
//   - submit() never blocks and never waits on a receiver: it formats nothing, copies the notice
//     into each interested receiver's bounded queue and returns. The engine calls it from its
//     event path; decisions, probes and target writes never await a delivery.
//   - Each receiver has its own queue (queue_size) and one sender coroutine on the same
//     io_context, so a hanging receiver delays only its own notices. When a queue is full the
//     OLDEST pending notice is dropped and failoverd_notify_dropped_total{notify} counted.
//   - A delivery is tried once plus max_retries times, with capped exponential backoff and full
//     jitter between tries (core/backoff.h); every step (resolve, connect, TLS, write, read) has
//     the receiver's timeout. 2xx: failoverd_notify_sent_total{notify}. Given up (retries spent,
//     or a status that is not retried): failoverd_notify_failed_total{notify,reason}. All three
//     series exist from start-up at 0.
//   - Secrets (routing key, bearer token, a URL from url_file) are read at start() and never
//     logged; logs name the receiver, never its URL.
//   - stop() drops what is queued and abandons the tries in flight (their connections close),
//     so a hanging receiver does not hold up a reload or the daemon's exit.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"
#include "notify/format.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::notify {

class Notifier {
 public:
  Notifier(boost::asio::io_context& io, std::vector<config::Notify> receivers,
           metrics::Metrics& metrics, std::uint64_t seed);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Reads the secret files and creates the metric series. An error names the receiver and the
  // file (not its contents); then nothing is sent.
  std::optional<std::string> start();
  void submit(const Notice& notice);
  void stop();

 private:
  struct Sink;
  boost::asio::io_context& io_;
  metrics::Metrics& metrics_;
  std::vector<std::shared_ptr<Sink>> sinks_;
  bool stopped_ = false;
};

}  // namespace failoverd::notify
