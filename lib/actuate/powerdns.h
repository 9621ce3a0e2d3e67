// PowerDNS HTTP API actuator: publishes a service's members as one RRset in a PowerDNS zone and
// keeps the fence (generation and writer) in a TXT RRset beside it.
//
// The PowerDNS HTTP API has NO compare-and-swap. A PATCH replaces RRsets unconditionally, so this
// actuator can only narrow the race, not close it:
//   1. read the zone (one GET) and compare the managed RRset and the fence with `expected`;
//      if they differ, or the live generation is not below plan.generation: Conflict, no write;
//   2. one PATCH that REPLACEs the managed RRset and the fence TXT together (PowerDNS applies one
//      PATCH in one backend transaction, so DNS clients never see one without the other, and the
//      RRset is never empty: REPLACE is not delete-then-add as seen by readers);
//   3. read the zone again: our fence (plan.generation, our writer id) and exactly plan.members
//      -> Applied; another fence -> Conflict; no usable answer -> Unknown.
// The window that remains: another writer whose PATCH lands between our step 1 and step 2 is
// overwritten by ours (last writer wins). Step 3 detects a writer that lands after us, not before.
// Where compare-and-swap matters (several observers sharing one zone, scope = shared), drive
// PowerDNS through RFC 2136 instead (actuate/rfc2136.h): PowerDNS accepts DNS UPDATE with TSIG
// (`dnsupdate=yes`, `allow-dnsupdate-from`, TSIG-ALLOW-DNSUPDATE metadata) and honours its
// prerequisites, which makes the fence a real CAS.
//
// Priority policy: the managed RRset is a plain RRset of the configured type (A, AAAA, CNAME, TXT).
// Weighted policy: a LUA record at the same name (needs `enable-lua-records=yes` on the server),
//   www.example.com. LUA A "pickwrandom({{70, '192.0.2.10'}, {30, '198.51.100.10'}})"
// and the plain RRset of the configured type is deleted in the same PATCH (and vice versa), so a
// switch of policy never leaves both published. Weighted mode supports types A and AAAA.
//
// HTTP status mapping (write): 2xx Applied (after read-back), 401/403 Refused (bad API key: an
// alert), 404 Refused (server id or zone missing: like NOTZONE), 400/422 Invalid (PowerDNS rejected
// the records: the plan cannot be expressed), any other 4xx Refused, 5xx or no answer Unknown.
//
// The API key is read once from api_key_file at construction and only ever sent as X-API-Key;
// it never appears in logs, details or errors.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actuate/actuator.h"
#include "actuate/http_client.h"
#include "config/config.h"

namespace failoverd::actuate {

// Pure encoders and decoders of the PowerDNS API bodies, unit-tested without sockets.
namespace pdns {

// "_failoverd." + name when fence_name is empty.
std::string fence_name_for(const config::PowerDnsTarget& target);
// Absolute, lower-case: "WWW.Example.com" -> "www.example.com.".
std::string canonical_name(std::string_view name);

// TXT content as PowerDNS stores it, quotes included: "\"gen=42 writer=obs-a\"", with
// " trigger=manual" (or restore) before the closing quote when the write was not automatic.
std::string encode_fence(const Fence& fence);
// Parses encode_fence's output (quotes optional, fields in any order); nullopt if malformed.
std::optional<Fence> parse_fence(std::string_view content);

// LUA record content for weighted members of `type` (A or AAAA):
//   A "pickwrandom({{70, '192.0.2.10'}, {30, '198.51.100.10'}})"
// nullopt when a value is not a plain address (it would be code in the LUA snippet) or a weight
// is 0.
std::optional<std::string> encode_pickwrandom(std::string_view type,
                                              const std::vector<core::PlanMember>& members);
// The members of a LUA content written by encode_pickwrandom; nullopt for any other LUA snippet.
std::optional<std::vector<LiveMember>> parse_pickwrandom(std::string_view type,
                                                         std::string_view content);

// The PATCH body: managed RRset (plain or LUA) REPLACEd, the other form DELETEd, the fence TXT
// REPLACEd with plan.generation and `writer`. nullopt (with `error` set) when the plan cannot be
// expressed (empty, zero weight, weighted with a type other than A/AAAA, bad address).
std::optional<std::string> build_patch_body(const config::PowerDnsTarget& target, bool weighted,
                                            const core::Plan& plan, std::string_view writer,
                                            std::string& error);

// Extracts the managed RRset, the fence and the SOA serial from a zone as returned by
// GET /api/v1/servers/{id}/zones/{zone}. status Error with detail on malformed JSON.
// Members are sorted by value; plain records have weight 1; disabled records are ignored.
ReadResult parse_zone(std::string_view json, const config::PowerDnsTarget& target);

// HTTP status of a PATCH -> write outcome (see the mapping above).
WriteStatus classify_patch_status(unsigned status);

}  // namespace pdns

// read() and write() run on `executor` (the service's strand); one call at a time, not thread-safe.
// Each HTTP exchange uses a fresh connection with target.timeout as the deadline of every step and
// a 4 MiB response limit.
class PowerDnsActuator final : public Actuator {
 public:
  // `service.target.powerdns` must be filled; service.policy picks plain or LUA records. `writer`
  // is this observer's id, stored in the fence. Reads the API key file once.
  // Throws std::invalid_argument on an unusable api_url or an unreadable/empty api_key_file
  // (the config boundary; the message never contains the key).
  PowerDnsActuator(boost::asio::any_io_executor executor, const config::Service& service,
                   core::ObserverId writer);

  std::string_view kind() const override { return "powerdns"; }
  boost::asio::awaitable<ReadResult> read() override;
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                            const LiveState& expected) override;

 private:
  boost::asio::awaitable<HttpResponse> exchange(std::string method, std::string body);

  boost::asio::any_io_executor executor_;
  config::PowerDnsTarget target_;
  bool weighted_ = false;
  std::uint32_t min_targets_ = 1;
  core::ObserverId writer_;
  HttpUrl url_;
  std::string api_key_;
  std::string zone_path_;
};

}  // namespace failoverd::actuate
