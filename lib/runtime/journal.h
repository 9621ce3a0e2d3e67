// The decision journal: what the core, the actuators, the peers and the operators did, newest
// first, as the admin API's /events shows it and the state file keeps its newest entries.
//
// Owns: the bounded list of entries (kBound; the oldest falls off) and the next entry id.
// Promises:
//   - Ids rise by one per entry and never repeat, also across a restart (restore() continues
//     from the id the state file kept).
//   - An entry's detail is bounded (state::kMaxDetailBytes); its time is the wall clock, UTC.
//   - view() pages newest first: entries with an id below `cursor`, at most `limit`, and the
//     cursor of the next page (null on the last).
// Called by the engine (core events, actuator events, adopted holds, admin actions), by its
// state store path (keep/restore) and by the admin API (view).
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "state/state_file.h"

namespace failoverd::runtime {

class Journal {
 public:
  // One entry: the same record the state file keeps.
  using Entry = state::PersistedEntry;
  static constexpr std::size_t kBound = 1000;

  void add(std::string service, std::string kind, std::string who, std::string detail);
  // Appends the entries a state file kept (newest first, all older than any added since) and
  // continues the ids after theirs.
  void restore(const std::vector<Entry>& kept, std::uint64_t next_id);
  // The newest entries (at most state::kPersistedJournal) and the next id, into `st`.
  void keep(state::PersistedState& st) const;
  std::size_t size() const { return entries_.size(); }
  // The admin API's page of the journal (admin::Control::events).
  boost::json::value view(std::optional<std::uint64_t> cursor, std::size_t limit) const;

 private:
  std::deque<Entry> entries_;
  std::uint64_t next_id_ = 1;
};

}  // namespace failoverd::runtime
