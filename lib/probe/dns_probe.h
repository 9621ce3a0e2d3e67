// DNS probe: one query to one name server, judged by rcode and answer.
//
//   probe::DnsProber prober(io);                  // owns the c-ares channels; io thread only
//   probe::start_dns_probe(prober, endpoint, [](probe::ProbeResult r) { ... });
//
// The endpoint's `dns` check says what to ask (query_name, query_type), where (server host:port,
// UDP or TCP) and what to expect (expect_rcode, expect_answer). `timeout` bounds the query (one
// try, no retry: a lost datagram is a failed probe, as the next probe is the retry). A server given
// by host name is first resolved (Resolver, cached per TTL); that lookup counts in the latency, and
// the probe times out if it alone used the whole timeout. Latency: from start() to the reply.
// Outcomes (core::ProbeReason):
//   Ok                 the rcode is expect_rcode and every expected value is in the answer
//   Timeout            no reply within the timeout
//   Refused            connection refused (TCP RST, or ICMP port unreachable for UDP)
//   DnsRcode           the rcode differs from expect_rcode; detail names both ("rcode NXDOMAIN,
//                      expected NOERROR")
//   DnsAnswerMismatch  an expected value is missing from the answer; detail names it
//   ProtocolError      the reply is malformed
//   ResolveError       the server's host name did not resolve (needs a Resolver, see below)
//   Internal           unsupported query_type/expect_rcode, or c-ares failed locally
//
// Also here: the pure pieces (reply parser, answer matching, rcode names), used by the probe and
// unit-tested without sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/types.h"
#include "probe/result.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::probe {

class Resolver;

// ---------------------------------------------------------------------------------------------
// The prober

// Owns one c-ares channel per (server address, port, transport, timeout), created on first use and
// kept while in use; idle channels are closed when more than max_channels exist. Lives on one
// io_context and is used only from the thread that runs it; no thread of its own.
class DnsProber {
 public:
  using Callback = std::function<void(ProbeResult)>;

  struct Options {
    std::size_t max_channels = 256;
    // Recursion desired bit in every query (as dig sets it by default). A non-recursive
    // authoritative server answers either way.
    bool recursion_desired = true;
  };

  // `resolver` (optional, not owned, must outlive the prober) resolves a server given by host
  // name; without it such an endpoint fails with ResolveError.
  explicit DnsProber(boost::asio::io_context& io, Resolver* resolver = nullptr);
  DnsProber(boost::asio::io_context& io, Resolver* resolver, Options options);
  // Abandons probes in flight: their callbacks are never called.
  ~DnsProber();
  DnsProber(const DnsProber&) = delete;
  DnsProber& operator=(const DnsProber&) = delete;

  // Starts one probe of `endpoint` (its `dns` check and `timeout`). `done` is called exactly once
  // (unless the prober is destroyed first), always later through the io_context: never from
  // inside start(). The endpoint is copied as needed; it need not outlive the call.
  void start(const config::Endpoint& endpoint, Callback done);

  std::size_t in_flight() const;  // probes started and not completed
  std::size_t channels() const;   // open c-ares channels

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The scheduler's entry point; same as prober.start(endpoint, done).
void start_dns_probe(DnsProber& prober, const config::Endpoint& endpoint,
                     std::function<void(ProbeResult)> done);

// ---------------------------------------------------------------------------------------------
// Pure pieces: no I/O

// RR type code for "A", "AAAA", "TXT", "CNAME", "SOA", "NS", "MX" (any case); nullopt otherwise.
std::optional<std::uint16_t> dns_type_from_name(std::string_view name);
// "A", "MX", ... or "TYPE<n>".
std::string dns_type_name(std::uint16_t type);
// rcode for "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
// "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" (any case); nullopt otherwise.
std::optional<int> dns_rcode_from_name(std::string_view name);
// "NXDOMAIN", ... or "RCODE<n>".
std::string dns_rcode_name(int rcode);

// One answer record, its value in presentation form:
//   A/AAAA  "192.0.2.1", "2001:db8::1"        CNAME/NS  "target.example."
//   MX      "10 mail.example."                TXT       the character-strings concatenated
//   SOA     "mname. rname. serial refresh retry expire minimum"
// other types: "\# <length>" (RFC 3597 style, data not shown).
struct DnsRecord {
  std::string owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string value;
};

struct DnsReply {
  std::uint16_t id = 0;
  int rcode = 0;
  bool authoritative = false;
  bool truncated = false;
  std::vector<DnsRecord> answers;
};

// Parses a DNS reply message (header, question and answer sections; authority and additional are
// not read). nullopt when it is malformed, with the reason in *error when error is non-null.
std::optional<DnsReply> parse_dns_reply(std::span<const std::uint8_t> message,
                                        std::string* error = nullptr);

// Whether the answer holds a record of `type` whose value matches `expected`:
//   A/AAAA      the same address (so "2001:db8:0::1" matches "2001:db8::1")
//   CNAME/NS    the same name, case-insensitive, trailing dot optional
//   MX          "pref host" or just "host" (names compared as above)
//   SOA         the expected fields are a prefix of the record's ("ns1.example." matches)
//   TXT         exactly the concatenated text
bool dns_answer_contains(const DnsReply& reply, std::uint16_t type, std::string_view expected);

struct DnsVerdict {
  core::ProbeReason reason = core::ProbeReason::Ok;
  std::string detail;
};

// Judges a raw reply against the check: ProtocolError, DnsRcode, DnsAnswerMismatch or Ok.
// An empty expect_answer accepts any answer section, even an empty one.
DnsVerdict classify_dns_reply(std::span<const std::uint8_t> message, const config::DnsCheck& check);

// Judges a c-ares failure status (anything but success) for the check. `timeout` is only used in
// the detail text.
DnsVerdict classify_ares_status(int status, const config::DnsCheck& check,
                                std::chrono::milliseconds timeout);

}  // namespace failoverd::probe
