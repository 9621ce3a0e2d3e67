#include "runtime/admin_views.h"

#include <boost/json.hpp>
#include <cstdio>
#include <set>

#include "actuate/reconcile.h"
#include "core/observer.h"
#include "peer/exchange.h"

namespace failoverd::runtime {

namespace json = boost::json;
using core::Clock;
using core::TimePoint;

namespace {

json::array region_array(const std::vector<core::RegionId>& regions) {
  json::array a;
  for (const auto& r : regions) a.emplace_back(r.str());
  return a;
}

}  // namespace

std::string join_regions(const std::vector<core::RegionId>& regions) {
  std::string out;
  for (const auto& r : regions) out += (out.empty() ? "" : ",") + r.str();
  return out;
}

json::object service_summary(const core::ObserverEngine& core, const ServiceFacts& s) {
  const auto* p = core.policy(s.config.name);
  json::object o;
  o["name"] = s.config.name.str();
  o["policy"] = s.config.policy == config::Policy::Priority ? "priority" : "weighted";
  o["mode"] = s.config.mode == config::Mode::Auto ? "auto" : "propose";
  o["target"] = std::string(s.target_kind);
  if (p == nullptr) return o;
  o["active"] = region_array(p->active());
  o["generation"] = p->live_known() ? json::value(p->live().generation) : json::value(nullptr);
  o["frozen"] = p->frozen() || s.reconciler.frozen();
  o["pinned"] = p->pinned() ? json::value(p->pinned()->str()) : json::value(nullptr);
  std::string note;
  if (p->frozen()) note = "frozen: " + p->frozen_reason();
  if (p->frozen() && s.holds.freeze) note = "frozen " + describe_hold(*s.holds.freeze);
  if (s.reconciler.frozen()) note = "frozen by the reconciler: " + s.last_outcome;
  if (const auto& b = s.reconciler.blocked()) {
    note += std::string(note.empty() ? "" : "; ") + "writer blocked, the target refuses us: " + *b +
            " (retried with backoff)";
  }
  o["blocked"] = s.reconciler.blocked() ? json::value(*s.reconciler.blocked()) : json::value(nullptr);
  if (p->in_tilt(Clock::now())) note += (note.empty() ? "" : "; ") + std::string("tilt");
  if (p->pending()) {
    note += (note.empty() ? "" : "; ") + std::string("proposal to ") +
            join_regions(p->pending()->active) + " awaits approval";
  }
  if (p->pinned()) {
    note += (note.empty() ? "" : "; ") + std::string("pinned to ") + p->pinned()->str();
    if (s.holds.pin && s.holds.pin->region == *p->pinned()) note += " " + describe_hold(*s.holds.pin);
  }
  if (!p->live_known()) note += (note.empty() ? "" : "; ") + std::string("live state not read yet");
  o["note"] = note.empty() ? json::value(nullptr) : json::value(note);
  o["last_actuator_event"] = s.last_outcome;
  o["holds"] = hold_view(s, *p);
  o["hold_version"] = s.holds.version;
  return o;
}

// "by ops on obs-a since 2026-12-03T12:00:00Z: db migration"
std::string describe_hold(const core::Hold& h) {
  return "by " + h.who + " on " + h.observer.str() + " since " + wall_time_of(h.since_unix_ms) +
         ": " + (h.reason.empty() ? std::string("-") : h.reason);
}

// What keeps the service from changing on its own, with who set it, on which observer, why
// and since when. An operator's freeze or pin comes from the cluster's hold state (the same on
// every observer once the exchange has carried it); a freeze of this observer's own core, or a
// hold from before a restart whose origin is gone, from what this process knows (null fields
// when it does not know).
json::array hold_view(const ServiceFacts& s, const core::ServicePolicy& p) {
  auto hold = [](std::string_view kind, std::string_view reason,
                 const std::optional<HoldOrigin>& origin) {
    json::object h;
    h["kind"] = kind;
    h["reason"] = reason;
    h["by"] = origin ? json::value(origin->by) : json::value(nullptr);
    h["since"] = origin ? json::value(origin->since) : json::value(nullptr);
    h["observer"] = nullptr;
    return h;
  };
  auto shared = [&](std::string_view kind, const core::Hold& x) {
    json::object h;
    h["kind"] = kind;
    h["reason"] = x.reason;
    h["by"] = x.who;
    h["since"] = wall_time_of(x.since_unix_ms);
    h["observer"] = x.observer.str();
    h["version"] = s.holds.version;
    return h;
  };
  json::array out;
  if (p.frozen()) {
    if (s.holds.freeze) {
      out.push_back(shared("freeze", *s.holds.freeze));
    } else {
      out.push_back(hold("freeze", p.frozen_reason(), s.freeze_origin));
    }
  }
  if (p.pinned()) {
    json::object h;
    if (s.holds.pin && s.holds.pin->region == *p.pinned()) {
      h = shared("pin", *s.holds.pin);
    } else {
      h = hold("pin", s.pin_origin ? s.pin_origin->reason : "", s.pin_origin);
    }
    h["region"] = p.pinned()->str();
    out.push_back(std::move(h));
  }
  if (const auto& b = s.reconciler.blocked()) {
    auto h = hold("actuator_blocked", *b, std::nullopt);
    h["by"] = "target";
    out.push_back(std::move(h));
  }
  if (s.reconciler.frozen()) {
    auto h = hold("actuator_freeze", s.last_outcome, std::nullopt);
    h["by"] = "reconciler";
    out.push_back(std::move(h));
  }
  if (const auto& plan = p.pending()) {
    json::object h;
    h["kind"] = "proposal";
    h["reason"] = plan->reason;
    h["by"] = "core";
    h["since"] = nullptr;
    h["age_seconds"] = std::chrono::duration<double>(Clock::now() - plan->decided_at).count();
    h["active"] = region_array(plan->active);
    h["generation"] = plan->generation;
    out.push_back(std::move(h));
  }
  return out;
}

// One region as this observer sees it: the confirmed state, its own raw verdict, and each
// fresh vote with its age and evidence (for this observer's vote, its endpoints' health; a
// peer sends its verdict only).
json::object region_view(const core::ObserverEngine& core, const config::Config& cfg,
                         const core::RegionId& region, TimePoint now) {
  json::object ro;
  ro["name"] = region.str();
  ro["confirmed"] = std::string(core::to_string(core.quorum().state(region)));
  ro["local"] = std::string(core::to_string(core.view().raw_verdict(region)));
  const config::Region* rc = nullptr;
  for (const auto& r : cfg.regions) {
    if (r.name == region) rc = &r;
  }
  std::set<std::string> voted;
  json::array votes;
  const auto& confirmed = core.quorum().confirmed();
  if (auto c = confirmed.find(region); c != confirmed.end()) {
    for (const auto& v : c->second.evidence) {
      const double age = std::chrono::duration<double>(now - v.received).count();
      char text[32];
      std::snprintf(text, sizeof text, "%.1fs", age);
      json::object vo{{"observer", v.observer.str()},
                      {"verdict", std::string(core::to_string(v.verdict))},
                      {"age", text},
                      {"age_seconds", age}};
      if (v.observer == core.id() && rc != nullptr) {
        json::array endpoints;
        for (const auto& e : rc->endpoints) {
          const auto* t = core.view().tracker(e.name);
          json::object eo;
          eo["endpoint"] = e.name.str();
          eo["health"] = t ? std::string(core::to_string(t->state())) : std::string("pending");
          eo["last_success_seconds_ago"] =
              t && t->last_success()
                  ? json::value(std::chrono::duration<double>(now - *t->last_success()).count())
                  : json::value(nullptr);
          endpoints.push_back(std::move(eo));
        }
        vo["evidence"] = std::move(endpoints);
      } else {
        vo["evidence"] = nullptr;
      }
      voted.insert(v.observer.str());
      votes.push_back(std::move(vo));
    }
  }
  ro["votes"] = std::move(votes);
  json::array missing;
  std::vector<std::string> observers{core.id().str()};
  if (cfg.cluster) {
    for (const auto& peer : cfg.cluster->peers) observers.push_back(peer.id.str());
  }
  for (const auto& id : observers) {
    if (!voted.contains(id)) missing.emplace_back(id);
  }
  ro["no_fresh_vote"] = std::move(missing);
  return ro;
}

json::value status_view(const core::ObserverEngine& core, const config::Config& cfg,
                        const std::vector<ServiceFacts>& services_in,
                        const std::vector<peer::PeerStatus>* peers_in) {
  json::array services;
  for (const auto& s : services_in) services.push_back(service_summary(core, s));
  json::object o;
  o["observer"] = core.id().str();
  auto imp = core.view().impairment();
  o["impaired"] = imp ? json::value(*imp) : json::value(nullptr);
  o["services"] = std::move(services);
  json::array regions;
  const auto now = Clock::now();
  for (const auto& r : cfg.regions) regions.push_back(region_view(core, cfg, r.name, now));
  o["regions"] = std::move(regions);
  if (peers_in != nullptr) {
    json::array peers;
    for (const auto& p : *peers_in) {
      json::object po;
      po["id"] = p.id.str();
      po["address"] = p.address;
      po["last_seen_seconds_ago"] =
          p.last_seen ? json::value(std::chrono::duration<double>(now - *p.last_seen).count())
                      : json::value(nullptr);
      po["last_error"] = p.last_error;
      po["config_mismatch"] = p.config_mismatch;
      peers.push_back(std::move(po));
    }
    o["peers"] = std::move(peers);
  }
  return o;
}

json::value service_view(const core::ObserverEngine& core, const config::Config& cfg,
                         const ServiceFacts& s) {
  json::object o = service_summary(core, s);
  const auto now = Clock::now();
  json::array regions;
  std::vector<core::RegionId> names = s.config.regions;
  for (const auto& [r, w] : s.config.weights) names.push_back(r);
  for (const auto& region : names) regions.push_back(region_view(core, cfg, region, now));
  o["regions"] = std::move(regions);
  if (const auto* p = core.policy(s.config.name)) {
    json::array members;
    for (const auto& m : p->live().members) {
      members.push_back(json::object{{"region", m.region.str()}, {"value", m.value},
                                     {"weight", m.weight}});
    }
    o["live_members"] = std::move(members);
  }
  return json::value(std::move(o));
}

}  // namespace failoverd::runtime
