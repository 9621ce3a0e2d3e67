#include "actuate/failpoint.h"

#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <utility>

namespace failoverd::actuate::failpoint {

namespace {

constexpr std::array<std::pair<std::string_view, Point>, 4> kPoints{{
    {"before_send", Point::BeforeSend},
    {"after_send", Point::AfterSend},
    {"after_response", Point::AfterResponse},
    {"during_verify", Point::DuringVerify},
}};

constexpr std::array<std::pair<std::string_view, Action>, 2> kActions{{
    {"kill", Action::Kill},
    {"stop", Action::Stop},
}};

std::optional<Spec> g_spec;

}  // namespace

namespace detail {

bool g_armed = false;

void fire(Point p) {
  if (!g_spec || g_spec->point != p) return;
  const Action action = g_spec->action;
  g_spec.reset();
  g_armed = false;
  // One plain write(2): the line must be out before the signal, whatever the log buffers hold.
  std::string line = "failoverd: failpoint " + std::string(to_string(p)) + ":" +
                     std::string(to_string(action)) + " reached\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
  std::raise(action == Action::Kill ? SIGKILL : SIGSTOP);
}

}  // namespace detail

std::string_view to_string(Point p) {
  for (const auto& [name, point] : kPoints) {
    if (point == p) return name;
  }
  return "?";
}

std::string_view to_string(Action a) {
  for (const auto& [name, action] : kActions) {
    if (action == a) return name;
  }
  return "?";
}

std::optional<Spec> parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string e) -> std::optional<Spec> {
    if (error) *error = std::move(e);
    return std::nullopt;
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fail("failpoint '" + std::string(text) + "' is not <point>:<action>");
  }
  auto point = text.substr(0, colon);
  auto action = text.substr(colon + 1);
  Spec spec;
  bool point_ok = false;
  for (const auto& [name, p] : kPoints) {
    if (name == point) {
      spec.point = p;
      point_ok = true;
    }
  }
  if (!point_ok) {
    return fail("unknown failpoint '" + std::string(point) +
                "' (before_send, after_send, after_response, during_verify)");
  }
  bool action_ok = false;
  for (const auto& [name, a] : kActions) {
    if (name == action) {
      spec.action = a;
      action_ok = true;
    }
  }
  if (!action_ok)
    return fail("unknown failpoint action '" + std::string(action) + "' (kill, stop)");
  return spec;
}

void arm(std::optional<Spec> spec) {
  g_spec = spec;
  detail::g_armed = spec.has_value();
}

std::optional<std::string> arm_from_environment() {
  const char* value = std::getenv("FAILOVERD_FAILPOINT");
  if (value == nullptr || *value == '\0') {
    arm(std::nullopt);
    return std::nullopt;
  }
  std::string error;
  auto spec = parse(value, &error);
  if (!spec) {
    arm(std::nullopt);
    return "FAILOVERD_FAILPOINT: " + error;
  }
  arm(spec);
  return std::nullopt;
}

std::optional<Spec> armed() {
  return g_spec;
}

}  // namespace failoverd::actuate::failpoint
