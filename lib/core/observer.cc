#include "core/observer.h"

#include <algorithm>

namespace failoverd::core {

std::string_view to_string(AdminAction::Kind k) {
  switch (k) {
    case AdminAction::Kind::Freeze: return "freeze";
    case AdminAction::Kind::Unfreeze: return "unfreeze";
    case AdminAction::Kind::Failover: return "failover";
    case AdminAction::Kind::Failback: return "failback";
    case AdminAction::Kind::Approve: return "approve";
    case AdminAction::Kind::Pin: return "pin";
    case AdminAction::Kind::Unpin: return "unpin";
  }
  return "admin";
}

ObserverEngine::ObserverEngine(config::Config cfg, TimePoint start)
    : ObserverEngine(std::make_shared<const config::Config>(std::move(cfg)), start) {}

ObserverEngine::ObserverEngine(std::shared_ptr<const config::Config> cfg, TimePoint start)
    : cfg_(std::move(cfg)), view_(*cfg_, start), quorum_(Quorum::from_config(*cfg_)) {
  for (const auto& s : cfg_->services) policies_.emplace_back(s, cfg_->observer);
}

namespace {

// Every endpoint by name, with its region's name (empty for control endpoints).
std::map<EndpointId, std::pair<std::string, const config::Endpoint*>> endpoints_of(
    const config::Config& cfg) {
  std::map<EndpointId, std::pair<std::string, const config::Endpoint*>> out;
  for (const auto& r : cfg.regions) {
    for (const auto& e : r.endpoints) out[e.name] = {r.name.str(), &e};
  }
  for (const auto& e : cfg.control) out[e.name] = {std::string(), &e};
  return out;
}

}  // namespace

std::set<EndpointId> ObserverEngine::adopt(const ObserverEngine& old) {
  const auto before = endpoints_of(*old.cfg_);
  std::set<EndpointId> same_endpoints;
  for (const auto& [name, now] : endpoints_of(*cfg_)) {
    auto it = before.find(name);
    if (it != before.end() && it->second.first == now.first && *it->second.second == *now.second) {
      same_endpoints.insert(name);
    }
  }
  view_.adopt(old.view_, same_endpoints);
  std::set<RegionId> same_regions;
  for (const auto& r : cfg_->regions) {
    const config::Region* was = old.cfg_->find_region(r.name);
    if (was != nullptr && *was == r) same_regions.insert(r.name);
  }
  quorum_.adopt(old.quorum_, same_regions);
  const bool same_observer = old.cfg_->observer.tilt_period == cfg_->observer.tilt_period;
  for (auto& p : policies_) {
    const ServicePolicy* was = old.policy(p.service().name);
    if (was == nullptr) continue;
    if (same_observer && was->service() == p.service()) {
      p = *was;
    } else {
      p.restore_history(was->history());
    }
  }
  return same_endpoints;
}

ServicePolicy* ObserverEngine::find(const ServiceId& service) {
  for (auto& p : policies_) {
    if (p.service().name == service) return &p;
  }
  return nullptr;
}

const ServicePolicy* ObserverEngine::policy(const ServiceId& service) const {
  for (const auto& p : policies_) {
    if (p.service().name == service) return &p;
  }
  return nullptr;
}

Events ObserverEngine::observe(const EndpointId& endpoint, const ProbeOutcome& outcome,
                               TimePoint now) {
  return view_.observe(endpoint, outcome, now);
}

Events ObserverEngine::report_loop_lag(Duration lag, TimePoint now) {
  view_.report_loop_lag(lag, now);
  if (lag <= cfg_->observer.max_loop_lag) return {};
  return report_clock_jump(now);
}

Events ObserverEngine::report_clock_jump(TimePoint now) {
  Events events;
  for (auto& p : policies_) append(events, p.enter_tilt(now));
  return events;
}

Events ObserverEngine::set_live(const ServiceId& service, const LiveState& live, TimePoint now) {
  ServicePolicy* p = find(service);
  return p ? p->set_live(live, now) : Events{};
}

std::vector<Vote> ObserverEngine::votes(TimePoint now) const {
  std::vector<Vote> out;
  out.reserve(view_.verdicts().size());
  for (const auto& [region, verdict] : view_.verdicts()) {
    out.push_back(Vote{cfg_->observer.id, region, verdict, now});
  }
  return out;
}

StepResult ObserverEngine::step(TimePoint now) {
  StepResult out;
  out.probe_now = view_.take_probe_now();
  out.events = view_.evaluate(now);
  for (const auto& [region, verdict] : view_.verdicts()) {
    quorum_.record(cfg_->observer.id, region, verdict, now);
  }
  append(out.events, quorum_.evaluate(now));
  // This observer's own evidence, built once for every service's policy.
  const std::optional<ServicePolicy::LocalEvidence> local{
      std::in_place, ServicePolicy::LocalEvidence{view_.suspects(), view_.seen_serving()}};
  for (auto& p : policies_) {
    Decision d = p.decide(quorum_.confirmed(), now, local);
    append(out.events, std::move(d.events));
    if (d.plan) out.plans.push_back(std::move(*d.plan));
    for (const RegionId& r : d.probe_now) {
      for (const auto& region : cfg_->regions) {
        if (region.name != r) continue;
        for (const auto& ep : region.endpoints) {
          if (std::find(out.probe_now.begin(), out.probe_now.end(), ep.name) == out.probe_now.end()) {
            out.probe_now.push_back(ep.name);
          }
        }
      }
    }
  }
  return out;
}

Decision ObserverEngine::admin(const AdminAction& a, TimePoint now) {
  ServicePolicy* p = find(a.service);
  if (!p) {
    Decision d;
    d.refused = Rule::UnknownService;
    return d;
  }
  const Confirmed& c = quorum_.confirmed();
  switch (a.kind) {
    case AdminAction::Kind::Freeze: return p->freeze(a.reason, now);
    case AdminAction::Kind::Unfreeze: return p->unfreeze(now);
    case AdminAction::Kind::Failover: return p->failover(a.region, a.force, c, now);
    case AdminAction::Kind::Failback: return p->failback(a.force, c, now);
    case AdminAction::Kind::Approve: return p->approve(now);
    case AdminAction::Kind::Pin: return p->pin(a.region, a.force, c, now);
    case AdminAction::Kind::Unpin: return p->unpin(now);
  }
  return {};
}

void ObserverEngine::restore_pin(const ServiceId& service, const RegionId& region) {
  if (ServicePolicy* p = find(service)) p->restore_pin(region);
}

void ObserverEngine::restore_history(const ServiceId& service,
                                     const ServicePolicy::History& history) {
  if (ServicePolicy* p = find(service)) p->restore_history(history);
}

TimePoint ObserverEngine::next_due(TimePoint now) const {
  return std::min(view_.next_due(), next_step_due(now));
}

TimePoint ObserverEngine::next_step_due(TimePoint now) const {
  TimePoint due = std::min(view_.next_change(now), quorum_.next_due());
  for (const auto& p : policies_) due = std::min(due, p.next_due(now));
  return due;
}

}  // namespace failoverd::core
