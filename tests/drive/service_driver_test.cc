#include "drive/service_driver.h"

#include <doctest/doctest.h>

namespace act = failoverd::actuate;
namespace config = failoverd::config;
namespace core = failoverd::core;
namespace drive = failoverd::drive;

namespace {

constexpr core::TimePoint kT0{std::chrono::seconds(1000)};

config::Service service() {
  config::Service s;
  s.name = core::ServiceId("www");
  s.regions = {core::RegionId("east"), core::RegionId("west")};
  s.publish = {{core::RegionId("east"), {"192.0.2.1"}}, {core::RegionId("west"), {"198.51.100.1"}}};
  s.max_decision_age = std::chrono::seconds(10);
  return s;
}

core::Plan plan(core::Generation base, const std::string& region, const std::string& value,
                core::Trigger trigger, std::vector<std::string> evidence_from = {}) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = base;
  p.generation = base + 1;
  p.active = {core::RegionId(region)};
  p.members = {{core::RegionId(region), value, 1}};
  p.trigger = trigger;
  p.decided_at = kT0;
  for (const auto& id : evidence_from) {
    core::Vote v;
    v.observer = core::ObserverId(id);
    v.region = core::RegionId("east");
    v.verdict = core::Verdict::Down;
    v.received = kT0;
    p.evidence.push_back(v);
  }
  return p;
}

act::ReadResult ok(const std::string& value, core::Generation gen, const std::string& writer,
                   core::Trigger trigger = core::Trigger::Automatic) {
  act::ReadResult r;
  r.status = act::ReadStatus::Ok;
  r.state.members = {{value, 1}};
  r.state.fence = act::Fence{gen, writer, trigger};
  return r;
}

// Runs the driver's due operations against a one-record target holding `held`.
void run(drive::ServiceDriver& d, act::ReadResult& held, core::TimePoint now,
         const std::string& self) {
  for (int i = 0; i < 10; ++i) {
    auto a = d.poll(now);
    if (!a) return;
    if (a->kind == act::ReconcileAction::Kind::Read) {
      d.on_read(held, now);
    } else if (a->expected == held.state) {
      held = ok(a->plan.members.front().value, a->plan.generation, self, a->plan.trigger);
      d.on_write(act::WriteResult{act::WriteStatus::Applied, "NOERROR", "NOERROR"}, now);
    } else {
      d.on_write(act::WriteResult{act::WriteStatus::Conflict, "NXRRSET", "NXRRSET"}, now);
    }
  }
}

}  // namespace

TEST_SUITE("drive.service_driver") {
  TEST_CASE("the live trigger is the one the fence records, whoever wrote it") {
    const config::Service s = service();
    drive::ServiceDriver d(s, drive::DriverOptions{core::ObserverId("obs-a"), std::nullopt}, 1);
    auto held = ok("198.51.100.1", 3, "obs-b", core::Trigger::Manual);
    run(d, held, kT0, "obs-a");
    REQUIRE(d.live());
    CHECK(d.live()->trigger == core::Trigger::Manual);  // an operator's move through obs-b
    held = ok("192.0.2.1", 1, "obs-b");
    drive::ServiceDriver fresh(s, drive::DriverOptions{core::ObserverId("obs-a"), std::nullopt}, 1);
    run(fresh, held, kT0, "obs-a");
    REQUIRE(fresh.live());
    CHECK(fresh.live()->trigger == core::Trigger::Automatic);  // none recorded: automatic
  }

  TEST_CASE("a manual move this observer wrote reads back as manual") {
    const config::Service s = service();
    drive::ServiceDriver d(s, drive::DriverOptions{core::ObserverId("obs-a"), std::nullopt}, 1);
    auto held = ok("192.0.2.1", 1, "obs-b");
    run(d, held, kT0, "obs-a");
    REQUIRE(d.live());
    CHECK(d.live()->trigger == core::Trigger::Automatic);
    CHECK(d.live()->members.front().region == core::RegionId("east"));
    CHECK(d.take(plan(1, "west", "198.51.100.1", core::Trigger::Manual), kT0) == std::nullopt);
    run(d, held, kT0, "obs-a");
    REQUIRE(d.live());
    CHECK(d.live()->generation == 2);
    CHECK(d.live()->trigger == core::Trigger::Manual);
    CHECK(d.live()->members.front().region == core::RegionId("west"));
  }

  TEST_CASE("the trigger is the one of the write sent, not of a plan of the same generation dropped") {
    const config::Service s = service();
    drive::ServiceDriver d(s, drive::DriverOptions{core::ObserverId("obs-a"), std::nullopt}, 1);
    auto held = ok("192.0.2.1", 1, "obs-b");
    run(d, held, kT0, "obs-a");
    d.take(plan(1, "west", "198.51.100.1", core::Trigger::Automatic), kT0);
    run(d, held, kT0, "obs-a");  // generation 2, automatic, live
    // A manual move decided against generation 1 (before the read-back) is dropped unsent.
    d.take(plan(1, "east", "192.0.2.1", core::Trigger::Manual), kT0);
    run(d, held, kT0, "obs-a");
    REQUIRE(d.live());
    CHECK(d.live()->generation == 2);
    CHECK(d.live()->trigger == core::Trigger::Automatic);
  }

  TEST_CASE("an automatic plan waits rank * stagger in a cluster; a manual one goes at once") {
    const config::Service s = service();
    drive::ServiceDriver d(s,
                           drive::DriverOptions{core::ObserverId("obs-b"), std::chrono::seconds(1)},
                           1);
    auto held = ok("192.0.2.1", 1, "obs-a");
    run(d, held, kT0, "obs-b");
    auto wait = d.take(plan(1, "west", "198.51.100.1", core::Trigger::Automatic, {"obs-a", "obs-c"}),
                       kT0, std::chrono::milliseconds(50));
    REQUIRE(wait);
    CHECK(*wait == std::chrono::milliseconds(1100));  // rank 1: 1 s + 2 x 50 ms
    CHECK(d.next_due() == kT0 + std::chrono::milliseconds(1100));
    run(d, held, kT0 + std::chrono::milliseconds(500), "obs-b");
    CHECK(held.state.fence->generation == 1);  // nothing written before the wait is over
    run(d, held, kT0 + std::chrono::milliseconds(1100), "obs-b");
    CHECK(held.state.fence->generation == 2);
    CHECK_FALSE(d.take(plan(2, "east", "192.0.2.1", core::Trigger::Manual, {"obs-a"}),
                       kT0 + std::chrono::seconds(2)));
  }

  TEST_CASE("a frozen service's driver sends no automatic plan, even one deferred before") {
    const config::Service s = service();
    drive::ServiceDriver d(s,
                           drive::DriverOptions{core::ObserverId("obs-b"), std::chrono::seconds(1)},
                           1);
    auto held = ok("192.0.2.1", 1, "obs-a");
    run(d, held, kT0, "obs-b");
    REQUIRE(d.take(plan(1, "west", "198.51.100.1", core::Trigger::Automatic, {"obs-a"}), kT0));
    d.set_held(true);
    run(d, held, kT0 + std::chrono::seconds(2), "obs-b");
    CHECK(held.state.fence->generation == 1);
  }
}
