#include "actuate/local_fence.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <algorithm>

#include "actuate/exec_hook.h"
#include "actuate/reconcile.h"

using namespace failoverd;
using namespace failoverd::actuate;

namespace {

// A fence-less target: holds members, applies a write when `expected` matches them.
struct FakeLocalTarget final : Actuator {
  std::string_view kind() const override { return "fake"; }
  boost::asio::awaitable<ReadResult> read() override {
    co_return ReadResult{ReadStatus::Ok, LiveState{members, std::nullopt, std::nullopt}, ""};
  }
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan, const LiveState& expected) override {
    ++writes;
    if (expected.fence || expected.members != members) co_return WriteResult{WriteStatus::Conflict, "", ""};
    members.clear();
    for (const auto& m : plan.members) members.push_back({m.value, m.weight});
    co_return WriteResult{WriteStatus::Applied, "", ""};
  }
  std::vector<LiveMember> members;
  int writes = 0;
};

template <typename T>
T run(boost::asio::awaitable<T> op) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.run();
  return f.get();
}

core::Plan plan(core::Generation base, std::string value) {
  core::Plan p;
  p.base_generation = base;
  p.generation = base + 1;
  p.members = {{core::RegionId{"west"}, std::move(value), 1}};
  return p;
}

// An exec hook that appends one line per run, "SERVICE|GEN|BASE|MEMBERS|ACTIVE|TRIGGER|WRITER",
// to runs.txt, and exits 3 while a file `fail` exists next to it.
struct HookDir {
  HookDir() {
    char tmpl[] = "/tmp/failoverd-exec-XXXXXX";
    path = ::mkdtemp(tmpl);
    std::ofstream(path + "/hook.sh")
        << "#!/bin/sh\n"
           "echo \"$FAILOVERD_SERVICE|$FAILOVERD_GENERATION|$FAILOVERD_BASE_GENERATION|"
           "$FAILOVERD_MEMBERS|$FAILOVERD_ACTIVE_REGIONS|$FAILOVERD_TRIGGER|$FAILOVERD_WRITER\" >> "
        << path << "/runs.txt\n"
        << "if [ -e " << path << "/fail ]; then echo 'lb said no' >&2; exit 3; fi\n";
    ::chmod((path + "/hook.sh").c_str(), 0755);
  }
  ~HookDir() { std::filesystem::remove_all(path); }
  // One line per run, as the hook wrote them.
  std::string runs() const {
    std::ifstream in(path + "/runs.txt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t run_count() const {
    const auto text = runs();
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  std::string path;
};

config::Service exec_service(const std::string& hook) {
  config::Service s;
  s.name = core::ServiceId("www");
  s.target.kind = config::TargetKind::Exec;
  s.target.scope = config::TargetScope::Local;
  s.target.exec.argv = {hook};
  s.target.exec.timeout = std::chrono::seconds(5);
  return s;
}

core::Plan exec_plan(core::Generation base, std::string region, std::string value,
                     core::Trigger trigger) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = base;
  p.generation = base + 1;
  p.active = {core::RegionId(region)};
  p.members = {{core::RegionId(region), std::move(value), 1}};
  p.trigger = trigger;
  p.reason = "test";
  p.decided_at = core::TimePoint{std::chrono::seconds(1000)};  // the tests' t0: sent at once
  return p;
}

// Everything the reconciler has due at `now`, run on `io` (the executor the hook runs on).
std::vector<ReconcileEvent> drive(boost::asio::io_context& io, Reconciler& r, Actuator& a,
                                  core::TimePoint now) {
  for (int i = 0; i < 10; ++i) {
    auto action = r.poll(now);
    if (!action) break;
    io.restart();
    if (action->kind == ReconcileAction::Kind::Read) {
      auto f = boost::asio::co_spawn(io, a.read(), boost::asio::use_future);
      io.run();
      r.on_read(f.get(), now);
    } else {
      auto f = boost::asio::co_spawn(io, a.write(action->plan, action->expected),
                                     boost::asio::use_future);
      io.run();
      r.on_write(f.get(), now);
    }
  }
  return r.take_events();
}

bool has_event(const std::vector<ReconcileEvent>& events, ReconcileEvent::Kind k) {
  return std::any_of(events.begin(), events.end(), [&](const auto& e) { return e.kind == k; });
}

ReconcileOptions reconcile_options() {
  ReconcileOptions o;
  o.service = core::ServiceId("www");
  o.self = core::ObserverId("obs-a");
  return o;
}

}  // namespace

TEST_SUITE("actuate.local_fence") {
  TEST_CASE("reads carry an in-memory fence that moves only when a write is applied") {
    auto inner = std::make_unique<FakeLocalTarget>();
    auto* target = inner.get();
    target->members = {{"a", 1}};
    LocalFenceActuator a(std::move(inner), "obs-a");
    auto r = run(a.read());
    REQUIRE(r.status == ReadStatus::Ok);
    CHECK(r.state.fence == std::optional<Fence>(Fence{0, "obs-a"}));

    auto w = run(a.write(plan(0, "b"), r.state));
    CHECK(w.status == WriteStatus::Applied);
    r = run(a.read());
    CHECK(r.state.fence == std::optional<Fence>(Fence{1, "obs-a"}));
    CHECK(r.state.members == std::vector<LiveMember>{{"b", 1}});
  }

  TEST_CASE("a write from a stale view is a conflict and never reaches the target") {
    auto inner = std::make_unique<FakeLocalTarget>();
    auto* target = inner.get();
    target->members = {{"a", 1}};
    LocalFenceActuator a(std::move(inner), "obs-a");
    auto before = run(a.read()).state;
    REQUIRE(run(a.write(plan(0, "b"), before)).status == WriteStatus::Applied);
    // The same stale view again (generation 0 -> 1): the fence is at 1 now.
    CHECK(run(a.write(plan(0, "c"), before)).status == WriteStatus::Conflict);
    CHECK(target->writes == 1);
    CHECK(target->members == std::vector<LiveMember>{{"b", 1}});
  }

  TEST_CASE("an unreadable target reports its initial set until the first write") {
    auto inner = std::make_unique<FakeLocalTarget>();
    auto* target = inner.get();
    LocalFenceActuator a(std::move(inner), "obs-a", {{"east-1", 1}});
    auto r = run(a.read());
    CHECK(r.state.members == std::vector<LiveMember>{{"east-1", 1}});
    // The inner target is handed what it really holds (nothing), so the write applies.
    CHECK(run(a.write(plan(0, "west-1"), r.state)).status == WriteStatus::Applied);
    CHECK(target->members == std::vector<LiveMember>{{"west-1", 1}});
    CHECK(run(a.read()).state.members == std::vector<LiveMember>{{"west-1", 1}});
  }
}

// The daemon's exec target: ExecActuator behind a LocalFenceActuator, driven by the reconciler.
TEST_SUITE("actuate.local_fence.exec") {
  TEST_CASE("the hook runs at every write: failover, failback, again, and a restore") {
    HookDir dir;
    boost::asio::io_context io;
    LocalFenceActuator a(std::make_unique<ExecActuator>(io.get_executor(),
                                                        exec_service(dir.path + "/hook.sh"),
                                                        core::ObserverId("obs-a")),
                         "obs-a", {{"192.0.2.1", 1}});
    Reconciler r(reconcile_options(), 1);
    const core::TimePoint t0{std::chrono::seconds(1000)};
    drive(io, r, a, t0);  // first look: the initial set at generation 0
    REQUIRE(r.live());
    CHECK(r.live()->members == std::vector<LiveMember>{{"192.0.2.1", 1}});

    using T = core::Trigger;
    const std::pair<const char*, const char*> moves[] = {
        {"west", "192.0.2.2"}, {"east", "192.0.2.1"}, {"west", "192.0.2.2"}, {"east", "192.0.2.1"}};
    core::Generation gen = 0;
    for (const auto& [region, value] : moves) {
      CAPTURE(gen);
      const T trigger = gen % 2 ? T::Manual : T::Automatic;
      r.set_desired(exec_plan(gen, region, value, trigger), t0);
      auto events = drive(io, r, a, t0);
      CHECK_FALSE(has_event(events, ReconcileEvent::Kind::Conflict));
      REQUIRE(has_event(events, ReconcileEvent::Kind::Applied));
      ++gen;
      CHECK(r.live()->fence == std::optional<Fence>(Fence{gen, "obs-a", trigger}));
      CHECK(r.live()->members == std::vector<LiveMember>{{value, 1}});
    }
    r.restore(t0);
    auto events = drive(io, r, a, t0);
    CHECK(has_event(events, ReconcileEvent::Kind::Restored));
    CHECK(dir.runs() ==
          "www|1|0|192.0.2.2=1|west|automatic|obs-a\n"
          "www|2|1|192.0.2.1=1|east|manual|obs-a\n"
          "www|3|2|192.0.2.2=1|west|automatic|obs-a\n"
          "www|4|3|192.0.2.1=1|east|manual|obs-a\n"
          "www|5|4|192.0.2.1=1||restore|obs-a\n");
  }

  TEST_CASE("a hook that fails on a later write is a refused write with an alert") {
    HookDir dir;
    boost::asio::io_context io;
    LocalFenceActuator a(std::make_unique<ExecActuator>(io.get_executor(),
                                                        exec_service(dir.path + "/hook.sh"),
                                                        core::ObserverId("obs-a")),
                         "obs-a", {{"192.0.2.1", 1}});
    Reconciler r(reconcile_options(), 1);
    const core::TimePoint t0{std::chrono::seconds(1000)};
    drive(io, r, a, t0);
    r.set_desired(exec_plan(0, "west", "192.0.2.2", core::Trigger::Automatic), t0);
    REQUIRE(has_event(drive(io, r, a, t0), ReconcileEvent::Kind::Applied));

    std::ofstream(dir.path + "/fail") << "";
    r.set_desired(exec_plan(1, "east", "192.0.2.1", core::Trigger::Manual), t0);
    auto events = drive(io, r, a, t0);
    CHECK(dir.run_count() == 2);  // the hook ran, and said no
    auto refused = std::find_if(events.begin(), events.end(),
                                [](const auto& e) { return e.kind == ReconcileEvent::Kind::Refused; });
    REQUIRE(refused != events.end());
    CHECK(refused->alert);
    CHECK(refused->generation == 2);
    CHECK(refused->detail.find("exit 3") != std::string::npos);
    CHECK(refused->detail.find("lb said no") != std::string::npos);
    CHECK_FALSE(has_event(events, ReconcileEvent::Kind::Conflict));
    // The target still holds the last applied set.
    CHECK(r.live()->members == std::vector<LiveMember>{{"192.0.2.2", 1}});
  }
}
