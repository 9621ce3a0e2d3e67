#include "actuate/exec_hook.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "log/log.h"

namespace failoverd::actuate {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace exec {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// After the hook exits, how long its pipes may still deliver output (a background process it
// left behind may hold them open forever).
constexpr auto kDrainGrace = std::chrono::milliseconds(200);
// After SIGKILL, how long to wait for the exit before giving up on reaping synchronously.
constexpr auto kReapBound = std::chrono::seconds(5);
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string clean(std::string_view v) {
  std::string out(v);
  out.erase(std::remove(out.begin(), out.end(), '\0'), out.end());
  return out;
}

// Reads a pipe to EOF (or until cancelled), keeping at most kMaxOutput bytes.
asio::awaitable<void> read_pipe(asio::posix::stream_descriptor& pipe, std::string& keep,
                                std::size_t& dropped) {
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buf), kTuple);
    const std::size_t room = kMaxOutput - std::min(kMaxOutput, keep.size());
    keep.append(buf, std::min(n, room));
    dropped += n - std::min(n, room);
    if (ec) co_return;  // eof, or cancelled by the caller's deadline
  }
}

// How the child ended, observed without reaping it: while it is a zombie its PID (and so its
// process-group id) cannot be reused, which keeps kill(-pid, ...) aimed at our hook.
struct Exit {
  bool exited = false;  // false: killed by a signal
  int code = 0;         // exit status or signal number
};

// Waits until `pid` has ended. nullopt when cancelled first or when it is not our child.
asio::awaitable<std::optional<Exit>> wait_exit(pid_t pid, asio::posix::stream_descriptor* pidfd,
                                               asio::any_io_executor ex) {
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    const int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid) {
      co_return Exit{info.si_code == CLD_EXITED, info.si_status};
    }
    if (r < 0 && errno != EINTR) co_return std::nullopt;
    if (pidfd) {
      auto [ec] = co_await pidfd->async_wait(asio::posix::descriptor_base::wait_read, kTuple);
      if (ec) co_return std::nullopt;
    } else {
      asio::steady_timer poll(ex);
      poll.expires_after(kPollInterval);
      auto [ec] = co_await poll.async_wait(kTuple);
      if (ec) co_return std::nullopt;
    }
  }
}

// Kills what is left of the hook's process group, then reaps the hook (already a zombie).
void finish(pid_t pid) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

}  // namespace

std::vector<std::string> build_env(const core::Plan& plan, std::string_view writer) {
  std::string regions;
  for (const auto& r : plan.active) {
    if (!regions.empty()) regions += ",";
    regions += r.str();
  }
  std::string members;
  for (const auto& m : plan.members) {
    if (!members.empty()) members += ",";
    members += m.value + "=" + std::to_string(m.weight);
  }
  return {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "FAILOVERD_SERVICE=" + clean(plan.service.str()),
      "FAILOVERD_GENERATION=" + std::to_string(plan.generation),
      "FAILOVERD_BASE_GENERATION=" + std::to_string(plan.base_generation),
      "FAILOVERD_ACTIVE_REGIONS=" + clean(regions),
      "FAILOVERD_MEMBERS=" + clean(members),
      "FAILOVERD_TRIGGER=" + std::string(core::to_string(plan.trigger)),
      "FAILOVERD_REASON=" + clean(plan.reason),
      "FAILOVERD_WRITER=" + clean(writer),
  };
}

asio::awaitable<ProcessResult> run_process(asio::any_io_executor ex,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env,
                                           std::chrono::nanoseconds timeout,
                                           std::chrono::nanoseconds kill_grace) {
  ProcessResult result;
  if (argv.empty() || !argv[0].starts_with('/')) {
    result.code = EINVAL;
    co_return result;
  }
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.code = errno;
    co_return result;
  }
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.code = errno;
    co_return result;
  }
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  ::posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  // Own process group (so a timeout reaches what the hook started), default signal handling and
  // an empty mask whatever the daemon has set up for itself.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  ::posix_spawnattr_setpgroup(&attr, 0);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setflags(
      &attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, cargv.data(), cenv.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  out_w.reset();
  err_w.reset();
  if (rc != 0) {
    result.code = rc;
    co_return result;
  }

  asio::posix::stream_descriptor out(ex, out_r.release());
  asio::posix::stream_descriptor err(ex, err_r.release());
  std::optional<asio::posix::stream_descriptor> pidfd;
  if (const long fd = ::syscall(SYS_pidfd_open, pid, 0); fd >= 0) {
    pidfd.emplace(ex, static_cast<int>(fd));
  }
  auto* pidfd_ptr = pidfd ? &*pidfd : nullptr;

  asio::steady_timer deadline(ex);
  deadline.expires_after(timeout);
  std::optional<Exit> status;
  auto first = co_await (
      wait_exit(pid, pidfd_ptr, ex) ||
      (read_pipe(out, result.out, result.dropped) && read_pipe(err, result.err, result.dropped)) ||
      deadline.async_wait(kTuple));
  if (first.index() == 0) {
    status = std::get<0>(first);
  } else if (first.index() == 1) {
    // Both pipes closed; the exit follows (or the deadline).
    auto second = co_await (wait_exit(pid, pidfd_ptr, ex) || deadline.async_wait(kTuple));
    if (second.index() == 0) status = std::get<0>(second);
  }

  if (status) {
    // Collect what is still in the pipes, for a short while only.
    asio::steady_timer drain(ex);
    drain.expires_after(kDrainGrace);
    co_await ((read_pipe(out, result.out, result.dropped) &&
               read_pipe(err, result.err, result.dropped)) ||
              drain.async_wait(kTuple));
    result.end = status->exited ? ProcessResult::End::Exited : ProcessResult::End::Signaled;
    result.code = status->code;
    // A background process the hook left in its group would otherwise keep running unobserved.
    finish(pid);
    co_return result;
  }

  // Timed out: SIGTERM to the hook's process group, SIGKILL after the grace period.
  result.end = ProcessResult::End::TimedOut;
  ::kill(-pid, SIGTERM);
  asio::steady_timer grace(ex);
  grace.expires_after(kill_grace);
  auto termed = co_await (wait_exit(pid, pidfd_ptr, ex) || grace.async_wait(kTuple));
  if (termed.index() == 0 && std::get<0>(termed)) {
    finish(pid);
    co_return result;
  }
  result.killed = true;
  ::kill(-pid, SIGKILL);
  grace.expires_after(kReapBound);
  auto reaped = co_await (wait_exit(pid, pidfd_ptr, ex) || grace.async_wait(kTuple));
  if (reaped.index() == 0 && std::get<0>(reaped)) {
    finish(pid);
  } else {
    log::error("exec hook did not end after SIGKILL; left unreaped",
               {{"pid", static_cast<int>(pid)}});
  }
  co_return result;
}

}  // namespace exec

ExecActuator::ExecActuator(asio::any_io_executor executor, const config::Service& service,
                           core::ObserverId writer)
    : executor_(std::move(executor)),
      target_(service.target.exec),
      weighted_(service.policy == config::Policy::Weighted),
      min_targets_(service.min_targets),
      writer_(std::move(writer)) {
  if (target_.argv.empty() || !target_.argv[0].starts_with('/')) {
    throw std::invalid_argument("exec: argv[0] must be an absolute path");
  }
}

void ExecActuator::continue_from(const Actuator& previous) {
  if (const auto* was = dynamic_cast<const ExecActuator*>(&previous)) {
    last_applied_ = was->last_applied_;
  }
}

asio::awaitable<ReadResult> ExecActuator::read() {
  ReadResult out;
  out.status = ReadStatus::Ok;
  out.state = last_applied_;
  out.detail = "exec hooks have no state: last applied plan, kept in memory";
  co_return out;
}

asio::awaitable<WriteResult> ExecActuator::write(const core::Plan& plan,
                                                 const LiveState& expected) {
  WriteResult out;
  std::vector<LiveMember> wanted;
  for (const auto& m : plan.members)
    wanted.push_back(LiveMember{m.value, weighted_ ? m.weight : 1});
  std::sort(wanted.begin(), wanted.end(),
            [](const LiveMember& a, const LiveMember& b) { return a.value < b.value; });
  std::uint64_t total = 0;
  for (const auto& m : wanted) total += m.weight;
  if (wanted.empty() || total == 0 || wanted.size() < min_targets_) {
    out.status = WriteStatus::Invalid;
    out.detail = "plan is empty, has zero weight or fewer than min_targets members";
    co_return out;
  }
  // No fence of its own (the engine wraps it in a LocalFenceActuator, which checks generations):
  // `expected` carries none, like what read() reports.
  if (last_applied_.members != expected.members || last_applied_.fence != expected.fence) {
    out.status = WriteStatus::Conflict;
    out.detail = "expected state differs from the last applied plan";
    co_return out;
  }

  auto r = co_await exec::run_process(executor_, target_.argv, exec::build_env(plan, writer_.str()),
                                      target_.timeout);
  auto excerpt = [](const std::string& s) {
    constexpr std::size_t kExcerpt = 1024;
    std::string e = s.substr(0, kExcerpt);
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
  };
  switch (r.end) {
    case exec::ProcessResult::End::Exited:
      out.rcode = std::to_string(r.code);
      out.status = r.code == 0 ? WriteStatus::Applied : WriteStatus::Refused;
      out.detail = "exit " + std::to_string(r.code);
      break;
    case exec::ProcessResult::End::Signaled:
      out.status = WriteStatus::Refused;
      out.detail = "killed by signal " + std::to_string(r.code);
      break;
    case exec::ProcessResult::End::TimedOut:
      out.status = WriteStatus::Unknown;
      out.detail = std::string("timed out; SIGTERM") + (r.killed ? " and SIGKILL" : "") + " sent";
      break;
    case exec::ProcessResult::End::SpawnFailed:
      out.status = WriteStatus::Invalid;
      out.detail = "spawn " + target_.argv[0] + ": " + std::strerror(r.code);
      break;
  }
  if (!r.err.empty()) out.detail += "; stderr: " + excerpt(r.err);
  if (!r.out.empty()) out.detail += "; stdout: " + excerpt(r.out);

  (out.status == WriteStatus::Applied ? log::info : log::warn)("exec hook finished",
                                                               {{"service", plan.service.str()},
                                                                {"generation", plan.generation},
                                                                {"outcome", to_string(out.status)},
                                                                {"detail", out.detail},
                                                                {"stdout", r.out},
                                                                {"stderr", r.err},
                                                                {"dropped_bytes", r.dropped}});
  if (out.status == WriteStatus::Applied) last_applied_.members = wanted;
  co_return out;
}

}  // namespace failoverd::actuate
