#include "notify/format.h"

#include <algorithm>
#include <boost/json.hpp>

namespace failoverd::notify {

namespace json = boost::json;

namespace {

std::string joined(const std::vector<std::string>& regions) {
  if (regions.empty()) return "(none)";
  std::string out;
  for (const auto& r : regions) out += (out.empty() ? "" : ",") + r;
  return out;
}

json::array array_of(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& i : items) a.emplace_back(i);
  return a;
}

std::string words(std::string_view kind) {
  std::string out(kind);
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

bool is_failover(std::string_view kind) {
  return kind == "failover_planned" || kind == "failover_applied" || kind == "plan_proposed";
}

}  // namespace

bool is_default(std::string_view kind) {
  // Refusals come while a quorum forms at start and on every held-back change; those that need
  // a human also come as `alert`.
  return kind != "plan_refused";
}

bool wanted(const config::Notify& n, std::string_view kind) {
  if (n.events.empty()) return is_default(kind);
  return std::find(n.events.begin(), n.events.end(), kind) != n.events.end();
}

std::string summary(const Notice& n) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for `literal + string`.
  std::string out;
  if (n.service.empty()) {
    out.append("observer ").append(n.observer);
  } else {
    out.append(n.service);
  }
  out.append(": ").append(words(n.kind));
  if (is_failover(n.kind)) {
    out.append(" ").append(joined(n.from)).append(" -> ").append(joined(n.to));
    if (n.generation != 0) {
      out.append(" (generation ").append(std::to_string(n.generation)).append(")");
    }
  }
  if (!n.service.empty()) out.append(" on observer ").append(n.observer);
  if (!n.reason.empty()) out.append(": ").append(n.reason);
  return out;
}

std::string format_json(const Notice& n) {
  json::object o;
  o["source"] = "failoverd";
  o["kind"] = n.kind;
  o["service"] = n.service.empty() ? json::value(nullptr) : json::value(n.service);
  o["from"] = array_of(n.from);
  o["to"] = array_of(n.to);
  o["generation"] = n.generation;
  o["reason"] = n.reason;
  o["observer"] = n.observer;
  o["time"] = n.time;
  o["summary"] = summary(n);
  return json::serialize(o);
}

std::string format_slack(const Notice& n) {
  return json::serialize(json::object{{"text", "[failoverd] " + summary(n)}});
}

std::string_view pagerduty_action(std::string_view kind) {
  if (kind == "service_unfrozen" || kind == "tilt_left" || kind == "observer_recovered") {
    return "resolve";
  }
  return "trigger";
}

std::string_view pagerduty_severity(std::string_view kind) {
  if (kind == "alert" || kind == "flip_budget_exhausted" || kind == "actuator_error") {
    return "critical";
  }
  if (kind == "service_frozen" || kind == "plan_refused") return "error";
  if (pagerduty_action(kind) == "resolve") return "info";
  return "warning";
}

std::string pagerduty_dedup_key(const Notice& n) {
  const std::string& k = n.kind;
  if (k == "tilt_entered" || k == "tilt_left") return "failoverd/" + n.observer + "/tilt";
  if (k == "observer_impaired" || k == "observer_recovered") {
    return "failoverd/" + n.observer + "/impaired";
  }
  const std::string base = "failoverd/" + n.service + "/";
  if (k == "service_frozen" || k == "service_unfrozen" || k == "flip_budget_exhausted") {
    return base + "frozen";
  }
  if (is_failover(k)) return base + "failover/" + std::to_string(n.generation);
  return base + k;
}

std::string format_pagerduty(const Notice& n, std::string_view routing_key) {
  json::object payload;
  payload["summary"] = summary(n).substr(0, 1024);  // the Events API's limit
  payload["source"] = n.observer;
  payload["severity"] = pagerduty_severity(n.kind);
  payload["timestamp"] = n.time;
  if (!n.service.empty()) payload["component"] = n.service;
  payload["group"] = "failoverd";
  payload["class"] = n.kind;
  payload["custom_details"] = json::parse(format_json(n));
  json::object o;
  o["routing_key"] = routing_key;
  o["event_action"] = pagerduty_action(n.kind);
  o["dedup_key"] = pagerduty_dedup_key(n);
  if (pagerduty_action(n.kind) == "trigger") o["payload"] = std::move(payload);
  return json::serialize(o);
}

std::string render(const config::Notify& n, const Notice& notice, std::string_view secret) {
  switch (n.format) {
    case config::NotifyFormat::Json: return format_json(notice);
    case config::NotifyFormat::Slack: return format_slack(notice);
    case config::NotifyFormat::PagerDuty: return format_pagerduty(notice, secret);
  }
  return format_json(notice);
}

Outcome classify_status(unsigned status) {
  if (status >= 200 && status < 300) return Outcome::Ok;
  if (status >= 500 || status == 408 || status == 429) return Outcome::Retry;
  return Outcome::Permanent;
}

const std::vector<std::string_view>& failure_reasons() {
  static const std::vector<std::string_view> reasons{
      "resolve", "connect", "timeout", "io", "tls", "protocol", "too_large",
      "http_4xx", "http_5xx", "http_other"};
  return reasons;
}

}  // namespace failoverd::notify
