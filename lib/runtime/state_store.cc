#include "runtime/state_store.h"

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "actuate/reconcile.h"
#include "core/observer.h"
#include "log/log.h"
#include "state/state_writer.h"

namespace failoverd::runtime {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string wall_time_of(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string wall_time() { return wall_time_of(unix_ms_now()); }

void persist_holds(const core::HoldState& h, state::PersistedService& ps) {
  if (h.version == 0) return;
  auto hold = [](const std::optional<core::Hold>& x) -> std::optional<state::PersistedHold> {
    if (!x) return std::nullopt;
    return state::PersistedHold{x->who, x->reason, x->since_unix_ms, x->observer.str(),
                                x->region.str()};
  };
  ps.hold_version = h.version;
  ps.hold_author = h.author.str();
  ps.hold_action = std::string(core::to_string(h.action));
  ps.hold_who = h.who;
  ps.freeze_hold = hold(h.freeze);
  ps.pin_hold = hold(h.pin);
}

core::HoldState restored_holds(const state::PersistedService& ps) {
  core::HoldState h;
  if (ps.hold_version == 0) return h;
  auto hold = [](const std::optional<state::PersistedHold>& x) -> std::optional<core::Hold> {
    if (!x) return std::nullopt;
    return core::Hold{x->who, x->reason, x->since_unix_ms, core::ObserverId{x->observer},
                      core::RegionId{x->region}};
  };
  h.version = ps.hold_version;
  h.author = core::ObserverId{ps.hold_author};
  h.action = core::parse_hold_change(ps.hold_action).value_or(core::HoldChange::Unfreeze);
  h.who = ps.hold_who;
  h.freeze = hold(ps.freeze_hold);
  h.pin = hold(ps.pin_hold);
  return h;
}

std::optional<HoldOrigin> origin_from_journal(const std::vector<state::PersistedEntry>& journal,
                                              const std::string& service, const std::string& kind) {
  for (const auto& e : journal) {  // newest first
    if (e.service != service || e.kind != kind) continue;
    const auto r = e.detail.find("; reason: ");
    const auto o = e.detail.rfind("; outcome: ");
    if (r == std::string::npos || o == std::string::npos || o < r) return std::nullopt;
    const std::string outcome = e.detail.substr(o + 11);
    if (outcome != "done" && !outcome.starts_with("plan generation")) continue;  // refused
    return HoldOrigin{e.who, e.detail.substr(r + 10, o - r - 10), e.time};
  }
  return std::nullopt;
}

state::PersistedService persisted_service(const core::ServiceId& name,
                                          const core::ServicePolicy* p,
                                          const actuate::Reconciler& reconciler,
                                          const core::HoldState& holds, const WallAnchor& wall) {
  state::PersistedService ps;
  ps.name = name.str();
  ps.frozen = p != nullptr && p->frozen();
  if (p != nullptr) ps.frozen_reason = p->frozen_reason();
  if (p != nullptr && p->pinned()) ps.pinned = p->pinned()->str();
  if (const auto& l = reconciler.last_known_good()) {
    for (const auto& m : *l) ps.last_known_good.push_back({m.value, m.weight});
  }
  if (p != nullptr) {
    const auto h = p->history();
    ps.generation = h.generation;
    if (h.last_flip) ps.last_flip_unix_ms = wall.to_unix_ms(*h.last_flip);
    for (const auto t : h.automatic_flips) ps.automatic_flips_unix_ms.push_back(wall.to_unix_ms(t));
  }
  persist_holds(holds, ps);
  return ps;
}

core::Events restore_service(const state::PersistedService& ps,
                             const std::vector<state::PersistedEntry>& journal,
                             const core::ServiceId& id, core::ObserverEngine& core,
                             ServiceParts parts, const WallAnchor& wall, core::TimePoint now) {
  core::Events events;
  parts.holds = restored_holds(ps);
  if (ps.frozen) {
    core::AdminAction a;
    a.kind = core::AdminAction::Kind::Freeze;
    a.service = id;
    a.reason = ps.frozen_reason;
    events = core.admin(a, now).events;
    parts.freeze_origin = origin_from_journal(journal, ps.name, "admin_freeze");
  }
  if (ps.pinned) {
    core.restore_pin(id, core::RegionId{*ps.pinned});
    parts.pin_origin = origin_from_journal(journal, ps.name, "admin_pin");
  }
  if (ps.generation != 0) {
    core::ServicePolicy::History h;
    h.generation = ps.generation;
    if (ps.last_flip_unix_ms) h.last_flip = wall.from_unix_ms(*ps.last_flip_unix_ms);
    for (const auto ms : ps.automatic_flips_unix_ms) h.automatic_flips.push_back(wall.from_unix_ms(ms));
    core.restore_history(id, h);
  }
  std::vector<actuate::LiveMember> lkg;
  for (const auto& m : ps.last_known_good) lkg.push_back({m.value, m.weight});
  if (!lkg.empty()) parts.reconciler.set_last_known_good(std::move(lkg));
  return events;
}

StateStore::StateStore() = default;
StateStore::~StateStore() = default;

std::optional<std::string> StateStore::open(const std::string& state_dir,
                                            const std::string& observer, state::Loaded& loaded) {
  std::error_code ec;
  // A state_dir the daemon makes is its own alone (the loader refuses one others can write).
  const bool created = std::filesystem::create_directories(state_dir, ec);
  if (ec) return "state_dir " + state_dir + ": " + ec.message();
  if (created) {
    std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  path_ = state_dir + "/state.json";
  loaded = state::load_state_file(path_, observer);
  if (loaded.kind == state::Loaded::Kind::Refused) return "state file: " + loaded.error;
  return std::nullopt;
}

bool StateStore::usable(const state::Loaded& loaded) const {
  if (loaded.kind == state::Loaded::Kind::Corrupt) {
    log::error("state file unusable; set aside as state.json.corrupt, starting without it",
               {{"file", path_}, {"error", loaded.error}});
    std::rename(path_.c_str(), (path_ + ".corrupt").c_str());
    return false;
  }
  return loaded.kind == state::Loaded::Kind::Ok;
}

void StateStore::start_writing() { writer_ = std::make_unique<state::StateWriter>(path_); }

void StateStore::save(const state::PersistedState& st) {
  if (!writer_) return;
  if (auto err = writer_->take_error()) log::error("cannot save state", {{"error", *err}});
  std::string text = state::serialize(st);
  if (text == saved_) return;
  writer_->submit(text);
  saved_ = std::move(text);
}

void StateStore::flush() {
  if (!writer_) return;
  writer_->flush();
  if (auto err = writer_->take_error()) log::error("cannot save state", {{"error", *err}});
}

}  // namespace failoverd::runtime
