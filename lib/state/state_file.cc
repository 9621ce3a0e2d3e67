#include "state/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>

namespace failoverd::state {

namespace json = boost::json;

std::string bounded(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t cut = max;
  // Step back over continuation bytes (10xxxxxx) so no UTF-8 sequence is split.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
  return std::string(s.substr(0, cut));
}

std::string serialize(const PersistedState& state) {
  json::object services;
  for (const auto& s : state.services) {
    json::object o;
    o["frozen"] = s.frozen;
    o["frozen_reason"] = bounded(s.frozen_reason, kMaxReasonBytes);
    if (s.pinned) o["pinned"] = *s.pinned;
    json::array lkg;
    for (const auto& m : s.last_known_good) {
      lkg.push_back(json::object{{"value", m.value}, {"weight", m.weight}});
    }
    o["last_known_good"] = std::move(lkg);
    if (s.generation != 0) {
      o["generation"] = s.generation;
      if (s.last_flip_unix_ms) o["last_flip_unix_ms"] = *s.last_flip_unix_ms;
      json::array flips;
      const std::size_t n = s.automatic_flips_unix_ms.size();
      for (std::size_t i = n > kMaxPersistedFlips ? n - kMaxPersistedFlips : 0; i < n; ++i) {
        flips.push_back(s.automatic_flips_unix_ms[i]);
      }
      o["automatic_flips_unix_ms"] = std::move(flips);
    }
    if (s.hold_version > 0) {
      auto hold = [](const std::optional<PersistedHold>& h) -> json::value {
        if (!h) return nullptr;
        return json::object{{"who", bounded(h->who, kMaxReasonBytes)},
                            {"reason", bounded(h->reason, kMaxReasonBytes)},
                            {"since_unix_ms", h->since_unix_ms},
                            {"observer", h->observer},
                            {"region", h->region}};
      };
      o["hold"] = json::object{{"version", s.hold_version},
                               {"author", s.hold_author},
                               {"action", s.hold_action},
                               {"who", bounded(s.hold_who, kMaxReasonBytes)},
                               {"freeze", hold(s.freeze_hold)},
                               {"pin", hold(s.pin_hold)}};
    }
    services[s.name] = std::move(o);
  }
  json::array journal;
  for (const auto& e : state.journal) {
    if (journal.size() == kPersistedJournal) break;
    journal.push_back(json::object{{"id", e.id},
                                   {"time", e.time},
                                   {"service", e.service},
                                   {"kind", e.kind},
                                   {"who", bounded(e.who, kMaxReasonBytes)},
                                   {"detail", bounded(e.detail, kMaxDetailBytes)}});
  }
  json::object root{{"version", kStateVersion},
                    {"observer", state.observer},
                    {"services", std::move(services)},
                    {"journal", std::move(journal)},
                    {"next_journal_id", state.next_journal_id}};
  return json::serialize(root);
}

Parsed parse(std::string_view text, std::string_view expected_observer) {
  Parsed out;
  auto corrupt = [&](std::string why) {
    out.kind = Parsed::Kind::Corrupt;
    out.error = std::move(why);
    out.state = {};
    return out;
  };
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec || !root.is_object()) return corrupt("not a JSON object");
  const auto& o = root.as_object();
  const auto* version = o.if_contains("version");
  if (version == nullptr || !version->is_int64()) return corrupt("no version number");
  if (version->as_int64() != kStateVersion) {
    out.kind = Parsed::Kind::UnknownVersion;
    out.error = "state file version " + std::to_string(version->as_int64()) +
                " is not one this failoverd reads (" + std::to_string(kStateVersion) + ")";
    return out;
  }
  const auto* observer = o.if_contains("observer");
  if (observer == nullptr || !observer->is_string()) return corrupt("no observer id");
  if (observer->as_string() != expected_observer) {
    out.kind = Parsed::Kind::WrongObserver;
    out.error = "state file was written by observer \"" + std::string(observer->as_string()) +
                "\", not by this observer (\"" + std::string(expected_observer) + "\")";
    return out;
  }
  // From here on the file is ours: a field that is off refuses start-up rather than dropping
  // whatever holds the rest of the file carries.
  auto malformed = [&](std::string why) {
    out.kind = Parsed::Kind::Malformed;
    out.error = "state file is this observer's but " + why;
    out.state = {};
    return out;
  };
  PersistedState& st = out.state;
  st.observer = std::string(observer->as_string());
  try {
    if (const auto* svcs = o.if_contains("services")) {
      for (const auto& [name, v] : svcs->as_object()) {
        const auto& so = v.as_object();
        PersistedService s;
        s.name = std::string(name);
        s.frozen = so.at("frozen").as_bool();
        s.frozen_reason = bounded(so.at("frozen_reason").as_string(), kMaxReasonBytes);
        if (const auto* pin = so.if_contains("pinned"); pin != nullptr && pin->is_string()) {
          s.pinned = std::string(pin->as_string());
        }
        for (const auto& m : so.at("last_known_good").as_array()) {
          const auto weight = m.at("weight").to_number<std::uint64_t>();
          if (weight > 0xFFFFFFFFU) return malformed("a weight is out of range");
          s.last_known_good.push_back(
              {std::string(m.at("value").as_string()), static_cast<std::uint32_t>(weight)});
        }
        if (const auto* g = so.if_contains("generation")) {
          s.generation = g->to_number<std::uint64_t>();
          if (const auto* f = so.if_contains("last_flip_unix_ms")) {
            s.last_flip_unix_ms = f->to_number<std::int64_t>();
          }
          const auto& flips = so.at("automatic_flips_unix_ms").as_array();
          if (flips.size() > kMaxPersistedFlips) return malformed("it holds too many flip times");
          for (const auto& f : flips) s.automatic_flips_unix_ms.push_back(f.to_number<std::int64_t>());
        }
        if (const auto* h = so.if_contains("hold")) {
          const auto& ho = h->as_object();
          s.hold_version = ho.at("version").to_number<std::uint64_t>();
          if (s.hold_version == 0) return malformed("a hold version is 0");
          s.hold_author = std::string(ho.at("author").as_string());
          s.hold_action = std::string(ho.at("action").as_string());
          s.hold_who = bounded(ho.at("who").as_string(), kMaxReasonBytes);
          auto hold = [](const json::value& x) -> std::optional<PersistedHold> {
            if (x.is_null()) return std::nullopt;
            return PersistedHold{bounded(x.at("who").as_string(), kMaxReasonBytes),
                                 bounded(x.at("reason").as_string(), kMaxReasonBytes),
                                 x.at("since_unix_ms").to_number<std::int64_t>(),
                                 std::string(x.at("observer").as_string()),
                                 std::string(x.at("region").as_string())};
          };
          s.freeze_hold = hold(ho.at("freeze"));
          s.pin_hold = hold(ho.at("pin"));
        }
        st.services.push_back(std::move(s));
      }
    }
    if (const auto* j = o.if_contains("journal")) {
      for (const auto& e : j->as_array()) {
        if (st.journal.size() == kPersistedJournal) break;
        st.journal.push_back(
            {e.at("id").to_number<std::uint64_t>(), std::string(e.at("time").as_string()),
             std::string(e.at("service").as_string()), std::string(e.at("kind").as_string()),
             bounded(e.at("who").as_string(), kMaxReasonBytes),
             bounded(e.at("detail").as_string(), kMaxDetailBytes)});
      }
    }
    if (const auto* n = o.if_contains("next_journal_id")) {
      st.next_journal_id = n->to_number<std::uint64_t>();
    }
  } catch (const std::exception& e) {
    return malformed(std::string("has an unexpected shape: ") + e.what());
  }
  return out;
}

Loaded load_state_file(const std::string& path, std::string_view expected_observer) {
  Loaded out;
  auto refuse = [&](std::string why) {
    out.kind = Loaded::Kind::Refused;
    out.error = std::move(why);
    return out;
  };
  // O_NONBLOCK: a FIFO or device planted at the path must not hang start-up; O_NOFOLLOW: a
  // symbolic link is not followed to a file somewhere else.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return out;  // Missing
    if (err == ELOOP) return refuse(path + " is a symbolic link; move it away");
    return refuse("open " + path + ": " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return refuse("stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse(path + " is not a regular file; move it away");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxStateFileBytes) {
    return refuse(path + " is larger than " + std::to_string(kMaxStateFileBytes) +
                  " bytes; it may hold freezes, so it is not dropped: move it away to start "
                  "without it");
  }
  std::string data;
  data.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refuse("read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > kMaxStateFileBytes) {
      return refuse(path + " grew beyond " + std::to_string(kMaxStateFileBytes) + " bytes");
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  Parsed p = parse(data, expected_observer);
  switch (p.kind) {
    case Parsed::Kind::Ok:
      out.kind = Loaded::Kind::Ok;
      out.state = std::move(p.state);
      return out;
    case Parsed::Kind::Corrupt:
      out.kind = Loaded::Kind::Corrupt;
      out.error = std::move(p.error);
      return out;
    case Parsed::Kind::WrongObserver:
    case Parsed::Kind::UnknownVersion:
    case Parsed::Kind::Malformed:
      return refuse(path + ": " + p.error + "; move it away to start without it");
  }
  return out;
}

}  // namespace failoverd::state
