// The admin API, /v1: routing, authentication, rate limiting and the error model. What each call
// does is delegated to a Control (implemented by the runtime over the core), so this layer is
// tested on its own with a hand-written fake.
//
//   GET  /v1/status                        every service: active region, generation, mode, frozen
//                                          and holds (who, why, since); every region: confirmed
//                                          state, votes with age and evidence
//   GET  /v1/services/{name}               one service with per-observer verdicts and evidence
//   POST /v1/services/{name}/{action}      failover, failback, freeze, unfreeze, approve, restore
//                                          body (JSON, optional): {"region": "...", "reason":
//                                          "...", "force": true}
//   GET  /v1/events?cursor=N&limit=M       the decision journal, newest first
//
// Errors are JSON {"error": "...", "rule": "..."} with: 400 malformed, 401 no or bad token,
// 404 unknown service or path, 405 wrong method, 409 conflict (CAS lost, freeze in force),
// 413 too large (the HTTP layer), 422 refused by a safety rule (rule named), 429 rate limited.
//
// Rate limiting comes after authentication, so strangers cannot spend an operator's budget: a
// request with a valid token draws on that token's budget (by token name), any other on its client
// address's. Addresses are tracked in a bounded table that forgets the least recently seen one;
// an address new to a full table starts with an empty budget (refilling at the normal rate), so
// cycling through more addresses than the table holds buys no requests and resets nobody. HEAD
// is answered like GET. /healthz, /readyz and /metrics are not /v1 routes: never rate limited.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admin/http_server.h"

namespace failoverd::admin {

// Bearer tokens from a file of "name:token" lines ('#' comments and blank lines ignored).
class TokenSet {
 public:
  // Parses the file's text. Returns an error naming the line on a malformed one.
  static std::optional<std::string> parse(std::string_view text, TokenSet& out);
  // The token's name, or nullopt. Compares against every token in constant time per byte, so
  // timing reveals neither which token nor how much of it matched.
  std::optional<std::string> authenticate(std::string_view presented) const;
  bool empty() const { return tokens_.empty(); }
  void add(std::string name, std::string token) { tokens_.push_back({std::move(name), std::move(token)}); }

 private:
  struct Entry {
    std::string name;
    std::string token;
  };
  std::vector<Entry> tokens_;
};

enum class Action { Failover, Failback, Freeze, Unfreeze, Approve, Restore, Pin, Unpin };
std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view s);

struct ActionRequest {
  std::string service;
  Action action = Action::Freeze;
  std::string region;   // failover, pin: the region to move to
  std::string reason;   // free text, journaled
  bool force = false;   // failover to a region the quorum thinks down
  std::string who;      // the token's name
  std::string peer;     // the client's address
};

struct ActionResult {
  enum class Kind { Done, NotFound, Conflict, Refused, BadRequest };
  Kind kind = Kind::Done;
  std::string message;     // human text
  std::string rule;        // Refused: the safety rule ("empty_set", "target_confirmed_down", ...)
  boost::json::value body; // Done: what changed (plan, generation, ...)
};

// What the admin API can see and do. Called on the event-loop thread; must not block.
class Control {
 public:
  virtual ~Control() = default;
  virtual boost::json::value status() = 0;
  virtual std::optional<boost::json::value> service(std::string_view name) = 0;
  virtual ActionResult act(const ActionRequest& request) = 0;
  // Journal entries newer-first starting below `cursor` (nullopt: the newest), at most `limit`.
  virtual boost::json::value events(std::optional<std::uint64_t> cursor, std::size_t limit) = 0;
};

struct ApiOptions {
  // Per token name for authenticated requests, per client address for the rest; bursts up to
  // this many. 0: no limit.
  std::uint32_t rate_limit_per_second = 50;
};

class Api {
 public:
  Api(Control& control, TokenSet tokens, ApiOptions options);
  // Handles a /v1 request; `now` drives the rate limiter (steady clock).
  Response handle(const Request& request, std::chrono::steady_clock::time_point now);
  void set_tokens(TokenSet tokens) { tokens_ = std::move(tokens); }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last{};
  };
  // Refills `b` for the time since its last use and takes one request from it if it can.
  bool take(Bucket& b, std::chrono::steady_clock::time_point now) const;
  bool allow_operator(const std::string& name, std::chrono::steady_clock::time_point now);
  bool allow_address(const std::string& peer, std::chrono::steady_clock::time_point now);
  // An authenticated request (`who` is its token's name) after the limiter.
  Response route(const Request& request, std::string_view path, std::string_view query,
                 const std::string& who);

  Control& control_;
  TokenSet tokens_;
  ApiOptions options_;
  std::map<std::string, Bucket> operator_buckets_;  // by token name: as many as tokens
  // By client address (without port), most recently seen first; at most kMaxAddresses.
  std::list<std::pair<std::string, Bucket>> address_lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Bucket>>::iterator> addresses_;

 public:
  // How many client addresses the unauthenticated limiter remembers.
  static constexpr std::size_t kMaxAddresses = 4096;
};

// A JSON error response: {"error": message} plus "rule" when given.
Response json_error(unsigned status, std::string_view message, std::string_view rule = {});
Response json_response(unsigned status, const boost::json::value& body);

}  // namespace failoverd::admin
