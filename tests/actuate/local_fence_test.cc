#include "actuate/local_fence.h"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

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
