// systemd integration: readiness, reload and stop notifications, and the watchdog.
// Every call is a no-op when not run under systemd (NOTIFY_SOCKET unset), so the daemon behaves
// the same from a terminal, in a container, or under a unit with Type=notify.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace failoverd::runtime {

void notify_ready(std::string_view status);
void notify_reloading();
void notify_stopping();
void notify_status(std::string_view status);
void notify_watchdog();

// The interval at which to send WATCHDOG=1 (half of WATCHDOG_USEC), or nullopt when systemd
// does not expect watchdog pings from this process.
std::optional<std::chrono::microseconds> watchdog_ping_interval();

}  // namespace failoverd::runtime
