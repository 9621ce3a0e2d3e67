// HAProxy runtime API actuator: turns a plan into server states of one backend.
//
// For a plan, every member (an HAProxy server name from the service's publish lists) is set
// `ready` (and, under the weighted policy, to its weight first), and only then every other server
// of the backend that appears in the service's publish lists is set to `inactive_state` (drain or
// maint). Bringing the new servers up before draining the old ones means the backend never has zero
// ready servers because of us. Servers of the backend that are in no publish list are never
// touched.
//
// HAProxy has no fence and no compare-and-swap: LiveState.fence is always nullopt. HAProxy targets
// are meant for `scope = local` (each observer drives the HAProxy beside it), so there is no second
// writer to race with; write() still reads right before (live members differ from `expected` ->
// Conflict, nothing sent) and verifies with `show servers state` right after.
//
// After HAProxy restarts, read() shows the configuration file's state again; the reconciler sees
// the drift and calls write() with that state as `expected`. write() is idempotent: it sets every
// managed server's state whatever it was, so applying the same plan twice is harmless.
//
// One command per connection (non-interactive mode: HAProxy answers and closes), a deadline on
// connect, write and read, and a response size limit. Commands are sent in order and each reply is
// checked before the next command goes out.
//
// "Ready" is read from srv_admin_state: no maintenance bit (forced, inherited, resolution,
// hostname) and no drain bit. A server disabled in the config file keeps the CMAINT marker (0x04)
// after `state ready`; that marker alone still counts as ready. Health-check state (srv_op_state)
// is not routing state and is ignored. Under the priority policy weights do not apply: members read
// back with weight 1; under the weighted policy with their user weight (srv_uweight).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "actuate/actuator.h"
#include "config/config.h"

namespace failoverd::actuate {

namespace haproxy {

// One line of `show servers state BACKEND` (format version 1, HAProxy 2.x).
struct ServerState {
  std::string backend;
  std::string name;
  std::string address;
  int op_state = 0;          // 0 stopped, 1 starting, 2 running, 3 stopping (health)
  unsigned admin_state = 0;  // SRV_ADMF_* bits
  std::uint32_t user_weight = 0;
  std::uint32_t initial_weight = 0;
  bool ready() const;    // no maint and no drain bit
  bool drained() const;  // a drain bit and no maint bit
  bool maint() const;    // a maint bit
  bool operator==(const ServerState&) const = default;
};

// Parses the reply of `show servers state [BACKEND]`, columns located by the header line.
// nullopt (and `error`) on anything else, e.g. "Can't find backend.".
std::optional<std::vector<ServerState>> parse_servers_state(std::string_view text,
                                                            std::string& error);

// The ordered runtime API commands that apply `plan` to `backend`: weights (weighted policy),
// then `state ready` for every member, then `state <inactive_state>` for every other server in
// `managed`. Pure; the caller validates the plan first (validate_plan).
std::vector<std::string> plan_commands(const config::HaProxyTarget& target,
                                       const std::set<std::string>& managed, bool weighted,
                                       const core::Plan& plan);

// Why the plan cannot be applied (empty, below min_targets, a member outside the publish lists, a
// weight outside 1..256, a name that would break the command line); empty when it can.
std::string validate_plan(const std::set<std::string>& managed, bool weighted,
                          std::uint32_t min_targets, const core::Plan& plan);

// The routing state of `servers` as members: the ready servers among `managed`, sorted.
LiveState live_state(const std::vector<ServerState>& servers, const std::set<std::string>& managed,
                     bool weighted);

// A runtime API reply to a `set server` command -> outcome: empty is success.
WriteStatus classify_reply(std::string_view reply);

}  // namespace haproxy

// read(), write() and command() run on `executor` (the service's strand); one call at a time, not
// thread-safe. target.timeout is the deadline of each step of each command; replies are limited
// to 1 MiB.
class HaProxyActuator final : public Actuator {
 public:
  // `service.target.haproxy` must be filled. The managed servers are all values of
  // service.publish. Throws std::invalid_argument when neither a socket nor an IP address is set,
  // or inactive_state is not drain/maint (the config boundary).
  HaProxyActuator(boost::asio::any_io_executor executor, const config::Service& service);

  std::string_view kind() const override { return "haproxy"; }
  boost::asio::awaitable<ReadResult> read() override;
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                            const LiveState& expected) override;

  // Sends one runtime API command and returns HAProxy's reply (for tests and failoverctl).
  struct Reply {
    bool ok = false;  // the exchange completed (the reply may still be an error text)
    bool timed_out = false;
    std::string text;
    std::string detail;  // transport error
  };
  boost::asio::awaitable<Reply> command(std::string line);

 private:
  boost::asio::any_io_executor executor_;
  config::HaProxyTarget target_;
  std::set<std::string> managed_;
  bool weighted_ = false;
  std::uint32_t min_targets_ = 1;
};

}  // namespace failoverd::actuate
