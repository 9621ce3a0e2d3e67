// The level-triggered reconcile loop of one service against one target (README "Safety rules, in
// plain words": compare-and-swap, read back; lab scenarios A1-A5; capped backoff).
//
// Reconciler is the pure decision part: no I/O, no clock reads. The shell asks poll(now) for the
// next operation (a read or a CAS write), performs it with an Actuator (the daemon) or a fake
// target (the simulator), and feeds the result back with on_read / on_write; take_events()
// returns what to log, count and alert on; next_due() is when to call poll again. The service
// driver (drive/service_driver.h) is its one user in both.
//
// Rules, with the scenario each one answers:
// - The plan guards (core/guards.h: empty_set, zero_weight, below_min_targets, stale_generation,
//   decision_too_old) are checked by poll() immediately before it hands out a write, with the
//   generation just read and the time of sending: a plan that breaks one is dropped (Rejected,
//   with the rule) and the target is read again; it is never sent.
// - Every write is followed by a read-back. Own generation and members live: converged.
//   An Unknown write (A2: reply lost after the server applied it) is resolved by that read: own
//   generation found -> converged, no second write. Still the old fence -> not applied: the same
//   CAS is sent again after a backoff with full jitter (A3). A fence that moved elsewhere (A1) ->
//   Conflict: the plan is dropped and the policy must re-decide; it is never re-applied on top.
// - A new plan is written only when the live generation still equals plan.base_generation.
// - Every reconcile_interval the target is read. An empty RRset, a missing fence, a corrupt
//   fence or a generation "from the future" (our own id with a generation we never wrote, or a
//   jump above max_generation_jump) freezes the service with an alert (A5); frozen, nothing is
//   written until restore(), which CAS-writes the last known good members with a generation
//   above everything seen. A valid state whose generation is above everything seen when and
//   while frozen (another observer's restore) is adopted and ends the freeze as well.
// - Live members that differ from what we converged on while the fence is unchanged are drift
//   (a hand edit): repaired by a CAS write or only reported, per config. A fence moved by another
//   observer is adopted, not fought.
// - Refused (A4: wrong key, REFUSED, NOTAUTH, a TSIG BADTIME from a clock that is off) blocks
//   the loop: the plan is dropped, an alert is raised once per cause, and the target is tried
//   again after a capped backoff with jitter (reads, and a write only once the backoff has
//   passed). A refused read is over with the next read that succeeds, a refused write with the
//   next write that is applied: then Resumed. So a clock put right or a key fixed by a reload
//   needs no restart. Invalid (a plan the target cannot express: a bug or config) stops the
//   loop until resume(). Unreachable reads back off too, except one that got part of its answers
//   (ReadResult::answered: a slow server, whose actuator lengthens its deadline): read again at
//   once. No hot loop anywhere.
// - Write budget: at most write_budget automated writes (automatic plans, drift repairs, and
//   every retry of a CAS, whoever asked for it) within write_budget_window. The write over it
//   is not sent: BudgetExhausted (alert; the shell freezes the service), and every later one
//   is dropped too until the window has room again or reset_budget(). An operator's manual
//   plan and restore are not counted, their retries are. So a bug anywhere upstream that keeps
//   asking for writes costs a few writes, never a stream of them.
// - While held (set_held(true): the service's automation is frozen by an operator, a peer's
//   adopted freeze, or the core), drift is only reported, never repaired, and automatic plans
//   are rejected, including one taken before the hold and still waiting for its read (it is
//   dropped when its read returns). A write already sent is not called back.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actuate/target_state.h"
#include "config/config.h"
#include "core/backoff.h"
#include "core/plan.h"
#include "core/rules.h"

namespace failoverd::actuate {

struct ReconcileOptions {
  core::ServiceId service;  // copied into the plans the reconciler makes (repair, restore)
  core::ObserverId self;    // our fence writer id
  config::DriftAction drift = config::DriftAction::Repair;
  core::Duration interval = std::chrono::seconds(30);  // periodic read
  core::BackoffPolicy retry{};                         // after Unknown / unreachable
  // A fence generation more than this above the highest one seen counts as "from the future".
  core::Generation max_generation_jump = 1000;
  std::uint32_t min_targets = 1;                                   // plan guards, at sending
  core::Duration max_decision_age = std::chrono::seconds(10);
  std::uint32_t write_budget = 10;                                 // automated writes...
  core::Duration write_budget_window = std::chrono::minutes(10);  // ...within this window
};

struct ReconcileEvent {
  enum class Kind {
    Applied,      // our write is live (read back)
    Conflict,     // the CAS failed or the world moved: the policy must re-decide
    Unknown,      // a write had no usable answer; resolving by reading
    Retry,        // read back showed the write not applied; the same CAS is retried after backoff
    Unreachable,  // a read failed; retrying after backoff
    Drift,        // live members differ from what we converged on (repairing or reporting)
    Adopted,      // another writer moved the fence; its members are now our baseline
    Frozen,       // empty / missing fence / corrupt / future generation: automation stopped
    Restored,     // restore() put the last known good set back, or another observer's restore
                  // was adopted; unfrozen
    Refused,      // the target refused (auth, policy, clock): blocked, retried after backoff
    Invalid,      // the plan could not be expressed (a bug or config): stopped until resume()
    Rejected,     // a plan or restore was not accepted (frozen, stopped, nothing known good)
    BudgetExhausted,  // write_budget automated writes within write_budget_window: not sent
    Resumed,      // the target accepts us again after a refusal
  };
  Kind kind;
  std::string detail;
  core::Generation generation = 0;
  bool alert = false;  // raise an alert (not only a log line)
  std::optional<core::Rule> rule;  // Rejected by a plan guard at sending: which one
};
std::string_view to_string(ReconcileEvent::Kind k);

struct ReconcileAction {
  enum class Kind { Read, Write };
  Kind kind = Kind::Read;
  core::Plan plan;     // Write only
  LiveState expected;  // Write only
};

class Reconciler {
 public:
  Reconciler(ReconcileOptions options, std::uint64_t seed);

  // A new decision from the policy. Applied after a fresh read if the live generation is still
  // plan.base_generation; otherwise Conflict. Rejected while frozen or stopped. A read already
  // in flight serves as that read, unless `fresh_read`: then only a read sent after this call
  // does (a deferred writer must see what the writers before it did, core/writer.h).
  void set_desired(core::Plan plan, core::TimePoint now, bool fresh_read = false);
  // Manual `failoverctl restore`: CAS-write the last known good members, then unfreeze. Never
  // dropped for an operation in flight: it takes over a periodic read, or starts once a write is
  // resolved.
  void restore(core::TimePoint now);
  // Leave the stopped state (after config reload or by hand); starts with a read.
  void resume(core::TimePoint now);
  // Automation of the service is frozen (operator or core): no drift repair, no automatic plan.
  void set_held(bool held) { held_ = held; }
  // An operator unfroze the service: the automated writes counted so far are forgotten.
  void reset_budget();
  // A reload replaced `previous` (the same service definition) with this one: the automated
  // writes counted in the window, the highest generation this observer wrote and the last
  // known good set (what a restore puts back) carry over, so a reload neither refills the
  // budget nor forgets whose fence is whose or what to restore. A blocked state
  // does not: the reload may be what fixed its cause (a key, a clock), so it is tried afresh.
  void continue_from(const Reconciler& previous);
  // Automated writes sent within the window ending at `now`.
  std::size_t automated_writes(core::TimePoint now);
  // Seed the last known good set (from the state store after a restart).
  void set_last_known_good(std::vector<LiveMember> members);

  // The operation due at `now`, if any; it is then in flight until its result is fed back.
  std::optional<ReconcileAction> poll(core::TimePoint now);
  // When poll() next has something (TimePoint::max() when stopped or waiting for a result).
  core::TimePoint next_due() const;
  void on_read(const ReadResult& result, core::TimePoint now);
  void on_write(const WriteResult& result, core::TimePoint now);
  std::vector<ReconcileEvent> take_events();

  bool frozen() const { return frozen_; }
  bool stopped() const { return phase_ == Phase::Stopped; }
  // Why the target refuses us, while it does (retried after backoff); nullopt otherwise.
  const std::optional<std::string>& blocked() const { return blocked_; }
  bool busy() const;  // a plan, write or read-back is outstanding
  // The read in flight (poll() returned it) is the read-back of a write.
  bool verifying() const {
    return phase_ == Phase::InFlight && in_flight_ == ReconcileAction::Kind::Read &&
           purpose_ == Purpose::ReadBack;
  }
  const std::optional<LiveState>& live() const { return live_; }
  const std::optional<std::vector<LiveMember>>& last_known_good() const { return lkg_; }

 private:
  enum class Phase { Read, Write, InFlight, Stopped };
  enum class Purpose { Check, Prepare, ReadBack, Restore };

  void schedule_read(Purpose purpose, core::TimePoint at);
  // Schedules a write unless it is automated (or `retry`) and the budget is spent.
  void schedule_write(core::Plan plan, LiveState expected, core::TimePoint at, bool retry = false);
  void emit(ReconcileEvent::Kind kind, std::string detail, core::Generation gen, bool alert);
  void freeze(std::string why, core::TimePoint now);
  void block(const std::string& detail, bool write, core::Generation gen, core::TimePoint now);
  void unblock(bool by_write, core::Generation gen);
  void start_restore(core::TimePoint now);
  void handle_read(const ReadResult& result, core::TimePoint now);
  core::TimePoint backoff(core::TimePoint now);
  std::optional<std::string> invalid_reason(const LiveState& s) const;
  void check(const LiveState& s, core::TimePoint now);
  void read_back(const LiveState& s, core::TimePoint now);
  void prepare(const LiveState& s, core::TimePoint now);
  void converged(const LiveState& s);

  ReconcileOptions options_;
  std::mt19937_64 rng_;
  Phase phase_ = Phase::Read;
  Purpose purpose_ = Purpose::Check;
  core::TimePoint due_{};
  ReconcileAction::Kind in_flight_ = ReconcileAction::Kind::Read;  // valid while InFlight
  std::uint32_t attempt_ = 0;

  std::optional<core::Plan> desired_;  // waiting for a fresh read
  bool stale_read_ = false;  // the read in flight was sent before a fresh_read plan came
  std::optional<core::Plan> writing_;  // written or being written; cleared when resolved
  LiveState expected_;                 // the CAS base of writing_
  std::optional<WriteStatus> write_status_;
  std::string write_detail_;  // the answer to the write, for a refusal's reason
  bool restoring_ = false;
  bool restore_pending_ = false;  // restore() came while a write was out: start once resolved

  std::optional<LiveState> live_;
  std::optional<std::vector<std::string>> intended_;  // members we converged on
  std::optional<Fence> known_fence_;                  // the fence at that point
  std::optional<std::vector<LiveMember>> lkg_;
  core::Generation max_seen_ = 0;
  bool seen_any_ = false;
  std::optional<core::Generation> max_own_written_;
  bool frozen_ = false;
  core::Generation frozen_generation_ = 0;  // highest generation seen when or while frozen
  bool drift_reported_ = false;
  bool held_ = false;
  std::optional<std::string> blocked_;  // the refusal's detail while blocked
  bool blocked_write_ = false;          // by a refused write: only an applied write ends it
  bool counted_ = false;  // the scheduled write counts against the budget
  std::deque<core::TimePoint> automated_sent_;  // send times within the window
  bool budget_alerted_ = false;  // BudgetExhausted raised; later refusals are plain Rejected
  std::vector<ReconcileEvent> events_;
};

}  // namespace failoverd::actuate
