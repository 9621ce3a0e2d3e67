#include "peer/message.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <initializer_list>
#include <set>

#include "config/values.h"

namespace failoverd::peer {

namespace json = boost::json;

namespace {

constexpr std::string_view kFields[] = {
    "v", "observer", "boot_id", "sequence", "config_fingerprint", "sent_unix_ms", "verdicts"};
constexpr std::string_view kVerdictFields[] = {"region", "verdict", "reason"};
constexpr std::string_view kOptionalFields[] = {"holds"};
constexpr std::string_view kHoldsFields[] = {"service", "version", "author", "action",
                                             "who",     "freeze",  "pin"};
constexpr std::string_view kFreezeFields[] = {"who", "reason", "since_unix_ms", "observer"};
constexpr std::string_view kPinFields[] = {"who", "reason", "since_unix_ms", "observer", "region"};

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

std::string hex64(std::uint64_t v) {
  std::array<unsigned char, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
  return hex(bytes.data(), bytes.size());
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::uint64_t parse_hex64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) v = (v << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

// Quotes a value for an error message, cut short and with control bytes escaped, so hostile
// input cannot flood or forge log lines.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'') {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

// Checks that `o` holds exactly `fields`; returns the first problem.
template <std::size_t N>
std::optional<std::string> check_fields(const json::object& o, const std::string_view (&fields)[N],
                                        std::string_view where,
                                        std::initializer_list<std::string_view> optional = {}) {
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (std::find(std::begin(fields), std::end(fields), key) == std::end(fields) &&
        std::find(optional.begin(), optional.end(), key) == optional.end()) {
      return "unknown field " + quoted(key) + std::string(where);
    }
  }
  for (std::string_view f : fields) {
    if (!o.contains(f)) return "missing field '" + std::string(f) + "'" + std::string(where);
  }
  return std::nullopt;
}

// An integer in [min, max] whether Boost.JSON stored it as int64 or uint64. Doubles (1.0, 1e3)
// are refused: the schema says integer.
std::optional<std::uint64_t> as_uint(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  return std::nullopt;
}

// A token name: 1 to kMaxHoldWhoBytes of [A-Za-z0-9._-] (config/secrets.h's rule, kept here so
// the codec needs nothing but itself).
bool is_token_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxHoldWhoBytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

json::value encode_hold(const std::optional<core::Hold>& h, bool pin) {
  if (!h) return nullptr;
  json::object o{{"who", h->who},
                 {"reason", h->reason},
                 {"since_unix_ms", h->since_unix_ms},
                 {"observer", h->observer.str()}};
  if (pin) o["region"] = h->region.str();
  return o;
}

// One "freeze" or "pin" value: null or a hold object. Returns the problem, if any.
template <std::size_t N>
std::optional<std::string> decode_hold(const json::value& v, const std::string_view (&fields)[N],
                                       const std::string& where, std::optional<core::Hold>& out) {
  out.reset();
  if (v.is_null()) return std::nullopt;
  const json::object* o = v.if_object();
  if (o == nullptr) return "expected an object or null" + where;
  if (auto problem = check_fields(*o, fields, where)) return problem;
  core::Hold h;
  const json::string* who = o->at("who").if_string();
  if (who == nullptr || !is_token_name(*who)) {
    return "field 'who'" + where + " must be 1 to " + std::to_string(kMaxHoldWhoBytes) +
           " characters of [A-Za-z0-9._-]";
  }
  h.who = std::string(*who);
  const json::string* reason = o->at("reason").if_string();
  if (reason == nullptr) return "field 'reason'" + where + " must be a string";
  if (reason->size() > kMaxHoldReasonBytes) {
    return "field 'reason'" + where + " is longer than " + std::to_string(kMaxHoldReasonBytes) +
           " bytes";
  }
  h.reason = std::string(*reason);
  auto since = as_uint(o->at("since_unix_ms"));
  if (!since || *since > static_cast<std::uint64_t>(INT64_MAX)) {
    return "field 'since_unix_ms'" + where + " must be a non-negative integer";
  }
  h.since_unix_ms = static_cast<std::int64_t>(*since);
  const json::string* observer = o->at("observer").if_string();
  if (observer == nullptr || !config::is_valid_id(*observer)) {
    return "field 'observer'" + where + " must be 1 to 64 characters of [A-Za-z0-9._-]";
  }
  h.observer = core::ObserverId(std::string(*observer));
  if (const auto* region = o->if_contains("region")) {
    const json::string* r = region->if_string();
    if (r == nullptr || !config::is_valid_id(*r)) {
      return "field 'region'" + where + " must be 1 to 64 characters of [A-Za-z0-9._-]";
    }
    h.region = core::RegionId(std::string(*r));
  }
  out = std::move(h);
  return std::nullopt;
}

std::optional<std::string> decode_holds(const json::value& v, std::size_t max_holds,
                                        std::vector<ServiceHolds>& out) {
  const json::array* holds = v.if_array();
  if (holds == nullptr) return "field 'holds' must be an array";
  const std::size_t limit = std::min(max_holds, kMaxHolds);
  if (holds->size() > limit) {
    return "field 'holds' has " + std::to_string(holds->size()) + " entries, over the limit of " +
           std::to_string(limit);
  }
  std::set<std::string_view> seen;
  out.reserve(holds->size());
  for (std::size_t i = 0; i < holds->size(); ++i) {
    const std::string where = " in holds[" + std::to_string(i) + "]";
    const json::object* e = (*holds)[i].if_object();
    if (e == nullptr) return "expected an object" + where;
    if (auto problem = check_fields(*e, kHoldsFields, where)) return problem;
    const json::string* service = e->at("service").if_string();
    if (service == nullptr || !config::is_valid_id(*service)) {
      return "field 'service'" + where + " must be 1 to 64 characters of [A-Za-z0-9._-]";
    }
    if (!seen.insert(std::string_view(*service)).second) {
      return "service " + quoted(*service) + " appears twice" + where;
    }
    ServiceHolds sh;
    sh.service = core::ServiceId(std::string(*service));
    auto version = as_uint(e->at("version"));
    if (!version || *version == 0) return "field 'version'" + where + " must be an integer >= 1";
    sh.state.version = *version;
    const json::string* author = e->at("author").if_string();
    if (author == nullptr || !config::is_valid_id(*author)) {
      return "field 'author'" + where + " must be 1 to 64 characters of [A-Za-z0-9._-]";
    }
    sh.state.author = core::ObserverId(std::string(*author));
    const json::string* action = e->at("action").if_string();
    std::optional<core::HoldChange> change;
    if (action != nullptr) change = core::parse_hold_change(*action);
    if (!change) return "field 'action'" + where + " must be freeze, unfreeze, pin or unpin";
    sh.state.action = *change;
    const json::string* who = e->at("who").if_string();
    if (who == nullptr || !is_token_name(*who)) {
      return "field 'who'" + where + " must be 1 to " + std::to_string(kMaxHoldWhoBytes) +
             " characters of [A-Za-z0-9._-]";
    }
    sh.state.who = std::string(*who);
    if (auto problem = decode_hold(e->at("freeze"), kFreezeFields, " (freeze)" + where,
                                   sh.state.freeze)) {
      return problem;
    }
    if (auto problem = decode_hold(e->at("pin"), kPinFields, " (pin)" + where, sh.state.pin)) {
      return problem;
    }
    out.push_back(std::move(sh));
  }
  return std::nullopt;
}

}  // namespace

std::string clamp_reason(std::string reason) {
  if (reason.size() <= kMaxReasonBytes) return reason;
  std::size_t end = kMaxReasonBytes;
  // Back up over continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
  reason.resize(end);
  return reason;
}

std::optional<core::Verdict> parse_verdict(std::string_view text) {
  for (auto v :
       {core::Verdict::Unknown, core::Verdict::Up, core::Verdict::Degraded, core::Verdict::Down}) {
    if (core::to_string(v) == text) return v;
  }
  return std::nullopt;
}

std::string encode(const PeerMessage& m) {
  json::array verdicts;
  verdicts.reserve(m.verdicts.size());
  for (const auto& rv : m.verdicts) {
    verdicts.push_back(json::object{{"region", rv.region.str()},
                                    {"verdict", core::to_string(rv.verdict)},
                                    {"reason", rv.reason}});
  }
  // json::object keeps insertion order, so the output is canonical for a given message.
  json::object o;
  o["v"] = kMessageVersion;
  o["observer"] = m.observer.str();
  o["boot_id"] = hex64(m.boot_id);
  o["sequence"] = m.sequence;
  o["config_fingerprint"] = m.config_fingerprint;
  o["sent_unix_ms"] = m.sent_unix_ms;
  o["verdicts"] = std::move(verdicts);
  if (!m.holds.empty()) {
    json::array holds;
    holds.reserve(m.holds.size());
    for (const auto& h : m.holds) {
      holds.push_back(json::object{{"service", h.service.str()},
                                   {"version", h.state.version},
                                   {"author", h.state.author.str()},
                                   {"action", core::to_string(h.state.action)},
                                   {"who", h.state.who},
                                   {"freeze", encode_hold(h.state.freeze, false)},
                                   {"pin", encode_hold(h.state.pin, true)}});
    }
    o["holds"] = std::move(holds);
  }
  return json::serialize(o);
}

Decoded decode(std::string_view text, std::size_t max_holds) {
  auto fail = [](std::string why) { return Decoded{std::nullopt, std::move(why)}; };
  if (text.size() > kMaxMessageBytes) {
    return fail("message is " + std::to_string(text.size()) + " bytes, over the " +
                std::to_string(kMaxMessageBytes) + "-byte limit");
  }
  json::parse_options options;
  // object > holds array > hold entry > freeze/pin object; deeper is never valid
  options.max_depth = 4;
  json::parser parser({}, options);
  boost::system::error_code ec;
  std::size_t used = parser.write(text.data(), text.size(), ec);
  if (ec) return fail("not valid JSON at byte " + std::to_string(used) + ": " + ec.message());
  json::value root = parser.release();

  const json::object* o = root.if_object();
  if (o == nullptr) return fail("expected a JSON object, got " + std::string(kind_name(root)));
  if (auto problem = check_fields(*o, kFields, "", {kOptionalFields[0]})) return fail(*problem);

  PeerMessage m;
  auto version = as_uint(o->at("v"));
  if (!version) return fail("field 'v' must be an integer");
  if (*version != kMessageVersion) {
    return fail("unsupported message version " + std::to_string(*version) +
                " (this observer "
                "speaks " +
                std::to_string(kMessageVersion) + ")");
  }

  const json::string* observer = o->at("observer").if_string();
  if (observer == nullptr) return fail("field 'observer' must be a string");
  if (!config::is_valid_id(*observer)) {
    return fail("field 'observer' must be 1 to 64 characters of [A-Za-z0-9._-], got " +
                quoted(*observer));
  }
  m.observer = core::ObserverId(std::string(*observer));

  const json::string* boot = o->at("boot_id").if_string();
  if (boot == nullptr || boot->size() != 16 || !is_lower_hex(*boot)) {
    return fail("field 'boot_id' must be 16 lower-case hex digits");
  }
  m.boot_id = parse_hex64(*boot);

  auto sequence = as_uint(o->at("sequence"));
  if (!sequence || *sequence == 0) return fail("field 'sequence' must be an integer >= 1");
  m.sequence = *sequence;

  const json::string* fp = o->at("config_fingerprint").if_string();
  if (fp == nullptr || fp->size() != 64 || !is_lower_hex(*fp)) {
    return fail("field 'config_fingerprint' must be 64 lower-case hex digits (SHA-256)");
  }
  m.config_fingerprint = std::string(*fp);

  auto sent = as_uint(o->at("sent_unix_ms"));
  if (!sent || *sent > static_cast<std::uint64_t>(INT64_MAX)) {
    return fail("field 'sent_unix_ms' must be a non-negative integer");
  }
  m.sent_unix_ms = static_cast<std::int64_t>(*sent);

  const json::array* verdicts = o->at("verdicts").if_array();
  if (verdicts == nullptr) return fail("field 'verdicts' must be an array");
  if (verdicts->size() > kMaxRegions) {
    return fail("field 'verdicts' has " + std::to_string(verdicts->size()) +
                " entries, over the limit of " + std::to_string(kMaxRegions));
  }
  std::set<std::string_view> seen;
  m.verdicts.reserve(verdicts->size());
  for (std::size_t i = 0; i < verdicts->size(); ++i) {
    const std::string where = " in verdicts[" + std::to_string(i) + "]";
    const json::object* e = (*verdicts)[i].if_object();
    if (e == nullptr) return fail("expected an object" + where);
    if (auto problem = check_fields(*e, kVerdictFields, where)) return fail(*problem);
    const json::string* region = e->at("region").if_string();
    if (region == nullptr || !config::is_valid_id(*region)) {
      return fail("field 'region'" + where + " must be 1 to 64 characters of [A-Za-z0-9._-]");
    }
    if (!seen.insert(std::string_view(*region)).second) {
      return fail("region " + quoted(*region) + " appears twice" + where);
    }
    const json::string* verdict = e->at("verdict").if_string();
    std::optional<core::Verdict> parsed;
    if (verdict != nullptr) parsed = parse_verdict(*verdict);
    if (!parsed) return fail("field 'verdict'" + where + " must be up, degraded, down or unknown");
    const json::string* reason = e->at("reason").if_string();
    if (reason == nullptr) return fail("field 'reason'" + where + " must be a string");
    if (reason->size() > kMaxReasonBytes) {
      return fail("field 'reason'" + where + " is longer than " + std::to_string(kMaxReasonBytes) +
                  " bytes");
    }
    m.verdicts.push_back(
        RegionVerdict{core::RegionId(std::string(*region)), *parsed, std::string(*reason)});
  }
  if (const auto* holds = o->if_contains("holds")) {
    if (auto problem = decode_holds(*holds, max_holds, m.holds)) return fail(*problem);
  }
  return Decoded{std::move(m), {}};
}

// ---- config fingerprint ----

namespace {

std::int64_t ns(config::Duration d) {
  return d.count();
}

std::string_view name_of(config::ProbeKind k) {
  switch (k) {
    case config::ProbeKind::Http:
      return "http";
    case config::ProbeKind::Https:
      return "https";
    case config::ProbeKind::Tcp:
      return "tcp";
    case config::ProbeKind::Tls:
      return "tls";
    case config::ProbeKind::Dns:
      return "dns";
  }
  return "?";
}

std::string_view name_of(config::Policy p) {
  switch (p) {
    case config::Policy::Priority:
      return "priority";
    case config::Policy::Weighted:
      return "weighted";
  }
  return "?";
}

std::string_view name_of(config::Mode m) {
  switch (m) {
    case config::Mode::Auto:
      return "auto";
    case config::Mode::Propose:
      return "propose";
  }
  return "?";
}

std::string_view name_of(config::Failback f) {
  switch (f) {
    case config::Failback::Manual:
      return "manual";
    case config::Failback::Auto:
      return "auto";
  }
  return "?";
}

std::string_view name_of(config::TargetKind k) {
  switch (k) {
    case config::TargetKind::Rfc2136:
      return "rfc2136";
    case config::TargetKind::PowerDns:
      return "powerdns";
    case config::TargetKind::HaProxy:
      return "haproxy";
    case config::TargetKind::Exec:
      return "exec";
  }
  return "?";
}

std::string_view name_of(config::TargetScope s) {
  switch (s) {
    case config::TargetScope::Shared:
      return "shared";
    case config::TargetScope::Local:
      return "local";
  }
  return "?";
}

std::string_view name_of(config::DriftAction d) {
  switch (d) {
    case config::DriftAction::Repair:
      return "repair";
    case config::DriftAction::Report:
      return "report";
  }
  return "?";
}

json::value host_port(const config::HostPort& hp) {
  return json::array{json::value(hp.host), json::value(hp.port)};
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::value http_check(const config::HttpCheck& h) {
  json::array headers;
  for (const auto& [k, v] : h.headers)
    headers.push_back(json::array{json::value(k), json::value(v)});
  json::array status;
  for (const auto& r : h.expect_status) status.push_back(json::array{r.low, r.high});
  return json::object{{"method", h.method},
                      {"url", h.url},
                      {"host_header", h.host_header},
                      {"headers", std::move(headers)},
                      {"expect_status", std::move(status)},
                      {"expect_body", h.expect_body},
                      {"expect_body_regex", h.expect_body_regex},
                      {"body_limit", h.body_limit},
                      {"follow_redirects", h.follow_redirects},
                      {"max_redirects", h.max_redirects},
                      {"keepalive", h.keepalive}};
}

json::value tls_settings(const config::TlsSettings& t) {
  // ca_file and the client certificate paths are host-local and left out.
  return json::object{{"server_name", t.server_name},
                      {"min_version", t.min_version},
                      {"verify", t.verify},
                      {"cert_expiry_warning", ns(t.cert_expiry_warning)}};
}

json::value endpoint(const config::Endpoint& e) {
  json::object o{{"name", e.name.str()},
                 {"kind", name_of(e.kind)},
                 {"interval", ns(e.interval)},
                 {"fast_interval", ns(e.fast_interval)},
                 {"down_interval", ns(e.down_interval)},
                 {"timeout", ns(e.timeout)},
                 {"connect_timeout", ns(e.connect_timeout)},
                 {"rise", e.rise},
                 {"fall", e.fall},
                 {"forgive_after", e.forgive_after},
                 {"degraded_latency", ns(e.degraded_latency)}};
  // Only the settings the kind uses, so defaults of unused sections cannot cause a mismatch.
  switch (e.kind) {
    case config::ProbeKind::Http:
      o["http"] = http_check(e.http);
      break;
    case config::ProbeKind::Https:
      o["http"] = http_check(e.http);
      o["tls"] = tls_settings(e.tls);
      break;
    case config::ProbeKind::Tls:
      o["tls"] = tls_settings(e.tls);
      [[fallthrough]];
    case config::ProbeKind::Tcp:
      o["tcp"] = json::object{{"address", host_port(e.tcp.address)},
                              {"send", e.tcp.send},
                              {"expect", e.tcp.expect},
                              {"reset_after_connect", e.tcp.reset_after_connect}};
      break;
    case config::ProbeKind::Dns:
      o["dns"] = json::object{{"server", host_port(e.dns.server)},
                              {"query_name", e.dns.query_name},
                              {"query_type", e.dns.query_type},
                              {"expect_rcode", e.dns.expect_rcode},
                              {"expect_answer", strings(e.dns.expect_answer)},
                              {"tcp", e.dns.tcp}};
      break;
  }
  return o;
}

json::value target(const config::Target& t) {
  json::object o{{"kind", name_of(t.kind)}, {"scope", name_of(t.scope)}};
  switch (t.kind) {
    case config::TargetKind::Rfc2136: {
      const auto& r = t.rfc2136;
      o["rfc2136"] = json::object{{"server", host_port(r.server)},
                                  {"zone", r.zone},
                                  {"name", r.name},
                                  {"type", r.type},
                                  {"ttl", r.ttl},
                                  {"fence_name", r.fence_name},
                                  {"tsig_key_name", r.tsig_key_name},
                                  {"tsig_algorithm", r.tsig_algorithm},
                                  {"timeout", ns(r.timeout)}};
      break;
    }
    case config::TargetKind::PowerDns: {
      const auto& p = t.powerdns;
      o["powerdns"] = json::object{{"api_url", p.api_url},
                                   {"server_id", p.server_id},
                                   {"zone", p.zone},
                                   {"name", p.name},
                                   {"type", p.type},
                                   {"ttl", p.ttl},
                                   {"fence_name", p.fence_name},
                                   {"timeout", ns(p.timeout)}};
      break;
    }
    case config::TargetKind::HaProxy: {
      const auto& h = t.haproxy;
      o["haproxy"] = json::object{
          {"backend", h.backend}, {"inactive_state", h.inactive_state}, {"timeout", ns(h.timeout)}};
      break;
    }
    case config::TargetKind::Exec:
      o["exec"] = json::object{{"timeout", ns(t.exec.timeout)}};
      break;
  }
  return o;
}

json::value service(const config::Service& s) {
  json::array regions;
  for (const auto& r : s.regions) regions.emplace_back(r.str());
  json::array weights;  // std::map: already sorted by region
  for (const auto& [r, w] : s.weights) weights.push_back(json::array{json::value(r.str()), w});
  json::array publish;
  for (const auto& [r, values] : s.publish) {
    publish.push_back(json::array{json::value(r.str()), strings(values)});
  }
  return json::object{{"name", s.name.str()},
                      {"policy", name_of(s.policy)},
                      {"mode", name_of(s.mode)},
                      {"regions", std::move(regions)},
                      {"weights", std::move(weights)},
                      {"degraded_weight_factor", s.degraded_weight_factor},
                      {"publish", std::move(publish)},
                      {"failback", name_of(s.failback)},
                      {"failback_delay", ns(s.failback_delay)},
                      {"hold_down", ns(s.hold_down)},
                      {"flip_budget", s.flip_budget},
                      {"flip_window", ns(s.flip_window)},
                      {"min_targets", s.min_targets},
                      {"max_decision_age", ns(s.max_decision_age)},
                      {"reconcile_interval", ns(s.reconcile_interval)},
                      {"drift", name_of(s.drift)},
                      {"target", target(s.target)}};
}

}  // namespace

std::string config_fingerprint(const config::Config& c) {
  // Regions and services are sorted by name, so the order they were written in does not matter;
  // endpoint order within a region is kept (the config loader keeps it stable too).
  std::vector<const config::Region*> regions;
  for (const auto& r : c.regions) regions.push_back(&r);
  std::sort(regions.begin(), regions.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  std::vector<const config::Service*> services;
  for (const auto& s : c.services) services.push_back(&s);
  std::sort(services.begin(), services.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  std::set<std::string> observers{c.observer.id.str()};
  if (c.cluster) {
    for (const auto& p : c.cluster->peers) observers.insert(p.id.str());
  }

  json::array region_values;
  for (const auto* r : regions) {
    json::array endpoints;
    for (const auto& e : r->endpoints) endpoints.push_back(endpoint(e));
    region_values.push_back(json::object{{"name", r->name.str()},
                                         {"min_up", r->min_up},
                                         {"min_up_fraction", r->min_up_fraction},
                                         {"degraded_fraction", r->degraded_fraction},
                                         {"endpoints", std::move(endpoints)}});
  }
  json::array service_values;
  for (const auto* s : services) service_values.push_back(service(*s));
  json::array observer_values;
  for (const auto& o : observers) observer_values.emplace_back(o);

  json::object canonical{{"fingerprint_version", 1},
                         {"quorum", c.quorum()},
                         {"observers", std::move(observer_values)},
                         {"regions", std::move(region_values)},
                         {"services", std::move(service_values)}};
  const std::string text = json::serialize(canonical);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    return {};  // only on an OpenSSL failure; an empty fingerprint never matches a valid one
  }
  return hex(digest.data(), size);
}

}  // namespace failoverd::peer
