// Failpoints on the write path, so the fault lab can kill or pause an observer at an exact step
// of a compare-and-swap write (lab scenarios K1, A1, A3).
//
//   FAILOVERD_FAILPOINT=<point>:<action>    read once at start-up by arm_from_environment()
//
//   points  before_send     a write is due (its CAS base was just read); nothing is sent yet
//           after_send      the UPDATE is written to the server's TCP connection; its reply is
//                           not read yet (rfc2136 only: the one target that speaks its own wire)
//           after_response  the write returned (with the server's reply, or with a timeout or
//                           error); its outcome is not recorded or journaled yet
//           during_verify   the read-back after a write has its answer; not judged yet
//   actions kill            SIGKILL to itself: dies on the spot, nothing flushed or saved
//           stop            SIGSTOP to itself: frozen until SIGCONT, then goes on from there
//
// A failpoint fires once per process; the second time the point is reached nothing happens.
// Unset (the normal case) hit() costs one load and one compare. The shell layer only: the core
// knows nothing of this.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace failoverd::actuate::failpoint {

enum class Point { BeforeSend, AfterSend, AfterResponse, DuringVerify };
enum class Action { Kill, Stop };

struct Spec {
  Point point = Point::BeforeSend;
  Action action = Action::Kill;
  bool operator==(const Spec&) const = default;
};

std::string_view to_string(Point p);
std::string_view to_string(Action a);

// Parses "<point>:<action>", e.g. "after_send:kill". nullopt with `error` set otherwise.
std::optional<Spec> parse(std::string_view text, std::string* error);

// Arms `spec` (nullopt disarms). Call before the io_context runs; not thread-safe.
void arm(std::optional<Spec> spec);
// Arms what FAILOVERD_FAILPOINT says (nothing when unset or empty). Returns an error text when
// the variable is set to something parse() rejects; nothing is armed then.
std::optional<std::string> arm_from_environment();
// The armed spec that has not fired yet, if any.
std::optional<Spec> armed();

namespace detail {
extern bool g_armed;
void fire(Point p);
}  // namespace detail

// Reached `p`: when it is the armed point, writes one line to stderr and raises the action's
// signal. Runs on the caller's thread.
inline void hit(Point p) {
  if (detail::g_armed) [[unlikely]] {
    detail::fire(p);
  }
}

}  // namespace failoverd::actuate::failpoint
