// The merge rule for operator holds shared across the cluster (core/holds.h).
#include "core/holds.h"

#include <doctest/doctest.h>

using namespace failoverd;
using core::HoldChange;
using core::HoldState;

namespace {

core::Hold by(std::string who, std::string observer, std::int64_t since = 0) {
  return core::Hold{std::move(who), "because", since, core::ObserverId(std::move(observer)), {}};
}

const core::ObserverId a("obs-a"), b("obs-b"), c("obs-c");

}  // namespace

TEST_SUITE("core.holds") {
  TEST_CASE("an action is newer than everything its observer knew") {
    HoldState s;
    auto frozen = core::next_state(s, HoldChange::Freeze, a, by("ops", "obs-a"));
    CHECK(frozen.version == 1);
    CHECK(frozen.author == a);
    CHECK(frozen.freeze.has_value());
    CHECK(core::newer(frozen, s));
    auto pinned = core::next_state(frozen, HoldChange::Pin, b, by("alice", "obs-b"));
    CHECK(pinned.version == 2);
    CHECK(pinned.freeze == frozen.freeze);  // the state is complete: the freeze stays
    CHECK(pinned.pin->who == "alice");
    auto thawed = core::next_state(pinned, HoldChange::Unfreeze, c, {});
    CHECK_FALSE(thawed.freeze.has_value());
    CHECK(thawed.pin.has_value());
    CHECK(core::newer(thawed, pinned));
  }

  TEST_CASE("the newer version wins, an older one is ignored") {
    HoldState local = core::next_state({}, HoldChange::Freeze, a, by("ops", "obs-a"));
    local = core::next_state(local, HoldChange::Unfreeze, a, {});  // version 2, unfrozen
    const HoldState stale = core::next_state({}, HoldChange::Freeze, b, by("bob", "obs-b"));
    CHECK_FALSE(core::merge(local, stale));  // version 1 from obs-b: older
    CHECK(local.version == 2);
    CHECK_FALSE(local.freeze.has_value());
    HoldState fresh = core::next_state(local, HoldChange::Freeze, c, by("carol", "obs-c"));
    CHECK(core::merge(local, fresh));
    CHECK(local == fresh);
    CHECK(local.author == c);
    CHECK_FALSE(core::merge(local, fresh));  // the same one again changes nothing
  }

  TEST_CASE("an adopted version is the base of the next local action") {
    HoldState on_a = core::next_state({}, HoldChange::Freeze, a, by("ops", "obs-a"));
    on_a = core::next_state(on_a, HoldChange::Pin, a, by("ops", "obs-a"));  // version 2
    HoldState on_b;
    REQUIRE(core::merge(on_b, on_a));
    auto unfrozen_on_b = core::next_state(on_b, HoldChange::Unfreeze, b, {});
    CHECK(unfrozen_on_b.version == 3);
    CHECK(core::merge(on_a, unfrozen_on_b));
    CHECK_FALSE(on_a.freeze.has_value());
  }

  TEST_CASE("equal versions are broken by observer id, the same way everywhere") {
    const HoldState base = core::next_state({}, HoldChange::Freeze, a, by("ops", "obs-a"));
    // obs-a unfreezes and obs-c pins at once, both from version 1.
    const auto from_a = core::next_state(base, HoldChange::Unfreeze, a, {});
    const auto from_c = core::next_state(base, HoldChange::Pin, c, by("carol", "obs-c"));
    REQUIRE(from_a.version == from_c.version);
    HoldState on_a = from_a, on_c = from_c, on_b = base;
    CHECK(core::merge(on_a, from_c));
    CHECK_FALSE(core::merge(on_c, from_a));
    core::merge(on_b, from_a);
    core::merge(on_b, from_c);
    CHECK(on_a == on_c);
    CHECK(on_b == on_c);
    CHECK(on_b.author == c);
  }

  TEST_CASE("wall-clock stamps never order states") {
    // obs-b's clock is far behind: its later action carries an earlier stamp and still wins.
    HoldState local = core::next_state({}, HoldChange::Freeze, a, by("ops", "obs-a", 9'000'000));
    const HoldState later = core::next_state(local, HoldChange::Freeze, b, by("bob", "obs-b", 1));
    CHECK(core::merge(local, later));
    CHECK(local.freeze->who == "bob");
    HoldState future = core::next_state({}, HoldChange::Freeze, c, by("eve", "obs-c", INT64_MAX));
    CHECK_FALSE(core::merge(local, future));  // version 1: older, whatever its stamp says
  }

  TEST_CASE("a restarted observer that kept its version does not undo a newer action") {
    // obs-b knew version 5 (unfrozen) when it stopped; state.json kept it.
    HoldState persisted;
    persisted.version = 5;
    persisted.author = a;
    HoldState restarted = persisted;
    // A peer still offering an older freeze (version 4) is not adopted ...
    HoldState old_freeze;
    old_freeze.version = 4;
    old_freeze.author = c;
    old_freeze.freeze = by("ops", "obs-c");
    CHECK_FALSE(core::merge(restarted, old_freeze));
    CHECK_FALSE(restarted.freeze.has_value());
    // ... while a restarted observer that had lost its version would have taken it.
    HoldState amnesiac;
    CHECK(core::merge(amnesiac, old_freeze));
  }
}

TEST_SUITE("core.holds.effects") {
  TEST_CASE("an adopted freeze freezes, an adopted unfreeze thaws only an operator's freeze") {
    const HoldState none;
    const auto frozen = core::next_state(none, HoldChange::Freeze, a, by("ops", "obs-a"));
    CHECK(core::hold_effects(none, frozen, false, std::nullopt).freeze);
    CHECK_FALSE(core::hold_effects(none, frozen, true, std::nullopt).freeze);  // already
    const auto thawed = core::next_state(frozen, HoldChange::Unfreeze, a, by("ops", "obs-a"));
    CHECK(core::hold_effects(frozen, thawed, true, std::nullopt).unfreeze);
    // A budget freeze of the receiver's own is not lifted by a pin from elsewhere.
    auto pin = by("ops", "obs-a");
    pin.region = core::RegionId("r2");
    const auto pinned = core::next_state(none, HoldChange::Pin, a, pin);
    auto fx = core::hold_effects(none, pinned, true, std::nullopt);
    CHECK_FALSE(fx.unfreeze);
    CHECK(fx.pin == core::RegionId("r2"));
    CHECK_FALSE(core::hold_effects(none, pinned, false, core::RegionId("r2")).pin.has_value());
    const auto unpinned = core::next_state(pinned, HoldChange::Unpin, b, by("bob", "obs-b"));
    CHECK(core::hold_effects(pinned, unpinned, false, core::RegionId("r2")).unpin);
    CHECK_FALSE(core::hold_effects(pinned, unpinned, false, std::nullopt).unpin);
  }
}
