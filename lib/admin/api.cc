#include "admin/api.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "config/secrets.h"

namespace failoverd::admin {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxEventsLimit = 1000;
constexpr std::size_t kDefaultEventsLimit = 50;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Splits "/v1/services/www/failover" into {"v1","services","www","failover"}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

// Value of `key` in a query string "a=1&b=2"; nullopt when absent.
std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}


// Request text echoed in an error, made printable ASCII: the reply must stay valid JSON (UTF-8)
// and readable whatever bytes the client sent. At most 64 characters.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

std::string client_address(const std::string& peer) {
  // "127.0.0.1:5000" or "[::1]:5000" -> the address without the port.
  auto colon = peer.rfind(':');
  if (colon == std::string::npos) return peer;
  return peer.substr(0, colon);
}

}  // namespace

std::optional<std::string> TokenSet::parse(std::string_view text, TokenSet& out) {
  std::vector<config::NamedToken> lines;
  if (auto err = config::parse_token_lines(text, lines)) return err;
  TokenSet result;
  for (auto& t : lines) result.add(std::move(t.name), std::move(t.token));
  out = std::move(result);
  return std::nullopt;
}

std::optional<std::string> TokenSet::authenticate(std::string_view presented) const {
  const std::string* found = nullptr;
  for (const Entry& e : tokens_) {
    // Constant time in the token's contents: always walk the longer length, fold differences.
    unsigned char diff = e.token.size() == presented.size() ? 0 : 1;
    std::size_t n = std::max(e.token.size(), presented.size());
    for (std::size_t i = 0; i < n; ++i) {
      unsigned char a = i < e.token.size() ? static_cast<unsigned char>(e.token[i]) : 0;
      unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff = static_cast<unsigned char>(diff | (a ^ b));
    }
    if (diff == 0 && found == nullptr) found = &e.name;
  }
  if (found == nullptr) return std::nullopt;
  return *found;
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::Failover: return "failover";
    case Action::Failback: return "failback";
    case Action::Freeze: return "freeze";
    case Action::Unfreeze: return "unfreeze";
    case Action::Approve: return "approve";
    case Action::Restore: return "restore";
    case Action::Pin: return "pin";
    case Action::Unpin: return "unpin";
  }
  return "freeze";
}

std::optional<Action> parse_action(std::string_view s) {
  for (Action a : {Action::Failover, Action::Failback, Action::Freeze, Action::Unfreeze,
                   Action::Approve, Action::Restore, Action::Pin, Action::Unpin}) {
    if (to_string(a) == s) return a;
  }
  return std::nullopt;
}

Response json_response(unsigned status, const json::value& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  // What the API says is current state: never to be kept by a browser or a proxy.
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.body = json::serialize(body);
  r.body += '\n';
  return r;
}

Response json_error(unsigned status, std::string_view message, std::string_view rule) {
  json::object o;
  o["error"] = message;
  if (!rule.empty()) o["rule"] = rule;
  return json_response(status, o);
}

Api::Api(Control& control, TokenSet tokens, ApiOptions options)
    : control_(control), tokens_(std::move(tokens)), options_(options) {}

bool Api::take(Bucket& b, std::chrono::steady_clock::time_point now) const {
  const double rate = options_.rate_limit_per_second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) b.tokens = std::min(rate, b.tokens + elapsed * rate);
  b.last = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

bool Api::allow_operator(const std::string& name, std::chrono::steady_clock::time_point now) {
  if (options_.rate_limit_per_second == 0) return true;
  auto [it, inserted] = operator_buckets_.try_emplace(name);
  if (inserted) it->second = {static_cast<double>(options_.rate_limit_per_second), now};
  return take(it->second, now);
}

bool Api::allow_address(const std::string& peer, std::chrono::steady_clock::time_point now) {
  if (options_.rate_limit_per_second == 0) return true;
  std::string address = client_address(peer);
  auto found = addresses_.find(address);
  if (found != addresses_.end()) {
    address_lru_.splice(address_lru_.begin(), address_lru_, found->second);
    return take(found->second->second, now);
  }
  // A new address gets the full burst while the table has room. Once it is full, the least
  // recently seen address is forgotten and the new one starts empty: otherwise a sweep over more
  // addresses than the table holds would hand out a fresh budget per address and, once it came
  // round again, to the forgotten ones too.
  Bucket fresh{static_cast<double>(options_.rate_limit_per_second), now};
  if (addresses_.size() >= kMaxAddresses) {
    addresses_.erase(address_lru_.back().first);
    address_lru_.pop_back();
    fresh.tokens = 0;
  }
  address_lru_.emplace_front(address, fresh);
  addresses_.emplace(std::move(address), address_lru_.begin());
  return take(address_lru_.front().second, now);
}

Response Api::handle(const Request& request, std::chrono::steady_clock::time_point now) {
  std::string_view target(request.target);
  auto qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);

  // Authenticate first: the limiter must know whose budget a request draws on.
  auto auth = request.headers.find("authorization");
  std::optional<std::string> who;
  if (auth != request.headers.end() && auth->second.rfind("Bearer ", 0) == 0) {
    who = tokens_.authenticate(trim(std::string_view(auth->second).substr(7)));
  }
  if (!who) {
    if (!allow_address(request.peer, now)) return json_error(429, "rate limit exceeded");
    if (tokens_.empty()) {
      return json_error(401, "admin API disabled: set admin.token_file in the config");
    }
    auto r = json_error(401, "missing or invalid bearer token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"failoverd\"");
    return r;
  }
  if (!allow_operator(*who, now)) {
    auto r = json_error(429, "rate limit exceeded");
    r.authenticated = true;
    return r;
  }
  Response r = route(request, path, query, *who);
  r.authenticated = true;
  return r;
}

Response Api::route(const Request& request, std::string_view path, std::string_view query,
                    const std::string& who) {
  auto parts = split_path(path);
  // HEAD is GET without the body; the HTTP layer drops the body.
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (parts.size() == 2 && parts[1] == "status") {
    if (!get) return json_error(405, "use GET");
    return json_response(200, control_.status());
  }
  if (parts.size() == 2 && parts[1] == "events") {
    if (!get) return json_error(405, "use GET");
    std::optional<std::uint64_t> cursor;
    std::size_t limit = kDefaultEventsLimit;
    if (auto c = query_param(query, "cursor")) {
      cursor = parse_u64(*c);
      if (!cursor) return json_error(400, "cursor must be a non-negative integer");
    }
    if (auto l = query_param(query, "limit")) {
      auto v = parse_u64(*l);
      if (!v || *v == 0 || *v > kMaxEventsLimit) {
        return json_error(400, "limit must be an integer from 1 to 1000");
      }
      limit = static_cast<std::size_t>(*v);
    }
    return json_response(200, control_.events(cursor, limit));
  }
  if (parts.size() >= 3 && parts.size() <= 4 && parts[1] == "services") {
    if (!config::is_plain_name(parts[2])) return json_error(400, "malformed service name");
    std::string name(parts[2]);
    if (parts.size() == 3) {
      if (!get) return json_error(405, "use GET");
      auto s = control_.service(name);
      if (!s) return json_error(404, "unknown service '" + name + "'");
      return json_response(200, *s);
    }
    auto action = parse_action(parts[3]);
    if (!action) return json_error(404, "unknown action '" + printable(parts[3]) + "'");
    if (!post) return json_error(405, "use POST");

    ActionRequest req;
    req.service = name;
    req.action = *action;
    req.who = who;
    req.peer = request.peer;
    if (!trim(request.body).empty()) {
      boost::system::error_code ec;
      json::value body = json::parse(request.body, ec);
      if (ec || !body.is_object()) return json_error(400, "body must be a JSON object");
      for (const auto& [key, value] : body.as_object()) {
        if (key == "region" && value.is_string()) {
          req.region = value.as_string();
        } else if (key == "reason" && value.is_string()) {
          req.reason = value.as_string();
        } else if (key == "force" && value.is_bool()) {
          req.force = value.as_bool();
        } else {
          return json_error(400, "unexpected field '" + printable(key) +
                                     "' (allowed: region string, reason string, force bool)");
        }
      }
    }
    if ((req.action == Action::Failover || req.action == Action::Pin) && req.region.empty()) {
      return json_error(400, std::string(to_string(req.action)) + " needs a \"region\"");
    }
    if ((req.action == Action::Failover || req.action == Action::Freeze ||
         req.action == Action::Pin) &&
        req.reason.empty()) {
      return json_error(400, std::string(to_string(req.action)) + " needs a \"reason\"");
    }
    ActionResult result = control_.act(req);
    switch (result.kind) {
      case ActionResult::Kind::Done: return json_response(200, result.body);
      case ActionResult::Kind::NotFound: return json_error(404, result.message);
      case ActionResult::Kind::Conflict: return json_error(409, result.message);
      case ActionResult::Kind::Refused: return json_error(422, result.message, result.rule);
      case ActionResult::Kind::BadRequest: return json_error(400, result.message);
    }
  }
  return json_error(404, "no such path");
}

}  // namespace failoverd::admin
