#include "runtime/journal.h"

#include <algorithm>
#include <boost/json.hpp>

#include "runtime/state_store.h"

namespace failoverd::runtime {

namespace json = boost::json;

void Journal::add(std::string service, std::string kind, std::string who, std::string detail) {
  entries_.push_front({next_id_++, wall_time(), std::move(service), std::move(kind),
                       std::move(who), state::bounded(detail, state::kMaxDetailBytes)});
  if (entries_.size() > kBound) entries_.pop_back();
}

void Journal::restore(const std::vector<Entry>& kept, std::uint64_t next_id) {
  entries_.insert(entries_.end(), kept.begin(), kept.end());
  next_id_ = std::max(next_id_, next_id);
}

void Journal::keep(state::PersistedState& st) const {
  for (const auto& e : entries_) {
    if (st.journal.size() == state::kPersistedJournal) break;
    st.journal.push_back(e);
  }
  st.next_journal_id = next_id_;
}

json::value Journal::view(std::optional<std::uint64_t> cursor, std::size_t limit) const {
  json::array out;
  std::optional<std::uint64_t> next;
  for (const auto& e : entries_) {
    if (cursor && e.id >= *cursor) continue;
    if (out.size() == limit) {
      next = e.id + 1;
      break;
    }
    out.push_back(json::object{{"id", e.id}, {"time", e.time}, {"service", e.service},
                               {"kind", e.kind}, {"who", e.who}, {"detail", e.detail}});
  }
  return json::object{{"events", std::move(out)},
                      {"next_cursor", next ? json::value(*next) : json::value(nullptr)}};
}

}  // namespace failoverd::runtime
