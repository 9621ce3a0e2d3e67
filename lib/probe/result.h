// What one probe of one endpoint produced. Every probe kind (http/https, tcp, tls, dns) returns
// this; the scheduler feeds `outcome` to the core's endpoint tracker, and the metrics layer reads
// latency and reason from it without touching the engine.
#pragma once

#include <optional>
#include <string>

#include "core/types.h"

namespace failoverd::probe {

struct ProbeResult {
  core::EndpointId endpoint;
  core::ProbeOutcome outcome;      // reason (Ok or why it failed) and latency
  core::TimePoint started{};       // steady clock, when the probe began
  std::string detail;              // short human text: "status 503", "connect: connection refused"
  int http_status = 0;             // http/https: the status code seen, 0 if none
  std::optional<int> cert_days_left;  // https/tls: days until the peer certificate expires
  // Set by the scheduler: when the probe was due, and how late it actually started (the
  // scheduler's own lateness; its p99 is in Scheduler::lateness()).
  core::TimePoint scheduled{};
  core::Duration lateness{};
};

}  // namespace failoverd::probe
