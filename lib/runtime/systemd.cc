#include "runtime/systemd.h"

#include <systemd/sd-daemon.h>

#include <string>

namespace failoverd::runtime {
namespace {

void send(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace

void notify_ready(std::string_view status) {
  send("READY=1\nSTATUS=" + std::string(status));
}

void notify_reloading() { send("RELOADING=1\nSTATUS=reloading configuration"); }

void notify_stopping() { send("STOPPING=1\nSTATUS=stopping"); }

void notify_status(std::string_view status) { send("STATUS=" + std::string(status)); }

void notify_watchdog() { send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
  std::uint64_t usec = 0;
  // unset_environment = 0: children need not see it, but keeping it is harmless and lets a
  // re-exec find it.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace failoverd::runtime
