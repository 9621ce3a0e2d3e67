// The observer at work: probes feed the core, the core's plans go to the actuators through one
// reconciler per service, and what happens is logged, counted and journaled.
//
//   Scheduler/Prober/DnsProber ──ProbeResult──► core::ObserverEngine::observe
//   step timer ──► ObserverEngine::step ──plans──► Reconciler::set_desired (per service)
//   service loop: Reconciler::poll ──► Actuator::read/write ──► on_read/on_write ──► set_live
//   loop-lag timer ──► report_loop_lag (TILT when the loop stalls)
//
// Everything runs on the one io_context thread; nothing blocks. The admin API's Control is
// implemented here, over the same core.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/api.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "oracle/decision.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::runtime {

class Engine {
 public:
  Engine(boost::asio::io_context& io, const config::Config& config, metrics::Metrics& metrics);
  // The same on a config shared with the caller instead of a copy (about 0.9 KB per endpoint).
  Engine(boost::asio::io_context& io, std::shared_ptr<const config::Config> config,
         metrics::Metrics& metrics);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Builds actuators and starts probing. An error (unreadable TSIG key, bad target) means
  // nothing was started. `previous`: the stopped engine of the configuration before a reload;
  // what it knows about everything defined alike is kept (core::ObserverEngine::adopt), its
  // probe rounds continue where they were (no gap longer than one interval), and its endpoints'
  // first round counts as done.
  std::optional<std::string> start(const Engine* previous = nullptr);
  // Stops probing and the service loops. Idempotent.
  void stop();

  // The admin API's view of this observer.
  admin::Control& control();
  // Why this observer is not ready (for /readyz), or nullopt when it is: every endpoint has
  // been probed once and, in a cluster, enough peers have been heard from recently to form a
  // quorum with this observer.
  std::optional<std::string> not_ready_reason() const;

  // The oracle's hook (oracle/oracle_server.h). decisions(): each service's decision as it
  // stands now (live set read back from the target, generation, why it is held static).
  // on_decision(): `listener` is called on the io_context's thread whenever a decision may have
  // changed: after every core step (policy state, TILT, quorum) and every read of a live state.
  std::vector<oracle::ServiceDecision> decisions() const;
  void on_decision(std::function<void()> listener);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::runtime
