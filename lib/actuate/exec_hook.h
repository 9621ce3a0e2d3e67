// Exec hook actuator: runs a configured program for every plan, e.g. a script that calls a cloud
// load balancer's CLI. No shell: argv is executed as given (argv[0] an absolute path) with a
// small fixed environment describing the plan:
//
//   FAILOVERD_SERVICE          www
//   FAILOVERD_GENERATION       43
//   FAILOVERD_BASE_GENERATION  42
//   FAILOVERD_ACTIVE_REGIONS   euw1            (comma-separated)
//   FAILOVERD_MEMBERS          192.0.2.10=1,192.0.2.11=1   (value=weight, comma-separated)
//   FAILOVERD_TRIGGER          automatic | manual | restore
//   FAILOVERD_REASON           primary use1 confirmed down by obs-a,obs-b
//   FAILOVERD_WRITER           obs-a
//   PATH                       /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
//
// Nothing else of failoverd's environment is passed on (it may hold secrets). stdin is /dev/null;
// stdout and stderr are captured, each bounded to 64 KiB (the rest is read and dropped, so the hook
// never blocks on a full pipe), logged, and summarised in WriteResult.detail.
//
// Outcome: exit 0 -> Applied; any other exit status or death by a signal -> Refused (a failed
// write: the hook said no; exit code in detail); no exit within `timeout` -> Unknown: the hook's
// process group gets SIGTERM, then SIGKILL after a grace period, and it is reaped. The child runs
// in its own process group (its PID is the group id), so anything it started is signalled with it;
// when the hook exits normally, its output pipes are drained for at most a short grace period, so
// a background process it left behind cannot stall the write.
//
// Waiting never blocks the io_context: the pipes are asio stream descriptors and the exit is
// watched through a pidfd (Linux >= 5.3), or by waitpid(WNOHANG) on a 10 ms timer where pidfd_open
// is unavailable. No SIGCHLD handler is installed.
//
// read(): an exec hook has no state to read back. read() returns the members of the last write
// that was Applied, kept in memory, and an empty state after a (re)start; never a fence. write()
// compares `expected` with that remembered state. The fence and its generation check are the
// LocalFenceActuator's (local_fence.h) that wraps this actuator in the daemon: a fence kept here
// as well would never be the one the reconciler expects, and every write after the first would
// be a conflict.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "actuate/actuator.h"
#include "config/config.h"

namespace failoverd::actuate {

namespace exec {

// The child's environment ("KEY=value" strings) for `plan`. NUL bytes are removed from values.
std::vector<std::string> build_env(const core::Plan& plan, std::string_view writer);

// What happened to one run of a program.
struct ProcessResult {
  enum class End { Exited, Signaled, TimedOut, SpawnFailed };
  End end = End::SpawnFailed;
  int code = 0;             // exit status (Exited), signal number (Signaled), errno (SpawnFailed)
  bool killed = false;      // TimedOut: SIGKILL was needed after SIGTERM
  std::string out;          // stdout, at most kMaxOutput bytes
  std::string err;          // stderr, at most kMaxOutput bytes
  std::size_t dropped = 0;  // output bytes beyond the bounds, read and discarded
};

inline constexpr std::size_t kMaxOutput = 64 * 1024;

// Runs argv (argv[0] absolute) with exactly `env`, in its own process group, on `executor`.
// Never throws, never blocks the io_context. `kill_grace` is the wait between SIGTERM and SIGKILL.
boost::asio::awaitable<ProcessResult> run_process(
    boost::asio::any_io_executor executor, const std::vector<std::string>& argv,
    const std::vector<std::string>& env, std::chrono::nanoseconds timeout,
    std::chrono::nanoseconds kill_grace = std::chrono::seconds(2));

}  // namespace exec

// read() and write() run on `executor` (the service's strand); one call at a time, not
// thread-safe. write() takes up to target.timeout plus the kill grace (2 s) and a short drain.
class ExecActuator final : public Actuator {
 public:
  // `service.target.exec.argv` must be non-empty with an absolute argv[0]; throws
  // std::invalid_argument otherwise (the config boundary). `writer` is this observer's id.
  ExecActuator(boost::asio::any_io_executor executor, const config::Service& service,
               core::ObserverId writer);

  std::string_view kind() const override { return "exec"; }
  boost::asio::awaitable<ReadResult> read() override;
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                            const LiveState& expected) override;
  // The last applied plan, which no hook can report.
  void continue_from(const Actuator& previous) override;

 private:
  boost::asio::any_io_executor executor_;
  config::ExecTarget target_;
  bool weighted_ = false;
  std::uint32_t min_targets_ = 1;
  core::ObserverId writer_;
  LiveState last_applied_;  // what the hook last confirmed; empty after a (re)start
};

}  // namespace failoverd::actuate
