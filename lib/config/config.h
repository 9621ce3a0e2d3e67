// The validated, typed configuration of one failoverd observer.
//
// Plain data: no toml++ here (the loader in config/loader.h fills it). A Config is immutable once
// loaded and is replaced whole on reload (SIGHUP). Every duration is a std::chrono type; in TOML
// it is written as a string such as "250ms", "10s", "5m", "1h", "14d".
//
// The TOML layout (see config/*.toml for documented examples):
//
//   [observer]            id, state_dir, log_format, log_level, tilt_period, max_loop_lag
//   [admin]               listen, token_file, ...
//   [cluster]             listen, quorum, exchange_interval, verdict_ttl, TLS files
//   [[cluster.peers]]     id, address
//   [probe_defaults]      interval, fast_interval, timeout, rise, fall, ... (endpoint defaults)
//   [[control]]           control endpoints: when they fail, this observer abstains
//   [regions.NAME]        min_up, min_up_fraction, degraded_fraction
//   [[regions.NAME.endpoints]]  one probed endpoint (kind = http|https|tcp|tls|dns)
//   [services.NAME]       policy, mode, regions, failback, hold_down, flip budget, min_targets
//   [services.NAME.weights]  REGION = weight           (weighted policy)
//   [services.NAME.publish]  REGION = ["value", ...]   (what the target publishes per region)
//   [services.NAME.target]   kind = rfc2136|powerdns|haproxy|exec, and its settings
//   [[notify]]            a webhook told of decisions and alerts (json|slack|pagerduty)
//   [oracle]              the oracle listener: listen, path_secret_file, TLS files, limits
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.h"

namespace failoverd::config {

using Duration = std::chrono::nanoseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

enum class LogFormat { Logfmt, Json };
enum class LogLevel { Debug, Info, Warning, Error };

// A host:port pair as written ("127.0.0.1:8649", "[::1]:53", "dns.example.net:53").
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

struct Observer {
  core::ObserverId id;
  std::string state_dir = "/var/lib/failoverd";
  LogFormat log_format = LogFormat::Logfmt;
  LogLevel log_level = LogLevel::Info;
  // After a clock jump or event-loop stall, automatic actions stay suspended this long (TILT).
  Duration tilt_period = std::chrono::seconds(30);
  // Event-loop lateness above this counts as a stall.
  Duration max_loop_lag = std::chrono::milliseconds(500);
};

struct Admin {
  HostPort listen{"127.0.0.1", 8649};
  // File of bearer tokens, one "name:token" per line. Empty: the admin API serves only
  // /healthz, /readyz and /metrics and refuses every /v1 call.
  std::string token_file;
  std::string tls_cert_file;       // optional: serve HTTPS
  std::string tls_key_file;
  std::string client_ca_file;      // optional: require client certificates (mTLS)
  std::size_t max_request_bytes = 64 * 1024;
  std::uint32_t rate_limit_per_second = 50;
};

// The oracle listener (oracle/oracle_server.h): per service and region a URL that outside health
// checkers read, 200 when the region should take the service's traffic, 503 when not.
struct Oracle {
  HostPort listen;                 // required when [oracle] exists
  // One line of at least 16 characters; each service's path component is derived from it
  // (oracle/decision.h: path_secret, HMAC-SHA256(secret, service) in hex, 32 characters).
  std::string path_secret_file;
  std::string cert_file;           // optional: serve HTTPS with its own certificate
  std::string key_file;
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_source = 32;  // per client IP address
  // The TLS handshake and the whole request header must arrive within this of the accept (or
  // of the previous response on a kept-alive connection): against slow and idle clients.
  Duration request_timeout = std::chrono::seconds(5);
  std::uint32_t rate_limit_per_source = 20;      // requests per second per client IP (429 over)
  std::uint32_t rate_limit_burst = 40;           // the token bucket's size
  bool operator==(const Oracle&) const = default;
};

struct Peer {
  core::ObserverId id;
  HostPort address;
};

struct Cluster {
  HostPort listen{"127.0.0.1", 8650};
  // Observers that must agree. 0 means a majority of the configured observers (peers + this one).
  std::uint32_t quorum = 0;
  Duration exchange_interval = std::chrono::seconds(1);
  // A peer's verdicts older than this (by local receive time) count as no vote.
  Duration verdict_ttl = std::chrono::seconds(5);
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::vector<Peer> peers;
};

enum class ProbeKind { Http, Https, Tcp, Tls, Dns };

// An expected HTTP status range, inclusive: "200" is {200,200}, "200-299" is {200,299}.
struct StatusRange {
  std::uint16_t low = 200;
  std::uint16_t high = 299;
  bool operator==(const StatusRange&) const = default;
};

struct HttpCheck {
  std::string method = "GET";
  std::string url;               // http://host[:port]/path or https://...
  std::string host_header;       // empty: taken from the URL
  std::map<std::string, std::string> headers;
  std::vector<StatusRange> expect_status{{200, 399}};
  std::string expect_body;       // substring looked for in the first body_limit bytes
  std::string expect_body_regex;  // RE2 syntax (probe/body_regex.h), same window
  std::size_t body_limit = 64 * 1024;
  bool follow_redirects = false;
  std::uint32_t max_redirects = 0;
  bool keepalive = false;        // default: a fresh connection per probe
  bool operator==(const HttpCheck&) const = default;
};

struct TlsSettings {
  std::string ca_file;           // empty: the system trust store
  std::string server_name;       // SNI and name checked; empty: the host from the URL/address
  std::string client_cert_file;  // mTLS, optional
  std::string client_key_file;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  bool verify = true;
  // The TLS probe marks the endpoint degraded when the peer certificate expires sooner.
  Duration cert_expiry_warning = std::chrono::hours(24 * 14);
  bool operator==(const TlsSettings&) const = default;
};

struct TcpCheck {
  HostPort address;
  // tcp only (the tls probe ends after the handshake): send, expect, reset_after_connect.
  std::string send;              // optional bytes to send after connecting (escapes: \r \n \t \\)
  std::string expect;            // optional substring expected in the reply
  // Connect-only checks end with a reset right after the handshake (SO_LINGER 0), as HAProxy
  // does, so the target's application never sees a connection it has to close.
  bool reset_after_connect = true;
  bool operator==(const TcpCheck&) const = default;
};

struct DnsCheck {
  HostPort server;
  std::string query_name;
  std::string query_type = "A";  // A, AAAA, TXT, CNAME, SOA, NS, MX
  std::string expect_rcode = "NOERROR";
  std::vector<std::string> expect_answer;  // every listed value must appear; empty: any answer
  bool tcp = false;
  bool operator==(const DnsCheck&) const = default;
};

struct Endpoint {
  core::EndpointId name;
  ProbeKind kind = ProbeKind::Http;
  Duration interval = std::chrono::seconds(1);
  Duration fast_interval = std::chrono::milliseconds(0);  // while suspect; 0: same as interval
  Duration down_interval = std::chrono::milliseconds(0);  // while down; 0: same as interval
  Duration timeout = std::chrono::seconds(1);             // the whole probe
  Duration connect_timeout = std::chrono::milliseconds(0);  // 0: same as timeout; not dns
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
  // Successes in a row after which earlier failures are forgiven (gdnsd's ok_thresh). 0: never.
  std::uint32_t forgive_after = 0;
  // Slower than this (when it succeeds) marks the endpoint degraded. 0: no threshold.
  Duration degraded_latency = std::chrono::milliseconds(0);
  HttpCheck http;    // kind http/https
  TlsSettings tls;   // kind https/tls
  TcpCheck tcp;      // kind tcp/tls (address)
  DnsCheck dns;      // kind dns
  bool operator==(const Endpoint&) const = default;
};

// A name no region may have: `failover --to none` asks for every region off, which the
// never-empty guard refuses.
inline constexpr std::string_view kNoRegion = "none";

// The most regions one config may hold. Observers exchange one verdict per region, and a peer
// refuses a message with more (peer/message.h uses this constant), so a larger config could never
// form a quorum; the loader refuses it instead.
inline constexpr std::size_t kMaxRegions = 256;

struct Region {
  core::RegionId name;
  // The region is down when fewer than min_up endpoints (and fewer than min_up_fraction of them)
  // are up; degraded when the fraction up is below degraded_fraction or an endpoint is degraded.
  std::uint32_t min_up = 1;
  double min_up_fraction = 0.0;
  double degraded_fraction = 1.0;
  std::vector<Endpoint> endpoints;
  bool operator==(const Region&) const = default;
};

enum class Policy { Priority, Weighted };
enum class Mode { Auto, Propose };
enum class Failback { Manual, Auto };
enum class TargetKind { Rfc2136, PowerDns, HaProxy, Exec };
// Shared: one target for the whole cluster (a DNS zone); the fence CAS picks one writer.
// Local: each observer applies the decision to its own target (the HAProxy beside it). HAProxy
// and exec targets store no fence (actuate/local_fence.h): local is their only scope.
enum class TargetScope { Shared, Local };
enum class DriftAction { Repair, Report };

struct Rfc2136Target {
  HostPort server;                   // the zone's primary; updates go over TCP
  std::string zone;                  // "example.com."
  std::string name;                  // managed owner name, "www.example.com."
  std::string type = "A";            // A, AAAA, CNAME, TXT
  std::uint32_t ttl = 30;
  // Empty: "_failoverd." + name. Unique per config: an A and an AAAA service on one name need
  // fence_name set on one of them (the loader refuses two services on one fence).
  std::string fence_name;
  std::string tsig_key_name;
  std::string tsig_algorithm = "hmac-sha256";  // hmac-sha256 | hmac-sha1 | hmac-sha512
  std::string tsig_secret_file;      // base64 secret, mode 0600 or stricter
  Duration timeout = std::chrono::seconds(2);
  bool operator==(const Rfc2136Target&) const = default;
};

struct PowerDnsTarget {
  std::string api_url;               // http://127.0.0.1:8081, or https:// (a TLS proxy in front)
  std::string server_id = "localhost";
  std::string zone;
  std::string name;
  std::string type = "A";
  std::uint32_t ttl = 30;
  std::string fence_name;            // as for rfc2136: empty is "_failoverd." + name
  std::string api_key_file;
  std::string ca_file;               // https: the CAs to trust (PEM); empty: the system store
  Duration timeout = std::chrono::seconds(2);
  bool operator==(const PowerDnsTarget&) const = default;
};

struct HaProxyTarget {
  std::string socket;                // UNIX socket path; or
  HostPort address;                  // TCP runtime API (host empty: use socket)
  std::string backend;
  std::string inactive_state = "drain";  // drain | maint
  Duration timeout = std::chrono::seconds(2);
  bool operator==(const HaProxyTarget&) const = default;
};

struct ExecTarget {
  std::vector<std::string> argv;     // argv[0] is an absolute path; no shell
  Duration timeout = std::chrono::seconds(10);
  bool operator==(const ExecTarget&) const = default;
};

struct Target {
  TargetKind kind = TargetKind::Rfc2136;
  TargetScope scope = TargetScope::Shared;
  Rfc2136Target rfc2136;
  PowerDnsTarget powerdns;
  HaProxyTarget haproxy;
  ExecTarget exec;
  bool operator==(const Target&) const = default;
};

struct Service {
  core::ServiceId name;
  Policy policy = Policy::Priority;
  Mode mode = Mode::Auto;
  std::vector<core::RegionId> regions;             // priority order (priority policy)
  std::map<core::RegionId, std::uint32_t> weights;  // weighted policy
  double degraded_weight_factor = 0.5;             // weighted: a degraded region keeps this share
  // What the target publishes for each region: addresses for DNS, server names for HAProxy.
  std::map<core::RegionId, std::vector<std::string>> publish;
  // Both policies: priority, back to an earlier region; weighted, a region that was taken out
  // added back (see core/policy.h).
  Failback failback = Failback::Manual;
  Duration failback_delay = std::chrono::minutes(5);
  Duration hold_down = std::chrono::seconds(60);
  std::uint32_t flip_budget = 3;                   // automatic flips per flip_window
  Duration flip_window = std::chrono::hours(1);
  // Automated writes to the target (automatic plans, drift repairs, retries) per window; the
  // one over it is not sent and the service freezes with an alert (actuate/reconcile.h).
  std::uint32_t write_budget = 10;
  Duration write_budget_window = std::chrono::minutes(10);
  std::uint32_t min_targets = 1;
  Duration max_decision_age = std::chrono::seconds(10);
  Duration reconcile_interval = std::chrono::seconds(30);
  DriftAction drift = DriftAction::Repair;
  Target target;
  bool operator==(const Service&) const = default;
};

enum class NotifyFormat { Json, Slack, PagerDuty };

// One [[notify]] receiver. The URL is `url`, or the first line of `url_file` (a Slack incoming
// webhook's URL is itself the secret). `secret_file`: the PagerDuty routing key, or for json a
// bearer token sent as Authorization (slack: not used). Secrets are read at start-up, never logged.
struct Notify {
  std::string name;
  std::string url;          // http:// or https:// (empty when url_file is set)
  std::string url_file;
  std::string ca_file;      // https: verify the receiver against this; empty: the system CAs
  NotifyFormat format = NotifyFormat::Json;
  std::vector<std::string> events;  // notify event kinds (notify/format.h); empty: the defaults
  std::string secret_file;
  Duration timeout = std::chrono::seconds(5);  // each step: connect, TLS handshake, write, read
  std::uint32_t queue_size = 256;              // pending notifications; when full the oldest goes
  std::uint32_t max_retries = 3;               // after the first attempt
  Duration retry_base = std::chrono::seconds(1);   // full-jitter backoff: uniform(0, min(cap,
  Duration retry_cap = std::chrono::seconds(30);   //   base * 2^retry))
};

// The kinds a [[notify]] `events` list may name (notify/format.h says when each is sent).
inline constexpr std::string_view kNotifyEventKinds[] = {
    "failover_planned", "failover_applied", "plan_proposed",   "plan_refused",
    "service_frozen",   "service_unfrozen", "flip_budget_exhausted", "actuator_error",
    "tilt_entered",     "tilt_left",        "observer_impaired",     "observer_recovered",
    "alert"};

struct Config {
  std::string source_path;  // the file it was loaded from
  Observer observer;
  Admin admin;
  std::optional<Cluster> cluster;  // absent: a single observer, quorum of one
  std::vector<Endpoint> control;
  std::vector<Region> regions;
  std::vector<Service> services;
  std::vector<Notify> notify;
  std::optional<Oracle> oracle;  // absent: no oracle listener

  // Observers that vote: this one plus the configured peers.
  std::size_t observer_count() const { return 1 + (cluster ? cluster->peers.size() : 0); }
  // Votes needed to confirm a region's state.
  std::size_t quorum() const {
    if (cluster && cluster->quorum != 0) return cluster->quorum;
    return observer_count() / 2 + 1;
  }
  const Region* find_region(const core::RegionId& id) const;
  const Service* find_service(const core::ServiceId& id) const;
};

}  // namespace failoverd::config
