// The RFC 2136 DNS UPDATE actuator: one managed RRset and its fence TXT in a zone, written as
// one TSIG-signed UPDATE over TCP whose prerequisites compare-and-swap both (never empty,
// compare-and-swap, read back; there is no unsigned mode).
//
//   read():  three TSIG-signed queries over one TCP connection to the primary: the managed RRset
//            (name/type), the fence TXT at fence_name, and the zone's SOA serial, sent together
//            (pipelined) and matched to their replies by message id, in any order. Every reply
//            must verify; an unsigned or badly signed reply is Refused, never trusted.
//   write(): refuses locally (Invalid, nothing sent) a plan with no members or whose generation is
//            not above expected.fence; otherwise sends ONE UPDATE:
//              prerequisites  managed RRset is exactly expected.members (or does not exist when
//                             expected has none); fence TXT is exactly expected.fence (or does
//                             not exist when nullopt)
//              updates        delete managed RRset, add plan.members (ttl);
//                             delete fence, add "gen=<plan.generation> writer=<observer>"
//                             plus " trigger=manual|restore" for an operator's or restore write
//            and maps the reply: NOERROR Applied; NXRRSET/YXRRSET/YXDOMAIN/NXDOMAIN Conflict;
//            SERVFAIL, timeout, lost connection, undecodable reply Unknown; REFUSED/NOTAUTH/
//            NOTZONE and any TSIG failure (BADKEY/BADSIG/BADTIME/unsigned) Refused; FORMERR and
//            others Invalid.
//
// Deadlines follow the server's observed round-trip time (actuate/rtt.h): one read, and one
// write, each has ONE deadline for all its steps (resolve, connect, send, every reply) of twice
// the current timeout (a connect and one round trip), where the timeout is the smoothed RTT plus
// four deviations, at least target.timeout and at most RttEstimator::kDefaultCap (or
// target.timeout when longer), doubled after each timed-out operation until one is answered.
// A read that timed out after some of its answers came is reported with ReadResult::answered
// (slow, not down).
// Runs on the caller's executor (co_await this_coro::executor); one call at a time per instance.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "actuate/actuator.h"
#include "actuate/dns_wire.h"
#include "actuate/rtt.h"
#include "actuate/tsig.h"
#include "config/config.h"

namespace failoverd::actuate {

// Reads the base64 secret at target.tsig_secret_file (refused when group/other may read it) and
// builds the key. nullopt with `error` set on failure; the secret never appears in `error`.
std::optional<tsig::Key> load_tsig_key(const config::Rfc2136Target& target, std::string* error);

// The fence owner name: target.fence_name, or "_failoverd." + target.name when empty.
std::string fence_name_for(const config::Rfc2136Target& target);

// Fence TXT text, exactly "gen=<decimal> writer=<id>" (id without spaces), followed by
// " trigger=manual" or " trigger=restore" when not automatic. parse_fence accepts only that
// canonical form, so format(parse(x)) == x and the CAS compares the same bytes.
std::string format_fence(const Fence& fence);
std::optional<Fence> parse_fence(std::string_view text);

// The empty_set and stale_generation guards (and what the record type can hold): an error text,
// starting with the rule's id when it is one, when the plan must not be sent.
std::optional<std::string> check_plan(const config::Rfc2136Target& target, const core::Plan& plan,
                                      const LiveState& expected);

// The UPDATE for (plan, expected), unsigned, with message id `id`; nullopt with `error` when a
// member or name cannot be encoded for target.type, or check_plan refuses.
std::optional<dns::Message> build_update(const config::Rfc2136Target& target,
                                         std::string_view observer, const core::Plan& plan,
                                         const LiveState& expected, std::uint16_t id,
                                         std::string* error);

// Maps a verified UPDATE reply rcode to a write status (see the header comment).
WriteStatus classify_update_rcode(std::uint16_t rcode);
// Maps a TSIG verification status of a reply to a write status: Ok passes (nullopt), the rest
// are Refused.
std::optional<WriteStatus> classify_tsig(tsig::Status status);

class Rfc2136Actuator final : public Actuator {
 public:
  // Seconds since the epoch, for TSIG time signed/verified. Injected for tests.
  using WallClock = std::function<std::uint64_t()>;

  // `observer` is written into the fence as the writer id.
  Rfc2136Actuator(config::Rfc2136Target target, tsig::Key key, std::string observer,
                  WallClock wall_clock = {});

  std::string_view kind() const override { return "rfc2136"; }
  boost::asio::awaitable<ReadResult> read() override;
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                            const LiveState& expected) override;

  std::optional<core::Duration> round_trip() const override { return rtt_.srtt(); }

  const config::Rfc2136Target& target() const { return target_; }
  // The round-trip estimate of the primary, from the exchanges so far.
  const RttEstimator& rtt() const { return rtt_; }

 private:
  config::Rfc2136Target target_;
  tsig::Key key_;
  std::string observer_;
  WallClock wall_clock_;
  std::uint16_t rrtype_ = dns::type::kA;
  RttEstimator rtt_;
};

}  // namespace failoverd::actuate
