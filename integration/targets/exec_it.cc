// The exec hook actuator running small scripts the test writes.
// GCC 12 at -O2 reports a false -Wnull-dereference inside Asio's io_context executor comparison
// (Boost headers, inlined into this file's co_spawn calls). Before any include, so it covers them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <doctest/doctest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <charconv>

#include "actuate/exec_hook.h"
#include "support.h"

using namespace failoverd;
using namespace failoverd::actuate;
using namespace std::chrono_literals;

namespace {

config::Service service(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  config::Service s;
  s.name = core::ServiceId("www");
  s.target.kind = config::TargetKind::Exec;
  s.target.scope = config::TargetScope::Local;
  s.target.exec.argv = std::move(argv);
  s.target.exec.timeout = timeout;
  return s;
}

core::Plan plan(core::Generation gen) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = gen - 1;
  p.generation = gen;
  p.active = {core::RegionId("euw1")};
  p.members = {{core::RegionId("euw1"), "192.0.2.10", 1},
               {core::RegionId("euw1"), "192.0.2.11", 1}};
  p.reason = "primary use1 confirmed down";
  return p;
}

bool process_gone(const std::string& pid_text) {
  int pid = 0;
  std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  // Reparented orphans may stay zombies where PID 1 does not reap (containers): dead all the same.
  const auto stat = it::read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

}  // namespace

TEST_SUITE("integration.targets.exec") {
  TEST_CASE("an exec hook sees the plan in its environment and exit 0 applies it") {
    it::TempDir dir;
    const auto script = dir.file("hook.sh");
    it::write_file(script,
                   "#!/bin/sh\n"
                   "env | sort > " +
                       dir.file("env.txt") +
                       "\n"
                       "echo \"args: $*\"\n"
                       "echo note >&2\n",
                   0755);
    boost::asio::io_context io;
    ExecActuator act(io.get_executor(), service({script, "--flag", "two words"}, 5000ms),
                     core::ObserverId("obs-a"));
    auto r0 = it::run(io, act.read());
    CHECK(r0.status == ReadStatus::Ok);
    CHECK(r0.state.members.empty());
    CHECK_FALSE(r0.state.fence);

    auto w = it::run(io, act.write(plan(2), r0.state));
    REQUIRE_MESSAGE(w.status == WriteStatus::Applied, w.detail);
    CHECK(w.rcode == "0");
    CHECK(w.detail.find("args: --flag two words") != std::string::npos);
    CHECK(w.detail.find("stderr: note") != std::string::npos);
    const auto env = it::read_file(dir.file("env.txt"));
    CHECK(env.find("FAILOVERD_SERVICE=www\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_GENERATION=2\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_BASE_GENERATION=1\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_ACTIVE_REGIONS=euw1\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_MEMBERS=192.0.2.10=1,192.0.2.11=1\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_TRIGGER=automatic\n") != std::string::npos);
    CHECK(env.find("FAILOVERD_REASON=primary use1 confirmed down\n") != std::string::npos);
    CHECK(env.find("HOME=") == std::string::npos);  // nothing of the daemon's environment

    // read(): the last applied members, from memory; no fence (the local fence keeps that).
    auto r1 = it::run(io, act.read());
    CHECK(r1.state.members == std::vector<LiveMember>{{"192.0.2.10", 1}, {"192.0.2.11", 1}});
    CHECK_FALSE(r1.state.fence);
    // A stale expected state is a Conflict without running the hook.
    std::filesystem::remove(dir.file("env.txt"));
    CHECK(it::run(io, act.write(plan(3), r0.state)).status == WriteStatus::Conflict);
    CHECK_FALSE(std::filesystem::exists(dir.file("env.txt")));
    // The state read back is the base of the next write, which runs the hook again.
    REQUIRE(it::run(io, act.write(plan(3), r1.state)).status == WriteStatus::Applied);
    CHECK(it::read_file(dir.file("env.txt")).find("FAILOVERD_GENERATION=3\n") != std::string::npos);
  }

  TEST_CASE("a non-zero exit is a failed write with the exit code and stderr") {
    it::TempDir dir;
    const auto script = dir.file("fail.sh");
    it::write_file(script, "#!/bin/sh\necho 'lb api said no' >&2\nexit 3\n", 0755);
    boost::asio::io_context io;
    ExecActuator act(io.get_executor(), service({script}, 5000ms), core::ObserverId("obs-a"));
    auto w = it::run(io, act.write(plan(2), {}));
    CHECK(w.status == WriteStatus::Refused);
    CHECK(w.rcode == "3");
    CHECK(w.detail.find("exit 3") != std::string::npos);
    CHECK(w.detail.find("lb api said no") != std::string::npos);
    auto r = it::run(io, act.read());
    CHECK(r.state.members.empty());  // nothing recorded as applied
  }

  TEST_CASE("a hook that overruns its timeout is killed and the outcome is Unknown") {
    it::TempDir dir;
    boost::asio::io_context io;
    SUBCASE("SIGTERM is enough") {
      const auto script = dir.file("slow.sh");
      it::write_file(script, "#!/bin/sh\necho $$ > " + dir.file("pid") + "\nsleep 30\n", 0755);
      ExecActuator act(io.get_executor(), service({script}, 300ms), core::ObserverId("obs-a"));
      const auto start = std::chrono::steady_clock::now();
      auto w = it::run(io, act.write(plan(2), {}));
      const auto took = std::chrono::steady_clock::now() - start;
      CHECK(w.status == WriteStatus::Unknown);
      CHECK(w.detail.find("timed out") != std::string::npos);
      CHECK(took < 2s);
      CHECK(process_gone(it::read_file(dir.file("pid"))));
      CHECK(it::run(io, act.read()).state.members.empty());
    }
    SUBCASE("a hook that ignores SIGTERM gets SIGKILL") {
      const auto script = dir.file("stubborn.sh");
      it::write_file(
          script, "#!/bin/sh\ntrap '' TERM\necho $$ > " + dir.file("pid") + "\nsleep 30\n", 0755);
      auto r = it::run(
          io, exec::run_process(io.get_executor(), {script}, {"PATH=/usr/bin:/bin"}, 300ms, 300ms));
      CHECK(r.end == exec::ProcessResult::End::TimedOut);
      CHECK(r.killed);
      CHECK(process_gone(it::read_file(dir.file("pid"))));
    }
  }

  TEST_CASE("hook output is bounded and a leftover background process cannot stall the write") {
    it::TempDir dir;
    boost::asio::io_context io;
    SUBCASE("200 KiB of output: 64 KiB kept, the rest dropped, no blocking") {
      const auto script = dir.file("loud.sh");
      it::write_file(script, "#!/bin/sh\nhead -c 204800 /dev/zero | tr '\\0' x\n", 0755);
      auto r =
          it::run(io, exec::run_process(io.get_executor(), {script}, {"PATH=/usr/bin:/bin"}, 5s));
      CHECK(r.end == exec::ProcessResult::End::Exited);
      CHECK(r.code == 0);
      CHECK(r.out.size() == exec::kMaxOutput);
      CHECK(r.dropped == 204800 - exec::kMaxOutput);
    }
    SUBCASE("a background sleep holding stdout") {
      const auto script = dir.file("bg.sh");
      it::write_file(script, "#!/bin/sh\nsleep 30 &\necho $! > " + dir.file("pid") + "\necho ok\n",
                     0755);
      const auto start = std::chrono::steady_clock::now();
      auto r =
          it::run(io, exec::run_process(io.get_executor(), {script}, {"PATH=/usr/bin:/bin"}, 5s));
      CHECK(std::chrono::steady_clock::now() - start < 2s);
      CHECK(r.end == exec::ProcessResult::End::Exited);
      CHECK(r.out == "ok\n");
      CHECK(it::wait_until([&] { return process_gone(it::read_file(dir.file("pid"))); }, 2s, 20ms));
    }
    SUBCASE("a missing program is Invalid") {
      ExecActuator act(io.get_executor(), service({dir.file("nope")}, 1000ms),
                       core::ObserverId("obs-a"));
      CHECK(it::run(io, act.write(plan(2), {})).status == WriteStatus::Invalid);
    }
  }
}
