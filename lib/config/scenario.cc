#include "config/scenario.h"

#include "config/loader.h"

#include <cctype>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <toml++/toml.h>

namespace failoverd::config {

namespace {

using core::ObserverId;
using core::RegionId;

// Same duration syntax as the config ("250ms", "10s", "5m", "1h", "14d", "1m30s").
std::optional<Duration> duration_of(std::string_view text) {
  auto d = parse_duration(text);
  if (!d) return std::nullopt;
  return std::chrono::duration_cast<Duration>(*d);
}

std::optional<core::ProbeReason> reason_of(std::string_view text) {
  for (int i = 0; i <= static_cast<int>(core::ProbeReason::Internal); ++i) {
    auto r = static_cast<core::ProbeReason>(i);
    if (core::to_string(r) == text) return r;
  }
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void error(const toml::source_region& where, const std::string& key, const std::string& msg) {
    errors.push_back(file_ + ":" + std::to_string(where.begin.line) + ":" +
                     std::to_string(where.begin.column) + ": " + (key.empty() ? "" : key + ": ") +
                     msg);
  }

  void allow(const toml::table& t, const std::string& path,
             std::initializer_list<std::string_view> keys) {
    for (auto&& [k, v] : t) {
      bool known = false;
      for (auto key : keys) known = known || k.str() == key;
      if (!known) error(v.source(), join(path, std::string(k.str())), "unknown key");
    }
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::optional<std::string> str(const toml::table& t, std::string_view key,
                                 const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<std::string>()) return *v;
    error(n->source(), join(path, std::string(key)), "expected a string");
    return std::nullopt;
  }

  std::optional<Duration> dur(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto s = n->value<std::string>();
    auto d = s ? duration_of(*s) : std::nullopt;
    if (!d) {
      error(n->source(), join(path, std::string(key)),
            "expected a duration such as \"250ms\" or \"10s\"");
    }
    return d;
  }

  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key,
                                      const std::string& path, std::int64_t lo = 0) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value_exact<std::int64_t>(); v && *v >= lo) return *v;
    error(n->source(), join(path, std::string(key)),
          "expected an integer >= " + std::to_string(lo));
    return std::nullopt;
  }

  std::optional<double> number(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<double>()) return *v;
    error(n->source(), join(path, std::string(key)), "expected a number");
    return std::nullopt;
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value_exact<bool>()) return *v;
    error(n->source(), join(path, std::string(key)), "expected true or false");
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> strings(const toml::node* n, const std::string& key) {
    const toml::array* a = n ? n->as_array() : nullptr;
    if (!a) {
      if (n) error(n->source(), key, "expected an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const toml::node& e : *a) {
      auto v = e.value<std::string>();
      if (!v) {
        error(e.source(), key, "expected an array of strings");
        return std::nullopt;
      }
      out.push_back(*v);
    }
    return out;
  }

  std::optional<std::vector<std::string>> strings(const toml::table& t, std::string_view key,
                                                  const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    return strings(n, join(path, std::string(key)));
  }

  // Assigns `out` from one of `names` (given as {name, value} pairs).
  template <typename E>
  void choice(const toml::table& t, std::string_view key, const std::string& path, E& out,
              std::initializer_list<std::pair<std::string_view, E>> names) {
    auto s = str(t, key, path);
    if (!s) return;
    for (const auto& [name, value] : names) {
      if (*s == name) {
        out = value;
        return;
      }
    }
    std::string all;
    for (const auto& [name, value] : names) all += (all.empty() ? "" : ", ") + std::string(name);
    error(t.get(key)->source(), join(path, std::string(key)), "expected one of " + all);
  }

  std::vector<std::string> errors;

 private:
  std::string file_;
};

template <typename T>
void set(std::optional<T> v, T& out) {
  if (v) out = *v;
}

template <typename Out, typename In>
void set_int(std::optional<In> v, Out& out) {
  if (v) out = static_cast<Out>(*v);
}

std::vector<ObserverId> observer_ids(const std::vector<std::string>& names) {
  std::vector<ObserverId> out;
  for (const auto& n : names) out.emplace_back(n);
  return out;
}

void read_cluster(Reader& rd, const toml::table& root, ScenarioFile& f) {
  Config& c = f.config;
  if (const toml::table* t = root["observer"].as_table()) {
    rd.allow(*t, "observer", {"tilt_period", "max_loop_lag"});
    set(rd.dur(*t, "tilt_period", "observer"), c.observer.tilt_period);
    set(rd.dur(*t, "max_loop_lag", "observer"), c.observer.max_loop_lag);
  }
  c.cluster = Cluster{};
  if (const toml::table* t = root["cluster"].as_table()) {
    rd.allow(*t, "cluster", {"verdict_ttl", "exchange_interval", "quorum"});
    set(rd.dur(*t, "verdict_ttl", "cluster"), c.cluster->verdict_ttl);
    set(rd.dur(*t, "exchange_interval", "cluster"), c.cluster->exchange_interval);
    set_int(rd.integer(*t, "quorum", "cluster"), c.cluster->quorum);
  }
  const auto& ids = f.scenario.observers;
  if (!ids.empty()) c.observer.id = ids.front();
  for (std::size_t i = 1; i < ids.size(); ++i) c.cluster->peers.push_back(Peer{ids[i], {}});

  Endpoint proto;
  if (const toml::table* t = root["probe_defaults"].as_table()) {
    const std::string p = "probe_defaults";
    rd.allow(*t, p,
             {"interval", "fast_interval", "down_interval", "rise", "fall", "forgive_after",
              "degraded_latency"});
    set(rd.dur(*t, "interval", p), proto.interval);
    set(rd.dur(*t, "fast_interval", p), proto.fast_interval);
    set(rd.dur(*t, "down_interval", p), proto.down_interval);
    set(rd.dur(*t, "degraded_latency", p), proto.degraded_latency);
    set_int(rd.integer(*t, "rise", p, 1), proto.rise);
    set_int(rd.integer(*t, "fall", p, 1), proto.fall);
    set_int(rd.integer(*t, "forgive_after", p), proto.forgive_after);
  }
  auto endpoint = [&proto](const std::string& name) {
    Endpoint e = proto;
    e.name = core::EndpointId{name};
    return e;
  };
  if (auto names = rd.strings(root, "control", "")) {
    for (const auto& n : *names) c.control.push_back(endpoint(n));
  }

  if (const toml::table* regions = root["regions"].as_table()) {
    for (auto&& [name, node] : *regions) {
      const std::string p = "regions." + std::string(name.str());
      const toml::table* t = node.as_table();
      if (!t) {
        rd.error(node.source(), p, "expected a table");
        continue;
      }
      rd.allow(*t, p, {"endpoints", "min_up", "min_up_fraction", "degraded_fraction"});
      Region r;
      r.name = RegionId{std::string(name.str())};
      set_int(rd.integer(*t, "min_up", p), r.min_up);
      set(rd.number(*t, "min_up_fraction", p), r.min_up_fraction);
      set(rd.number(*t, "degraded_fraction", p), r.degraded_fraction);
      if (auto eps = rd.strings(*t, "endpoints", p)) {
        for (const auto& e : *eps) r.endpoints.push_back(endpoint(e));
      } else if (!t->get("endpoints")) {
        rd.error(t->source(), p + ".endpoints", "missing");
      }
      c.regions.push_back(std::move(r));
    }
  }

  if (const toml::table* services = root["services"].as_table()) {
    for (auto&& [name, node] : *services) {
      const std::string p = "services." + std::string(name.str());
      const toml::table* t = node.as_table();
      if (!t) {
        rd.error(node.source(), p, "expected a table");
        continue;
      }
      rd.allow(*t, p,
               {"policy", "mode", "regions", "weights", "degraded_weight_factor", "publish",
                "failback", "failback_delay", "hold_down", "flip_budget", "flip_window",
                "min_targets", "max_decision_age", "target"});
      Service s;
      s.name = core::ServiceId{std::string(name.str())};
      rd.choice(*t, "policy", p, s.policy,
                {{"priority", Policy::Priority}, {"weighted", Policy::Weighted}});
      rd.choice(*t, "mode", p, s.mode, {{"auto", Mode::Auto}, {"propose", Mode::Propose}});
      // The target's kind: the simulator runs a fake target with that kind's semantics.
      rd.choice(*t, "target", p, s.target.kind,
                {{"rfc2136", TargetKind::Rfc2136}, {"powerdns", TargetKind::PowerDns},
                 {"haproxy", TargetKind::HaProxy}, {"exec", TargetKind::Exec}});
      s.target.scope = s.target.kind == TargetKind::HaProxy || s.target.kind == TargetKind::Exec
                           ? TargetScope::Local
                           : TargetScope::Shared;
      if (s.policy == Policy::Weighted && s.target.kind == TargetKind::Rfc2136) {
        rd.error(t->source(), p + ".target",
                 "policy \"weighted\" needs a target that holds weights: set target = "
                 "\"powerdns\", \"haproxy\" or \"exec\" (plain A/AAAA records on an RFC 2136 "
                 "zone hold none)");
      }
      rd.choice(*t, "failback", p, s.failback,
                {{"manual", Failback::Manual}, {"auto", Failback::Auto}});
      if (auto regions = rd.strings(*t, "regions", p)) {
        for (const auto& r : *regions) s.regions.emplace_back(r);
      }
      if (const toml::table* w = (*t)["weights"].as_table()) {
        for (auto&& [region, weight] : *w) {
          auto v = weight.value_exact<std::int64_t>();
          if (!v || *v < 0) {
            rd.error(weight.source(), p + ".weights." + std::string(region.str()),
                     "expected an integer >= 0");
            continue;
          }
          s.weights[RegionId{std::string(region.str())}] = static_cast<std::uint32_t>(*v);
        }
      }
      if (const toml::table* pub = (*t)["publish"].as_table()) {
        for (auto&& [region, values] : *pub) {
          if (auto v = rd.strings(&values, p + ".publish." + std::string(region.str()))) {
            s.publish[RegionId{std::string(region.str())}] = *v;
          }
        }
      }
      set(rd.number(*t, "degraded_weight_factor", p), s.degraded_weight_factor);
      set(rd.dur(*t, "failback_delay", p), s.failback_delay);
      set(rd.dur(*t, "hold_down", p), s.hold_down);
      set(rd.dur(*t, "flip_window", p), s.flip_window);
      set(rd.dur(*t, "max_decision_age", p), s.max_decision_age);
      set_int(rd.integer(*t, "flip_budget", p), s.flip_budget);
      set_int(rd.integer(*t, "min_targets", p), s.min_targets);
      for (const auto& r : s.regions) {
        if (!c.find_region(r)) rd.error(t->source(), p + ".regions", "unknown region " + r.str());
      }
      for (const auto& [r, w] : s.weights) {
        if (!c.find_region(r)) rd.error(t->source(), p + ".weights", "unknown region " + r.str());
      }
      c.services.push_back(std::move(s));
    }
  }
  f.has_cluster = !c.regions.empty() && !c.services.empty();
}

void read_timeline(Reader& rd, const toml::table& root, ScenarioFile& f) {
  const toml::array* timeline = root["timeline"].as_array();
  if (!timeline) return;
  using Kind = core::SimAction::Kind;
  using AdminKind = core::AdminAction::Kind;
  std::size_t i = 0;
  for (const toml::node& node : *timeline) {
    const std::string p = "timeline[" + std::to_string(i++) + "]";
    const toml::table* t = node.as_table();
    if (!t) {
      rd.error(node.source(), p, "expected a table");
      continue;
    }
    rd.allow(*t, p,
             {"t", "action", "observers", "observer", "region", "endpoints", "outcome", "latency",
              "groups", "duration", "service", "force", "reason"});
    core::SimAction a;
    if (auto at = rd.dur(*t, "t", p)) {
      a.at = *at;
    } else if (!t->get("t")) {
      rd.error(t->source(), p + ".t", "missing");
    }
    auto action = rd.str(*t, "action", p);
    if (!action) {
      if (!t->get("action")) rd.error(t->source(), p + ".action", "missing");
      continue;
    }
    struct Name {
      std::string_view name;
      Kind kind;
      AdminKind admin;
    };
    static constexpr Name kNames[] = {
        {"probe", Kind::Probe, AdminKind::Freeze},
        {"cut_region", Kind::CutRegion, AdminKind::Freeze},
        {"heal_region", Kind::HealRegion, AdminKind::Freeze},
        {"partition_peers", Kind::PartitionPeers, AdminKind::Freeze},
        {"heal_peers", Kind::HealPeers, AdminKind::Freeze},
        {"isolate", Kind::Isolate, AdminKind::Freeze},
        {"heal", Kind::Heal, AdminKind::Freeze},
        {"cut_target", Kind::CutTarget, AdminKind::Freeze},
        {"stall", Kind::Stall, AdminKind::Freeze},
        {"clock_jump", Kind::ClockJump, AdminKind::Freeze},
        {"freeze", Kind::Admin, AdminKind::Freeze},
        {"unfreeze", Kind::Admin, AdminKind::Unfreeze},
        {"failover", Kind::Admin, AdminKind::Failover},
        {"failback", Kind::Admin, AdminKind::Failback},
        {"approve", Kind::Admin, AdminKind::Approve},
        {"pin", Kind::Admin, AdminKind::Pin},
        {"unpin", Kind::Admin, AdminKind::Unpin},
    };
    const Name* found = nullptr;
    for (const Name& n : kNames) {
      if (n.name == *action) found = &n;
    }
    if (!found) {
      rd.error(t->get("action")->source(), p + ".action", "unknown action \"" + *action + "\"");
      continue;
    }
    a.kind = found->kind;
    a.admin.kind = found->admin;
    if (auto who = rd.strings(*t, "observers", p)) a.observers = observer_ids(*who);
    if (auto who = rd.str(*t, "observer", p)) a.observers = {ObserverId{*who}};
    if (auto r = rd.str(*t, "region", p)) {
      a.region = RegionId{*r};
      a.admin.region = a.region;
    }
    if (auto eps = rd.strings(*t, "endpoints", p)) {
      for (const auto& e : *eps) a.endpoints.emplace_back(e);
    }
    if (auto o = rd.str(*t, "outcome", p)) {
      if (auto r = reason_of(*o)) {
        a.outcome.reason = *r;
      } else {
        rd.error(t->get("outcome")->source(), p + ".outcome", "unknown probe outcome \"" + *o + "\"");
      }
    }
    a.outcome.latency = a.outcome.ok() ? std::chrono::milliseconds(10) : std::chrono::seconds(1);
    set(rd.dur(*t, "latency", p), a.outcome.latency);
    set(rd.dur(*t, "duration", p), a.duration);
    if (const toml::array* groups = (*t)["groups"].as_array()) {
      for (const toml::node& g : *groups) {
        if (auto names = rd.strings(&g, p + ".groups")) a.groups.push_back(observer_ids(*names));
      }
    }
    if (auto s = rd.str(*t, "service", p)) a.admin.service = core::ServiceId{*s};
    set(rd.boolean(*t, "force", p), a.admin.force);
    set(rd.str(*t, "reason", p), a.admin.reason);
    f.scenario.timeline.push_back(std::move(a));
  }
}

void read_expectations(Reader& rd, const toml::table& root, ScenarioFile& f) {
  const toml::array* expects = root["expect"].as_array();
  if (!expects) return;
  using What = core::Expectation::What;
  std::size_t i = 0;
  for (const toml::node& node : *expects) {
    const std::string p = "expect[" + std::to_string(i++) + "]";
    const toml::table* t = node.as_table();
    if (!t) {
      rd.error(node.source(), p, "expected a table");
      continue;
    }
    rd.allow(*t, p,
             {"what", "min", "max", "equals", "service", "region", "observer", "event", "rule", "is",
              "t", "before"});
    core::Expectation e;
    if (!t->get("what")) rd.error(t->source(), p + ".what", "missing");
    rd.choice(*t, "what", p, e.what,
              {{"writes", What::Writes},
               {"failovers", What::Failovers},
               {"failed_writes", What::FailedWrites},
               {"events", What::EventCount},
               {"active", What::Active},
               {"verdict", What::Verdict},
               {"confirmed", What::ConfirmedState},
               {"frozen", What::Frozen},
               {"no_write_before", What::NoWriteBefore},
               {"write_by", What::WriteBy},
               {"safe", What::Safe}});
    auto to_u64 = [](std::optional<std::int64_t> v) -> std::optional<std::uint64_t> {
      if (!v) return std::nullopt;
      return static_cast<std::uint64_t>(*v);
    };
    e.min = to_u64(rd.integer(*t, "min", p));
    e.max = to_u64(rd.integer(*t, "max", p));
    if (auto eq = to_u64(rd.integer(*t, "equals", p))) e.min = e.max = eq;
    if (auto s = rd.str(*t, "service", p)) e.service = core::ServiceId{*s};
    if (auto r = rd.str(*t, "region", p)) e.region = RegionId{*r};
    if (auto o = rd.str(*t, "observer", p)) e.observer = ObserverId{*o};
    set(rd.str(*t, "event", p), e.event);
    set(rd.str(*t, "rule", p), e.rule);
    if (const toml::node* is = t->get("is")) {
      if (auto b = is->value_exact<bool>()) {
        e.is = *b ? "true" : "false";
      } else {
        set(rd.str(*t, "is", p), e.is);
      }
    }
    set(rd.dur(*t, "t", p), e.t);
    if (auto before = rd.dur(*t, "before", p)) e.before = *before;
    f.scenario.expectations.push_back(std::move(e));
  }
}

ScenarioResult parse_table(const toml::table& root, const std::string& source) {
  Reader rd(source);
  rd.allow(root, "",
           {"name", "duration", "tick", "exchange_delay", "observers", "observer", "cluster",
            "probe_defaults", "control", "regions", "services", "timeline", "expect"});
  ScenarioFile f;
  f.config.source_path = source;
  set(rd.str(root, "name", ""), f.scenario.name);
  if (f.scenario.name.empty()) f.scenario.name = source;
  set(rd.dur(root, "duration", ""), f.scenario.duration);
  set(rd.dur(root, "tick", ""), f.scenario.tick);
  set(rd.dur(root, "exchange_delay", ""), f.scenario.exchange_delay);
  if (f.scenario.tick <= Duration::zero()) rd.error(root.source(), "tick", "must be positive");
  if (auto ids = rd.strings(root, "observers", "")) f.scenario.observers = observer_ids(*ids);
  read_cluster(rd, root, f);
  if (f.has_cluster && f.scenario.observers.empty()) {
    rd.error(root.source(), "observers", "list at least one observer id");
  }
  read_timeline(rd, root, f);
  read_expectations(rd, root, f);
  ScenarioResult out;
  out.errors = std::move(rd.errors);
  if (out.errors.empty()) out.file = std::move(f);
  return out;
}

}  // namespace

ScenarioResult parse_scenario_string(std::string_view text, const std::string& source_name) {
  try {
    toml::table root = toml::parse(text, source_name);
    return parse_table(root, source_name);
  } catch (const toml::parse_error& e) {
    ScenarioResult out;
    out.errors.push_back(source_name + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " +
                         std::string(e.description()));
    return out;
  }
}

ScenarioResult parse_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ScenarioResult out;
    out.errors.push_back(path + ": cannot open");
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scenario_string(text.str(), path);
}

}  // namespace failoverd::config
