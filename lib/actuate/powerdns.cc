#include "actuate/powerdns.h"

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "log/log.h"

namespace failoverd::actuate {

namespace json = boost::json;

namespace pdns {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A value that may be pasted into the LUA snippet: an IPv4 or IPv6 address literal only.
bool plain_address(std::string_view v) {
  if (v.empty() || v.size() > 45) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == '.' || c == ':';
  });
}

bool weighted_type(std::string_view type) {
  return iequals(type, "A") || iequals(type, "AAAA");
}

void sort_members(std::vector<LiveMember>& members) {
  std::sort(members.begin(), members.end(), [](const LiveMember& a, const LiveMember& b) {
    return a.value < b.value || (a.value == b.value && a.weight < b.weight);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

const json::string* string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

}  // namespace

std::string canonical_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (out.empty() || out.back() != '.') out.push_back('.');
  return out;
}

std::string fence_name_for(const config::PowerDnsTarget& target) {
  if (!target.fence_name.empty()) return canonical_name(target.fence_name);
  return canonical_name("_failoverd." + canonical_name(target.name));
}

std::string encode_fence(const Fence& fence) {
  return "\"gen=" + std::to_string(fence.generation) + " writer=" + fence.writer +
         trigger_field(fence.trigger) + "\"";
}

std::optional<Fence> parse_fence(std::string_view content) {
  content = trim(content);
  if (content.size() >= 2 && content.front() == '"' && content.back() == '"') {
    content = content.substr(1, content.size() - 2);
  }
  std::optional<core::Generation> gen;
  std::optional<std::string> writer;
  core::Trigger trigger = core::Trigger::Automatic;
  while (!content.empty()) {
    content = trim(content);
    const auto space = content.find(' ');
    const auto field = content.substr(0, space);
    content = space == std::string_view::npos ? std::string_view{} : content.substr(space + 1);
    if (field.starts_with("gen=")) {
      core::Generation g = 0;
      if (!parse_number(field.substr(4), g)) return std::nullopt;
      gen = g;
    } else if (field.starts_with("writer=")) {
      writer = std::string(field.substr(7));
    } else if (field.starts_with("trigger=")) {
      const auto t = parse_trigger(field.substr(8));
      if (!t) return std::nullopt;
      trigger = *t;
    }
  }
  if (!gen) return std::nullopt;
  return Fence{*gen, writer.value_or(""), trigger};
}

std::optional<std::string> encode_pickwrandom(std::string_view type,
                                              const std::vector<core::PlanMember>& members) {
  if (!weighted_type(type) || members.empty()) return std::nullopt;
  std::string out = upper(type) + " \"pickwrandom({";
  bool first = true;
  for (const auto& m : members) {
    if (m.weight == 0 || !plain_address(m.value)) return std::nullopt;
    if (!first) out += ", ";
    first = false;
    out += "{" + std::to_string(m.weight) + ", '" + m.value + "'}";
  }
  out += "})\"";
  return out;
}

std::optional<std::vector<LiveMember>> parse_pickwrandom(std::string_view type,
                                                         std::string_view content) {
  content = trim(content);
  const std::string prefix = upper(type) + " \"pickwrandom({";
  constexpr std::string_view kSuffix = "})\"";
  if (content.size() < prefix.size() + kSuffix.size() ||
      !iequals(content.substr(0, prefix.size()), prefix) || !content.ends_with(kSuffix)) {
    return std::nullopt;
  }
  auto body = content.substr(prefix.size(), content.size() - prefix.size() - kSuffix.size());
  std::vector<LiveMember> out;
  // body: {70, '192.0.2.10'}, {30, '198.51.100.10'}
  while (!(body = trim(body)).empty()) {
    if (body.front() == ',') {
      body.remove_prefix(1);
      continue;
    }
    if (body.front() != '{') return std::nullopt;
    const auto close = body.find('}');
    if (close == std::string_view::npos) return std::nullopt;
    const auto pair = body.substr(1, close - 1);
    body.remove_prefix(close + 1);
    const auto comma = pair.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    LiveMember m;
    if (!parse_number(trim(pair.substr(0, comma)), m.weight)) return std::nullopt;
    auto value = trim(pair.substr(comma + 1));
    if (value.size() < 2 || !((value.front() == '\'' && value.back() == '\'') ||
                              (value.front() == '"' && value.back() == '"'))) {
      return std::nullopt;
    }
    m.value = std::string(value.substr(1, value.size() - 2));
    out.push_back(std::move(m));
  }
  if (out.empty()) return std::nullopt;
  sort_members(out);
  return out;
}

std::optional<std::string> build_patch_body(const config::PowerDnsTarget& target, bool weighted,
                                            const core::Plan& plan, std::string_view writer,
                                            std::string& error) {
  // Never empty: compute the answer before sending; never an empty set or a zero total weight.
  if (plan.members.empty()) {
    error = "plan has no members (never publish an empty set)";
    return std::nullopt;
  }
  std::uint64_t total = 0;
  for (const auto& m : plan.members) total += m.weight;
  if (weighted && total == 0) {
    error = "plan has zero total weight";
    return std::nullopt;
  }
  const std::string name = canonical_name(target.name);
  const std::string type = upper(target.type);
  json::array rrsets;
  auto rrset = [&](std::string_view rname, std::string_view rtype, std::string_view changetype) {
    json::object o;
    o["name"] = rname;
    o["type"] = rtype;
    o["changetype"] = changetype;
    if (changetype == "REPLACE") o["ttl"] = target.ttl;
    return o;
  };
  auto record = [](std::string_view content) {
    json::object r;
    r["content"] = content;
    r["disabled"] = false;
    return r;
  };
  if (weighted) {
    if (!weighted_type(type)) {
      error = "weighted policy needs type A or AAAA for a LUA pickwrandom record, not " + type;
      return std::nullopt;
    }
    auto content = encode_pickwrandom(type, plan.members);
    if (!content) {
      error = "weighted members must be address literals with a weight above 0";
      return std::nullopt;
    }
    auto lua = rrset(name, "LUA", "REPLACE");
    json::array lua_records;
    lua_records.push_back(record(*content));
    lua["records"] = std::move(lua_records);
    rrsets.push_back(std::move(lua));
    rrsets.push_back(rrset(name, type, "DELETE"));
  } else {
    std::vector<std::string> values;
    for (const auto& m : plan.members) values.push_back(m.value);
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    json::array records;
    for (const auto& v : values) {
      if (v.empty() || v.find_first_of("\r\n") != std::string::npos) {
        error = "member value is empty or spans lines";
        return std::nullopt;
      }
      records.push_back(record(v));
    }
    auto plain = rrset(name, type, "REPLACE");
    plain["records"] = std::move(records);
    rrsets.push_back(std::move(plain));
    rrsets.push_back(rrset(name, "LUA", "DELETE"));
  }
  auto fence = rrset(fence_name_for(target), "TXT", "REPLACE");
  json::array fence_records;
  const Fence written{plan.generation, std::string(writer), plan.trigger};
  fence_records.push_back(record(encode_fence(written)));
  fence["records"] = std::move(fence_records);
  rrsets.push_back(std::move(fence));
  json::object body;
  body["rrsets"] = std::move(rrsets);
  return json::serialize(body);
}

ReadResult parse_zone(std::string_view text, const config::PowerDnsTarget& target) {
  ReadResult out;
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) {
    out.status = ReadStatus::Error;
    out.detail = "zone: not a JSON object";
    return out;
  }
  const auto& zone = doc.get_object();
  const auto* rrsets_v = zone.if_contains("rrsets");
  if (!rrsets_v || !rrsets_v->is_array()) {
    out.status = ReadStatus::Error;
    out.detail = "zone: no rrsets array";
    return out;
  }
  const std::string name = canonical_name(target.name);
  const std::string fence_name = fence_name_for(target);
  const std::string type = upper(target.type);
  if (const auto* serial = zone.if_contains("serial"); serial && serial->is_number()) {
    if (auto s = serial->if_uint64())
      out.state.serial = static_cast<std::uint32_t>(*s);
    else if (auto si = serial->if_int64(); si && *si >= 0)
      out.state.serial = static_cast<std::uint32_t>(*si);
  }
  for (const auto& rv : rrsets_v->get_array()) {
    const auto* rr = rv.if_object();
    if (!rr) continue;
    const auto* rname = string_field(*rr, "name");
    const auto* rtype = string_field(*rr, "type");
    const auto* records = rr->if_contains("records");
    if (!rname || !rtype || !records || !records->is_array()) continue;
    const std::string owner = canonical_name(*rname);
    const bool at_name = owner == name;
    const bool at_fence = owner == fence_name;
    if (!at_name && !at_fence) continue;
    for (const auto& recv : records->get_array()) {
      const auto* rec = recv.if_object();
      if (!rec) continue;
      if (const auto* d = rec->if_contains("disabled"); d && d->is_bool() && d->get_bool())
        continue;
      const auto* content = string_field(*rec, "content");
      if (!content) continue;
      const std::string_view c(content->data(), content->size());
      if (at_name && iequals(*rtype, type)) {
        out.state.members.push_back(LiveMember{std::string(c), 1});
      } else if (at_name && iequals(*rtype, "LUA")) {
        auto members = parse_pickwrandom(type, c);
        if (!members) {
          out.status = ReadStatus::Error;
          out.detail = "managed LUA record is not a pickwrandom written by failoverd";
          return out;
        }
        out.state.members.insert(out.state.members.end(), members->begin(), members->end());
      } else if (at_fence && iequals(*rtype, "TXT")) {
        auto fence = parse_fence(c);
        if (!fence) {
          out.status = ReadStatus::Error;
          out.detail = "fence TXT is malformed";
          return out;
        }
        if (out.state.fence) {
          out.status = ReadStatus::Error;
          out.detail = "more than one fence TXT record";
          return out;
        }
        out.state.fence = *fence;
      }
    }
  }
  sort_members(out.state.members);
  out.status = ReadStatus::Ok;
  return out;
}

WriteStatus classify_patch_status(unsigned status) {
  if (status >= 200 && status < 300) return WriteStatus::Applied;
  if (status == 400 || status == 422) return WriteStatus::Invalid;
  if (status >= 400 && status < 500) return WriteStatus::Refused;
  return WriteStatus::Unknown;
}

}  // namespace pdns

namespace {

std::string read_key_file(const std::string& path) {
  if (path.empty()) throw std::invalid_argument("powerdns: api_key_file is not set");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("powerdns: cannot read api_key_file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  if (key.empty()) throw std::invalid_argument("powerdns: api_key_file " + path + " is empty");
  if (key.find_first_of("\r\n") != std::string::npos) {
    throw std::invalid_argument("powerdns: api_key_file " + path + " holds more than one line");
  }
  return key;
}

std::vector<LiveMember> plan_members(const core::Plan& plan, bool weighted) {
  std::vector<LiveMember> out;
  for (const auto& m : plan.members) out.push_back(LiveMember{m.value, weighted ? m.weight : 1});
  std::sort(out.begin(), out.end(), [](const LiveMember& a, const LiveMember& b) {
    return a.value < b.value || (a.value == b.value && a.weight < b.weight);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The routing part of a state: the SOA serial changes with every write and is not compared.
bool same_routing(const LiveState& a, const LiveState& b) {
  return a.members == b.members && a.fence == b.fence;
}

std::string describe(const LiveState& s) {
  std::string out = "members=[";
  for (std::size_t i = 0; i < s.members.size(); ++i) {
    if (i) out += ",";
    out += s.members[i].value + "=" + std::to_string(s.members[i].weight);
  }
  out += "] fence=";
  out += s.fence ? "gen=" + std::to_string(s.fence->generation) + " writer=" + s.fence->writer
                 : std::string("none");
  return out;
}

}  // namespace

PowerDnsActuator::PowerDnsActuator(boost::asio::any_io_executor executor,
                                   const config::Service& service, core::ObserverId writer)
    : executor_(std::move(executor)),
      target_(service.target.powerdns),
      weighted_(service.policy == config::Policy::Weighted),
      min_targets_(service.min_targets),
      writer_(std::move(writer)) {
  auto url = parse_web_url(target_.api_url);
  if (!url)
    throw std::invalid_argument("powerdns: api_url must be http:// or https://host:port, got " +
                                target_.api_url);
  url_ = *url;
  if (target_.zone.empty() || target_.name.empty()) {
    throw std::invalid_argument("powerdns: zone and name must be set");
  }
  if (writer_.str().find_first_of(" \"\\") != std::string::npos || writer_.empty()) {
    throw std::invalid_argument(
        "powerdns: the observer id must be non-empty without spaces or quotes");
  }
  api_key_ = read_key_file(target_.api_key_file);
  zone_path_ =
      "/api/v1/servers/" + target_.server_id + "/zones/" + pdns::canonical_name(target_.zone);
}

boost::asio::awaitable<HttpResponse> PowerDnsActuator::exchange(std::string method,
                                                                std::string body) {
  HttpRequest req;
  req.method = std::move(method);
  req.target = zone_path_;
  req.headers.emplace_back("X-API-Key", api_key_);
  req.body = std::move(body);
  HttpLimits limits;
  limits.step_timeout = target_.timeout;
  limits.ca_file = target_.ca_file;
  co_return co_await http_exchange(executor_, url_, std::move(req), limits);
}

boost::asio::awaitable<ReadResult> PowerDnsActuator::read() {
  // One GET of the whole zone, so the managed RRset and the fence come from one snapshot.
  // (PowerDNS 4.7 can filter with ?rrset_name=&rrset_type=, but only for one name, and two GETs
  // would not be one snapshot.)
  auto resp = co_await exchange("GET", "");
  ReadResult out;
  if (!resp.ok()) {
    const bool unreachable = resp.error == HttpError::Connect || resp.error == HttpError::Resolve ||
                             resp.error == HttpError::Timeout;
    // A certificate we do not trust is the target refusing to be trusted, not a broken zone:
    // blocked and retried (actuate/reconcile.h), not frozen.
    out.status = unreachable                     ? ReadStatus::Unreachable
                 : resp.error == HttpError::Tls ? ReadStatus::Refused
                                                : ReadStatus::Error;
    out.detail = resp.detail;
    co_return out;
  }
  if (resp.status == 401 || resp.status == 403 || resp.status == 404) {
    out.status = ReadStatus::Refused;
    out.detail = "HTTP " + std::to_string(resp.status);
    co_return out;
  }
  if (resp.status != 200) {
    out.status = ReadStatus::Error;
    out.detail = "HTTP " + std::to_string(resp.status);
    co_return out;
  }
  co_return pdns::parse_zone(resp.body, target_);
}

boost::asio::awaitable<WriteResult> PowerDnsActuator::write(const core::Plan& plan,
                                                            const LiveState& expected) {
  WriteResult out;
  const auto wanted = plan_members(plan, weighted_);
  if (wanted.size() < std::max<std::uint32_t>(min_targets_, 1)) {
    out.status = WriteStatus::Invalid;
    out.detail = "plan has " + std::to_string(wanted.size()) + " members, fewer than min_targets " +
                 std::to_string(min_targets_);
    co_return out;
  }
  std::string error;
  auto body = pdns::build_patch_body(target_, weighted_, plan, writer_.str(), error);
  if (!body) {
    out.status = WriteStatus::Invalid;
    out.detail = error;
    co_return out;
  }

  // 1. Read immediately before: the API has no CAS, so this is the compare.
  auto before = co_await read();
  if (before.status != ReadStatus::Ok) {
    out.status = before.status == ReadStatus::Refused ? WriteStatus::Refused : WriteStatus::Unknown;
    out.detail = "read before write failed, nothing sent: " + before.detail;
    co_return out;
  }
  if (!same_routing(before.state, expected)) {
    out.status = WriteStatus::Conflict;
    out.detail = "live state differs from expected, nothing sent: live " + describe(before.state) +
                 ", expected " + describe(expected);
    co_return out;
  }
  if (before.state.fence && before.state.fence->generation >= plan.generation) {
    out.status = WriteStatus::Conflict;
    out.detail = "live generation " + std::to_string(before.state.fence->generation) +
                 " is not below plan generation " + std::to_string(plan.generation);
    co_return out;
  }

  // 2. One PATCH: managed RRset and fence in one PowerDNS transaction.
  auto resp = co_await exchange("PATCH", std::move(*body));
  if (!resp.ok()) {
    out.status = WriteStatus::Unknown;
    out.detail = "PATCH: " + resp.detail;
    co_return out;
  }
  out.rcode = std::to_string(resp.status);
  out.status = pdns::classify_patch_status(resp.status);
  if (out.status != WriteStatus::Applied) {
    // PowerDNS puts {"error": "..."} in the body; it never echoes the API key.
    boost::system::error_code ec;
    auto doc = json::parse(resp.body, ec);
    std::string why;
    if (!ec && doc.is_object()) {
      if (const auto* e = doc.get_object().if_contains("error"); e && e->is_string()) {
        why = std::string(e->get_string().c_str());
      }
    }
    out.detail = "PATCH: HTTP " + out.rcode + (why.empty() ? "" : ": " + why.substr(0, 512));
    co_return out;
  }

  // 3. Read immediately after: our fence and exactly our members, or someone else's write.
  auto after = co_await read();
  if (after.status != ReadStatus::Ok) {
    out.status = WriteStatus::Unknown;
    out.detail = "PATCH accepted (HTTP " + out.rcode + ") but read-back failed: " + after.detail;
    co_return out;
  }
  const Fence ours{plan.generation, writer_.str()};
  if (after.state.fence != ours) {
    out.status = WriteStatus::Conflict;
    out.detail = "read-back: fence is not ours: " + describe(after.state);
    co_return out;
  }
  if (after.state.members != wanted) {
    out.status = WriteStatus::Unknown;
    out.detail = "read-back: our fence but other members: " + describe(after.state);
    co_return out;
  }
  out.status = WriteStatus::Applied;
  out.detail = "gen=" + std::to_string(plan.generation) +
               (after.state.serial ? " serial=" + std::to_string(*after.state.serial) : "");
  log::info("powerdns write applied", {{"service", plan.service.str()},
                                       {"generation", plan.generation},
                                       {"zone", target_.zone},
                                       {"name", target_.name}});
  co_return out;
}

}  // namespace failoverd::actuate
