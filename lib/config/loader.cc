#include "config/loader.h"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "config/pem.h"
#include "config/secrets.h"
#include "config/values.h"
#include "probe/body_regex.h"

namespace failoverd::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  out += ':' + std::to_string(line) + ':' + std::to_string(column) + ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

namespace {

using Keys = std::vector<std::string_view>;

// A config of 10,000 endpoints is about 2 MB; anything far larger is a mistake or an attack.
constexpr std::size_t kMaxInputBytes = 16 * 1024 * 1024;
// toml++ recurses per dotted-key level (see deepest_dotted_key); real configs use fewer than 6.
constexpr std::size_t kMaxKeyDepth = 64;
// Past this many errors the rest is noise (one broken [probe_defaults] repeats per endpoint).
constexpr std::size_t kMaxErrors = 100;
constexpr std::size_t kMaxCollectedErrors = 10000;
constexpr std::size_t kMaxRegexLength = 1000;
constexpr std::uint32_t kMaxCount = 1000;  // rise, fall, flip_budget...

const Keys kTopKeys{"observer", "admin",   "cluster",  "probe_defaults",
                    "control",  "regions", "services", "notify", "oracle"};
const Keys kOracleKeys{"listen",          "path_secret_file",           "cert_file",
                       "key_file",        "max_connections",            "max_connections_per_source",
                       "request_timeout", "rate_limit_per_source",      "rate_limit_burst"};
const Keys kNotifyKeys{"name",       "url",         "url_file",    "ca_file",
                       "format",     "events",      "secret_file", "timeout",
                       "queue_size", "max_retries", "retry_base",  "retry_cap"};
const Keys kObserverKeys{"id",        "state_dir",   "log_format",
                         "log_level", "tilt_period", "max_loop_lag"};
const Keys kAdminKeys{"listen",         "token_file",        "tls_cert_file",        "tls_key_file",
                      "client_ca_file", "max_request_bytes", "rate_limit_per_second"};
const Keys kClusterKeys{"listen",  "quorum",    "exchange_interval", "verdict_ttl",
                        "ca_file", "cert_file", "key_file",          "peers"};
const Keys kPeerKeys{"id", "address"};
const Keys kProbeKeys{"interval", "fast_interval",   "down_interval",
                      "timeout",  "connect_timeout", "rise",
                      "fall",     "forgive_after",   "degraded_latency"};
const Keys kHttpKeys{"method",           "url",           "host_header",       "headers",
                     "expect_status",    "expect_body",   "expect_body_regex", "body_limit",
                     "follow_redirects", "max_redirects", "keepalive"};
const Keys kTlsKeys{"ca_file",     "server_name", "client_cert_file",   "client_key_file",
                    "min_version", "verify",      "cert_expiry_warning"};
const Keys kTcpKeys{"address"};
// Only the tcp prober sends a payload, reads a reply and chooses how to close; the tls prober
// stops after the handshake and the certificate check.
const Keys kTcpPayloadKeys{"send", "expect", "reset_after_connect"};
const Keys kDnsKeys{"server", "query_name", "query_type", "expect_rcode", "expect_answer", "tcp"};
const Keys kRegionKeys{"min_up", "min_up_fraction", "degraded_fraction", "endpoints"};
const Keys kServiceKeys{"policy",
                        "mode",
                        "regions",
                        "weights",
                        "degraded_weight_factor",
                        "publish",
                        "failback",
                        "failback_delay",
                        "hold_down",
                        "flip_budget",
                        "flip_window",
                        "write_budget",
                        "write_budget_window",
                        "min_targets",
                        "max_decision_age",
                        "reconcile_interval",
                        "drift",
                        "target"};
const Keys kTargetCommonKeys{"kind", "scope", "timeout"};
const Keys kRfc2136Keys{"server",
                        "zone",
                        "name",
                        "type",
                        "ttl",
                        "fence_name",
                        "tsig_key_name",
                        "tsig_algorithm",
                        "tsig_secret_file"};
const Keys kPowerDnsKeys{"api_url", "server_id", "zone",         "name",   "type",
                         "ttl",     "fence_name", "api_key_file", "ca_file"};
const Keys kHaProxyKeys{"socket", "address", "backend", "inactive_state"};
const Keys kExecKeys{"argv"};

Keys concat(std::initializer_list<const Keys*> lists) {
  Keys out;
  for (const Keys* list : lists) {
    for (std::string_view k : *list) {
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
    }
  }
  return out;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "a value";
}

// "one of "a", "b" or "c"" for enum errors.
std::string choices_text(const Keys& names) {
  std::string out = "one of ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += in_quotes(names[i]);
  }
  return out;
}

std::string range_text(std::uint64_t low, std::uint64_t high) {
  if (high == std::numeric_limits<std::uint32_t>::max()) return "at least " + std::to_string(low);
  return "between " + std::to_string(low) + " and " + std::to_string(high);
}

// Entries of a table in the order they were written, so vectors (regions, services) and the
// checks that walk them follow the file and not toml++'s sorted map.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> out;
  for (auto&& [k, v] : t) out.emplace_back(&k, &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.first->source().begin;
    const auto& y = b.first->source().begin;
    return std::pair(x.line, x.column) < std::pair(y.line, y.column);
  });
  return out;
}

template <typename E>
using Choices = std::vector<std::pair<std::string_view, E>>;

class Loader {
 public:
  Loader(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  LoadResult load(std::string_view text);

 private:
  // ---- errors ----
  void error(const toml::source_region& where, std::string key, std::string message) {
    // Bounded memory on a 16 MB file of nonsense; only the count of the rest is kept.
    if (errors_.size() >= kMaxCollectedErrors) {
      ++dropped_errors_;
      return;
    }
    errors_.push_back(
        {file_, where.begin.line, where.begin.column, std::move(key), std::move(message)});
  }
  void error(const toml::node& where, std::string key, std::string message) {
    error(where.source(), std::move(key), std::move(message));
  }

  // ---- structure ----
  void check_keys(const toml::table& t, const std::string& path, const Keys& allowed,
                  const Keys& other_kinds = {}, std::string_view kind = {});
  const toml::node* require(const toml::table& t, std::string_view key, const std::string& path);
  const toml::table* read_table(const toml::table& t, std::string_view key,
                                const std::string& path);
  const toml::array* read_array(const toml::table& t, std::string_view key,
                                const std::string& path);

  // ---- typed values: true when present and valid (then `out` is set) ----
  bool read_string(const toml::table& t, std::string_view key, const std::string& path,
                   std::string& out, bool allow_empty = false);
  bool read_duration(const toml::table& t, std::string_view key, const std::string& path,
                     Duration& out, bool allow_zero = false);
  bool read_uint(const toml::table& t, std::string_view key, const std::string& path,
                 std::uint32_t& out, std::uint32_t low, std::uint32_t high);
  bool read_size(const toml::table& t, std::string_view key, const std::string& path,
                 std::size_t& out, std::size_t low, std::size_t high);
  bool read_fraction(const toml::table& t, std::string_view key, const std::string& path,
                     double& out);
  bool read_bool(const toml::table& t, std::string_view key, const std::string& path, bool& out);
  bool read_host_port(const toml::table& t, std::string_view key, const std::string& path,
                      HostPort& out);
  bool read_strings(const toml::table& t, std::string_view key, const std::string& path,
                    std::vector<std::string>& out, bool allow_empty);
  // A file path; a relative one is resolved like secrets are, so that a certificate and its
  // key written side by side are looked up in the same place.
  bool read_path(const toml::table& t, std::string_view key, const std::string& path,
                 std::string& out);
  // What a secret file must hold beyond being private (checked so that --check-config reports
  // what start-up would refuse).
  enum class SecretKind { Opaque, Base64, TokenLines, Line, UrlLine, PemKey, LongLine };
  // A certificate or CA file: readable and holding at least one PEM certificate (config/pem.h).
  bool read_certificates(const toml::table& t, std::string_view key, const std::string& path,
                         std::string& out);
  bool read_secret(const toml::table& t, std::string_view key, const std::string& path,
                   std::string& out, SecretKind kind = SecretKind::Opaque);
  template <typename E>
  bool read_enum(const toml::table& t, std::string_view key, const std::string& path,
                 const Choices<E>& choices, E& out);

  bool duration_of(const toml::node& n, const std::string& path, Duration& out);
  std::string resolve(const std::string& written) const;
  void check_secret_file(const toml::node& n, const std::string& path, const std::string& file,
                         SecretKind kind);
  void check_state_dir(const toml::node& n, const std::string& path, const std::string& dir);

  // ---- sections ----
  void parse_observer(const toml::table& root);
  void parse_admin(const toml::table& root);
  void parse_cluster(const toml::table& root);
  void parse_oracle(const toml::table& root);
  void parse_probe_settings(const toml::table& t, const std::string& path, Endpoint& ep);
  std::optional<Endpoint> parse_endpoint(const toml::table& t, const std::string& path);
  void parse_http(const toml::table& t, const std::string& path, ProbeKind kind, HttpCheck& http);
  void parse_tls(const toml::table& t, const std::string& path, TlsSettings& tls);
  void parse_expect_status(const toml::array& a, const std::string& path,
                           std::vector<StatusRange>& out);
  void check_probe_timing(const toml::table& t, const std::string& path, const Endpoint& ep);
  void parse_control(const toml::table& root);
  void parse_regions(const toml::table& root);
  void parse_services(const toml::table& root);
  void parse_notify(const toml::table& root);
  void parse_service(const toml::key& name, const toml::table& t, const std::string& path);
  void parse_publish(const toml::table& t, const std::string& path, Service& s);
  void parse_target(const toml::table& t, const std::string& path, Target& target);
  void check_publish_values(const toml::table& service_table, const std::string& path,
                            const Service& s);
  void check_weighted_target(const toml::table& service_table, const std::string& path,
                             const Service& s);
  void note_dns_records(const toml::table& target_table, const std::string& path, const Service& s);
  void check_dns_records();
  void check_endpoint_names();
  void note_endpoint_name(const toml::node& where, const std::string& path,
                          const std::string& name);
  bool known_region(const toml::node& where, const std::string& path, const std::string& name);

  std::string file_;
  std::filesystem::path base_dir_;  // empty: secret paths as written (relative to the cwd)
  std::vector<ConfigError> errors_;
  std::size_t dropped_errors_ = 0;
  Config config_;
  Endpoint defaults_;  // [probe_defaults] over built-in defaults
  const toml::table* defaults_table_ = nullptr;
  struct EndpointName {
    std::string name;
    const toml::node* node;
    std::string path;
  };
  std::vector<EndpointName> endpoint_names_;  // every endpoint name seen, for duplicates
  // What each service on a DNS target writes (its RRset and its fence), for clashes between
  // services: recorded in file order, checked once every service is parsed.
  struct DnsRecords {
    std::string service;
    TargetKind kind;
    bool weighted;
    std::string name;  // canonical: lower case, fully qualified
    std::string type;
    std::string fence;  // canonical, the default filled in
    bool fence_default;
    const toml::node* target;      // the target table
    const toml::node* name_node;   // target.name
    const toml::node* fence_node;  // target.fence_name, nullptr when the default
    std::string path;              // services.NAME.target
  };
  std::vector<DnsRecords> dns_records_;
};

// ---------------------------------------------------------------------------------------------
// Structure

void Loader::check_keys(const toml::table& t, const std::string& path, const Keys& allowed,
                        const Keys& other_kinds, std::string_view kind) {
  for (auto&& [k, v] : t) {
    const std::string_view name = k.str();
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    if (std::find(other_kinds.begin(), other_kinds.end(), name) != other_kinds.end()) {
      error(k.source(), join(path, name),
            "'" + std::string(name) + "' does not apply to kind " + in_quotes(kind));
      continue;
    }
    std::string message = "unknown key '" + std::string(name) + "'";
    const std::string hint = closest_match(name, allowed);
    if (!hint.empty()) message += "; did you mean '" + hint + "'?";
    error(k.source(), join(path, name), message);
  }
}

const toml::node* Loader::require(const toml::table& t, std::string_view key,
                                  const std::string& path) {
  const toml::node* n = t.get(key);
  if (n == nullptr) error(t, join(path, key), "required key is missing");
  return n;
}

const toml::table* Loader::read_table(const toml::table& t, std::string_view key,
                                      const std::string& path) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) {
    error(*n, join(path, key), "expected a table, got " + std::string(type_name(*n)));
    return nullptr;
  }
  return n->as_table();
}

const toml::array* Loader::read_array(const toml::table& t, std::string_view key,
                                      const std::string& path) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_array()) {
    error(*n, join(path, key), "expected an array, got " + std::string(type_name(*n)));
    return nullptr;
  }
  return n->as_array();
}

// ---------------------------------------------------------------------------------------------
// Typed values

bool Loader::read_string(const toml::table& t, std::string_view key, const std::string& path,
                         std::string& out, bool allow_empty) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const auto* s = n->as_string();
  if (s == nullptr) {
    error(*n, join(path, key), "expected a string, got " + std::string(type_name(*n)));
    return false;
  }
  if (!allow_empty && s->get().empty()) {
    error(*n, join(path, key), "must not be empty");
    return false;
  }
  out = s->get();
  return true;
}

bool Loader::duration_of(const toml::node& n, const std::string& path, Duration& out) {
  static constexpr std::string_view kExpected = "expected a duration such as \"250ms\" or \"10s\"";
  if (const auto* s = n.as_string()) {
    if (auto d = parse_duration(s->get())) {
      out = *d;
      return true;
    }
    error(n, path, std::string(kExpected) + ", got " + in_quotes(s->get()));
    return false;
  }
  if (n.is_integer() || n.is_floating_point()) {
    std::ostringstream number;
    if (n.is_integer()) {
      number << n.as_integer()->get();
    } else {
      number << n.as_floating_point()->get();
    }
    error(n, path,
          std::string(kExpected) + ", got the bare number " + number.str() +
              " (durations need a unit: write e.g. \"10s\")");
    return false;
  }
  error(n, path, std::string(kExpected) + ", got " + std::string(type_name(n)));
  return false;
}

bool Loader::read_duration(const toml::table& t, std::string_view key, const std::string& path,
                           Duration& out, bool allow_zero) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  Duration d{};
  if (!duration_of(*n, join(path, key), d)) return false;
  if (!allow_zero && d.count() == 0) {
    error(*n, join(path, key), "must be greater than 0s");
    return false;
  }
  out = d;
  return true;
}

bool Loader::read_uint(const toml::table& t, std::string_view key, const std::string& path,
                       std::uint32_t& out, std::uint32_t low, std::uint32_t high) {
  std::size_t value = 0;
  if (!read_size(t, key, path, value, low, high)) return false;
  out = static_cast<std::uint32_t>(value);
  return true;
}

bool Loader::read_size(const toml::table& t, std::string_view key, const std::string& path,
                       std::size_t& out, std::size_t low, std::size_t high) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const auto* i = n->as_integer();
  if (i == nullptr) {
    error(*n, join(path, key), "expected an integer, got " + std::string(type_name(*n)));
    return false;
  }
  const std::int64_t v = i->get();
  if (v < 0 || static_cast<std::uint64_t>(v) < low || static_cast<std::uint64_t>(v) > high) {
    error(*n, join(path, key), "must be " + range_text(low, high) + ", got " + std::to_string(v));
    return false;
  }
  out = static_cast<std::size_t>(v);
  return true;
}

bool Loader::read_fraction(const toml::table& t, std::string_view key, const std::string& path,
                           double& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  double v = 0;
  if (const auto* f = n->as_floating_point()) {
    v = f->get();
  } else if (const auto* i = n->as_integer()) {
    v = static_cast<double>(i->get());
  } else {
    error(*n, join(path, key), "expected a number from 0 to 1, got " + std::string(type_name(*n)));
    return false;
  }
  if (!(v >= 0.0 && v <= 1.0)) {  // also rejects nan
    std::ostringstream text;
    text << v;
    error(*n, join(path, key), "must be between 0 and 1, got " + text.str());
    return false;
  }
  out = v;
  return true;
}

bool Loader::read_bool(const toml::table& t, std::string_view key, const std::string& path,
                       bool& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  const auto* b = n->as_boolean();
  if (b == nullptr) {
    error(*n, join(path, key), "expected true or false, got " + std::string(type_name(*n)));
    return false;
  }
  out = b->get();
  return true;
}

bool Loader::read_host_port(const toml::table& t, std::string_view key, const std::string& path,
                            HostPort& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  static constexpr std::string_view kExpected =
      "expected host:port such as \"127.0.0.1:53\" or \"[::1]:53\" (port 1-65535)";
  const auto* s = n->as_string();
  if (s == nullptr) {
    error(*n, join(path, key), std::string(kExpected) + ", got " + std::string(type_name(*n)));
    return false;
  }
  auto hp = parse_host_port(s->get());
  if (!hp) {
    error(*n, join(path, key), std::string(kExpected) + ", got " + in_quotes(s->get()));
    return false;
  }
  out = *hp;
  return true;
}

bool Loader::read_strings(const toml::table& t, std::string_view key, const std::string& path,
                          std::vector<std::string>& out, bool allow_empty) {
  const toml::array* a = read_array(t, key, path);
  if (a == nullptr) return false;
  const std::string here = join(path, key);
  if (a->empty() && !allow_empty) {
    error(*a, here, "must not be empty");
    return false;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const auto* s = e.as_string();
    if (s == nullptr) {
      error(e, index(here, i), "expected a string, got " + std::string(type_name(e)));
      ok = false;
    } else if (s->get().empty()) {
      error(e, index(here, i), "must not be empty");
      ok = false;
    } else {
      values.push_back(s->get());
    }
  }
  if (ok) out = std::move(values);
  return ok;
}

template <typename E>
bool Loader::read_enum(const toml::table& t, std::string_view key, const std::string& path,
                       const Choices<E>& choices, E& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  Keys names;
  for (const auto& c : choices) names.push_back(c.first);
  const auto* s = n->as_string();
  if (s != nullptr) {
    for (const auto& [name, value] : choices) {
      if (s->get() == name) {
        out = value;
        return true;
      }
    }
  }
  error(*n, join(path, key),
        "expected " + choices_text(names) + ", got " +
            (s != nullptr ? in_quotes(s->get()) : std::string(type_name(*n))));
  return false;
}

std::string Loader::resolve(const std::string& written) const {
  std::filesystem::path p(written);
  if (p.is_absolute() || base_dir_.empty()) return written;
  return (base_dir_ / p).lexically_normal().string();
}

// Secrets must exist and be private: a TSIG key or token readable by other local users lets
// them rewrite DNS or drive the admin API. Owned by this user (or root), and not in a directory
// where another user could swap it (writable by others without the sticky bit). Their contents
// are parsed here too, the same way the daemon parses them when it starts.
void Loader::check_secret_file(const toml::node& n, const std::string& path,
                               const std::string& file, SecretKind kind) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      error(n, path, "secret file " + in_quotes(file) + " does not exist");
    } else {
      error(n, path, "cannot use secret file " + in_quotes(file) + ": " + std::strerror(err));
    }
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    error(n, path, "secret file " + in_quotes(file) + " is not a regular file");
    return;
  }
  const unsigned mode = static_cast<unsigned>(st.st_mode) & 07777U;
  if ((mode & 077U) != 0) {
    error(n, path,
          "secret file " + in_quotes(file) + " has mode " + format_mode(mode) +
              ", open to group or others; run: chmod 600 " + file);
    return;
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    error(n, path,
          "secret file " + in_quotes(file) + " is owned by uid " + std::to_string(st.st_uid) +
              ", not by the user running failoverd (uid " + std::to_string(me) + ") or root");
    return;
  }
  const std::string dir = std::filesystem::path(file).parent_path().string();
  struct stat dst {};
  if (::stat(dir.empty() ? "." : dir.c_str(), &dst) == 0 && (dst.st_mode & S_IWOTH) != 0 &&
      (dst.st_mode & S_ISVTX) == 0) {
    error(n, path,
          "secret file " + in_quotes(file) + " is in " + in_quotes(dir.empty() ? "." : dir) +
              ", a directory any user can write (another user could replace the file); move it "
              "to a directory only its owner can write");
    return;
  }
  if (::access(file.c_str(), R_OK) != 0) {
    error(n, path, "secret file " + in_quotes(file) + " is not readable by this user");
    return;
  }
  if (kind == SecretKind::Opaque) return;
  constexpr std::size_t kMaxSecretBytes = 64 * 1024;
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      error(n, path, "cannot read secret file " + in_quotes(file));
      return;
    }
  }
  if (text.size() > kMaxSecretBytes) {
    error(n, path,
          "secret file " + in_quotes(file) + " is larger than " + std::to_string(kMaxSecretBytes) +
              " bytes");
    return;
  }
  if (kind == SecretKind::PemKey) {
    if (auto problem = pem_private_key_problem(text)) {
      error(n, path, "key file " + in_quotes(file) + " " + *problem);
    }
    return;
  }
  if (kind == SecretKind::Line || kind == SecretKind::UrlLine || kind == SecretKind::LongLine) {
    auto line = parse_line_secret(text);
    if (!line) {
      error(n, path, "secret file " + in_quotes(file) + " must hold one non-empty line");
    } else if (kind == SecretKind::LongLine && line->size() < kMinTokenLength) {
      error(n, path,
            "secret file " + in_quotes(file) + " must hold a line of at least " +
                std::to_string(kMinTokenLength) + " characters");
    } else if (kind == SecretKind::UrlLine) {
      const std::string_view scheme = line->starts_with("https://") ? "https" : "http";
      // The URL is a secret: the message says what is wrong, never what the file holds.
      if (auto problem = check_url(*line, scheme)) {
        error(n, path, "secret file " + in_quotes(file) + " does not hold a usable URL: " + *problem);
      }
    }
    return;
  }
  if (kind == SecretKind::Base64) {
    auto decoded = base64_decode(text);
    if (!decoded || decoded->empty()) {
      error(n, path, "secret file " + in_quotes(file) + " does not hold a base64 secret");
    }
  } else {
    std::vector<NamedToken> tokens;
    if (auto bad = parse_token_lines(text, tokens)) {
      error(n, path, "token file " + in_quotes(file) + ": " + *bad);
    }
  }
}

// The state directory holds the freezes and pins the daemon restores at start. Another user who
// can write it could plant a forged state file or a symbolic link, so it must be this user's (or
// root's) and writable by nobody else. A missing one is created (mode 0700) at start-up; then its
// nearest existing ancestor must be a directory this user can create it in.
void Loader::check_state_dir(const toml::node& n, const std::string& path, const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) {
      error(n, path, "cannot use state_dir " + in_quotes(dir) + ": " + std::strerror(errno));
      return;
    }
    std::filesystem::path up = std::filesystem::path(dir).lexically_normal();
    while (up.has_parent_path() && up.parent_path() != up) {
      up = up.parent_path();
      struct stat ust {};
      if (::stat(up.c_str(), &ust) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) continue;
        error(n, path, "cannot create state_dir " + in_quotes(dir) + ": " + up.string() + ": " +
                           std::strerror(errno));
        return;
      }
      if (!S_ISDIR(ust.st_mode)) {
        error(n, path, "cannot create state_dir " + in_quotes(dir) + ": " +
                           in_quotes(up.string()) + " is not a directory");
      } else if (::access(up.c_str(), W_OK | X_OK) != 0) {
        error(n, path, "cannot create state_dir " + in_quotes(dir) + ": " +
                           in_quotes(up.string()) + " is not writable by this user");
      }
      return;
    }
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    error(n, path, "state_dir " + in_quotes(dir) + " is not a directory");
    return;
  }
  const uid_t me = ::geteuid();
  // A symbolic link is followed only when this user or root made it: one planted by another user
  // (at a fixed path under /tmp, say) could point the daemon's writes anywhere.
  struct stat link {};
  if (::lstat(dir.c_str(), &link) == 0 && S_ISLNK(link.st_mode) && link.st_uid != me &&
      link.st_uid != 0) {
    error(n, path,
          "state_dir " + in_quotes(dir) + " is a symbolic link owned by uid " +
              std::to_string(link.st_uid) + ", not by the user running failoverd (uid " +
              std::to_string(me) + ") or root");
    return;
  }
  if (st.st_uid != me && st.st_uid != 0) {
    error(n, path,
          "state_dir " + in_quotes(dir) + " is owned by uid " + std::to_string(st.st_uid) +
              ", not by the user running failoverd (uid " + std::to_string(me) + ") or root");
    return;
  }
  // Writable by others: refused. Writable by its group: only when that group is this process's
  // own (systemd's StateDirectory=, or Kubernetes' fsGroup, which makes volume directories 2770).
  const unsigned mode = static_cast<unsigned>(st.st_mode) & 07777U;
  const bool others_write = (mode & 002U) != 0;
  const bool foreign_group_write = (mode & 020U) != 0 && st.st_gid != ::getegid();
  if (others_write || foreign_group_write) {
    error(n, path,
          "state_dir " + in_quotes(dir) + " has mode " + format_mode(mode) +
              (others_write ? ", writable by others"
                            : ", writable by group " + std::to_string(st.st_gid) +
                                  ", not failoverd's own") +
              "; run: chmod " + (others_write ? "o-w " : "g-w ") + dir);
    return;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    error(n, path, "state_dir " + in_quotes(dir) + " is not writable by this user");
  }
}

bool Loader::read_path(const toml::table& t, std::string_view key, const std::string& path,
                       std::string& out) {
  std::string written;
  if (!read_string(t, key, path, written)) return false;
  out = resolve(written);
  return true;
}

bool Loader::read_certificates(const toml::table& t, std::string_view key,
                               const std::string& path, std::string& out) {
  if (!read_path(t, key, path, out)) return false;
  const toml::node& n = *t.get(key);
  constexpr std::size_t kMaxPemBytes = 1024 * 1024;
  std::ifstream in(out, std::ios::binary);
  if (!in) {
    const int why = errno;
    std::error_code ec;
    if (!std::filesystem::exists(out, ec) && !ec) {
      error(n, join(path, key), "certificate file " + in_quotes(out) + " does not exist");
    } else {
      error(n, join(path, key), "cannot read " + in_quotes(out) + ": " + std::strerror(why));
    }
    return true;
  }
  std::string text;
  text.resize(kMaxPemBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxPemBytes) {
    error(n, join(path, key), in_quotes(out) + " is larger than 1 MiB");
  } else if (auto problem = pem_certificates_problem(text)) {
    error(n, join(path, key), in_quotes(out) + " " + *problem);
  }
  return true;
}

bool Loader::read_secret(const toml::table& t, std::string_view key, const std::string& path,
                         std::string& out, SecretKind kind) {
  std::string written;
  if (!read_string(t, key, path, written)) return false;
  out = resolve(written);
  check_secret_file(*t.get(key), join(path, key), out, kind);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Sections

void Loader::parse_observer(const toml::table& root) {
  const toml::node* node = require(root, "observer", "");
  if (node == nullptr) return;
  const toml::table* t = read_table(root, "observer", "");
  if (t == nullptr) return;
  const std::string path = "observer";
  check_keys(*t, path, kObserverKeys);
  Observer& o = config_.observer;
  std::string id;
  if (require(*t, "id", path) != nullptr && read_string(*t, "id", path, id)) {
    if (is_valid_id(id)) {
      o.id = core::ObserverId(id);
    } else {
      error(*t->get("id"), join(path, "id"),
            "must be 1 to 64 characters of [A-Za-z0-9._-], got " + in_quotes(id));
    }
  }
  if (read_string(*t, "state_dir", path, o.state_dir)) {
    check_state_dir(*t->get("state_dir"), join(path, "state_dir"), o.state_dir);
  }
  read_enum(*t, "log_format", path,
            Choices<LogFormat>{{"logfmt", LogFormat::Logfmt}, {"json", LogFormat::Json}},
            o.log_format);
  read_enum(*t, "log_level", path,
            Choices<LogLevel>{{"debug", LogLevel::Debug},
                              {"info", LogLevel::Info},
                              {"warning", LogLevel::Warning},
                              {"error", LogLevel::Error}},
            o.log_level);
  read_duration(*t, "tilt_period", path, o.tilt_period, true);
  read_duration(*t, "max_loop_lag", path, o.max_loop_lag);
}

void Loader::parse_admin(const toml::table& root) {
  const toml::table* t = read_table(root, "admin", "");
  if (t == nullptr) return;
  const std::string path = "admin";
  check_keys(*t, path, kAdminKeys);
  Admin& a = config_.admin;
  read_host_port(*t, "listen", path, a.listen);
  read_secret(*t, "token_file", path, a.token_file, SecretKind::TokenLines);
  read_certificates(*t, "tls_cert_file", path, a.tls_cert_file);
  read_secret(*t, "tls_key_file", path, a.tls_key_file, SecretKind::PemKey);
  read_certificates(*t, "client_ca_file", path, a.client_ca_file);
  if (a.tls_cert_file.empty() != a.tls_key_file.empty()) {
    const bool has_cert = !a.tls_cert_file.empty();
    error(*t->get(has_cert ? "tls_cert_file" : "tls_key_file"),
          join(path, has_cert ? "tls_cert_file" : "tls_key_file"),
          has_cert ? "needs tls_key_file as well" : "needs tls_cert_file as well");
  }
  if (!a.client_ca_file.empty() && a.tls_cert_file.empty()) {
    error(*t->get("client_ca_file"), join(path, "client_ca_file"),
          "client certificates need HTTPS: set tls_cert_file and tls_key_file");
  }
  read_size(*t, "max_request_bytes", path, a.max_request_bytes, 1024, 16 * 1024 * 1024);
  read_uint(*t, "rate_limit_per_second", path, a.rate_limit_per_second, 1, 100000);
}

void Loader::parse_oracle(const toml::table& root) {
  const toml::table* t = read_table(root, "oracle", "");
  if (t == nullptr) return;
  const std::string path = "oracle";
  check_keys(*t, path, kOracleKeys);
  Oracle o;
  if (require(*t, "listen", path) != nullptr && read_host_port(*t, "listen", path, o.listen)) {
    // Bound as given: an IPv4 or IPv6 literal, never a name to resolve.
    if (!is_ipv4(o.listen.host) && !is_ipv6(o.listen.host)) {
      error(*t->get("listen"), join(path, "listen"),
            "must be an IP address (IPv4, or IPv6 in brackets) and a port, got " +
                in_quotes(t->get("listen")->as_string()->get()));
    }
  }
  if (require(*t, "path_secret_file", path) != nullptr) {
    read_secret(*t, "path_secret_file", path, o.path_secret_file, SecretKind::LongLine);
  }
  read_certificates(*t, "cert_file", path, o.cert_file);
  read_secret(*t, "key_file", path, o.key_file, SecretKind::PemKey);
  if (o.cert_file.empty() != o.key_file.empty()) {
    const bool has_cert = !o.cert_file.empty();
    error(*t->get(has_cert ? "cert_file" : "key_file"), join(path, has_cert ? "cert_file" : "key_file"),
          has_cert ? "needs key_file as well" : "needs cert_file as well");
  }
  read_size(*t, "max_connections", path, o.max_connections, 1, 1000000);
  read_size(*t, "max_connections_per_source", path, o.max_connections_per_source, 1, 1000000);
  if (o.max_connections_per_source > o.max_connections && t->contains("max_connections_per_source")) {
    error(*t->get("max_connections_per_source"), join(path, "max_connections_per_source"),
          "must not exceed max_connections (" + std::to_string(o.max_connections) + ")");
  }
  if (read_duration(*t, "request_timeout", path, o.request_timeout) &&
      (o.request_timeout < std::chrono::milliseconds(100) || o.request_timeout > std::chrono::minutes(5))) {
    error(*t->get("request_timeout"), join(path, "request_timeout"), "must be 100ms to 5m");
  }
  read_uint(*t, "rate_limit_per_source", path, o.rate_limit_per_source, 1, 100000);
  read_uint(*t, "rate_limit_burst", path, o.rate_limit_burst, 1, 100000);
  config_.oracle = std::move(o);
}

void Loader::parse_cluster(const toml::table& root) {
  const toml::table* t = read_table(root, "cluster", "");
  if (t == nullptr) return;
  const std::string path = "cluster";
  check_keys(*t, path, kClusterKeys);
  Cluster c;
  read_host_port(*t, "listen", path, c.listen);
  const bool quorum_ok = read_uint(*t, "quorum", path, c.quorum, 0, kMaxCount);
  // Compare the two only when both are valid (written correctly or left at their default).
  bool timing_ok = true;
  if (t->contains("exchange_interval")) {
    timing_ok = read_duration(*t, "exchange_interval", path, c.exchange_interval) && timing_ok;
  }
  if (t->contains("verdict_ttl")) {
    timing_ok = read_duration(*t, "verdict_ttl", path, c.verdict_ttl) && timing_ok;
  }
  if (timing_ok && c.verdict_ttl <= c.exchange_interval) {
    const toml::node* where = t->get("verdict_ttl");
    error(where != nullptr ? *where : static_cast<const toml::node&>(*t), join(path, "verdict_ttl"),
          format_duration(c.verdict_ttl) + " must be longer than exchange_interval " +
              format_duration(c.exchange_interval) +
              ", or peers' verdicts expire between two exchanges");
  }
  read_certificates(*t, "ca_file", path, c.ca_file);
  read_certificates(*t, "cert_file", path, c.cert_file);
  read_secret(*t, "key_file", path, c.key_file, SecretKind::PemKey);

  if (const toml::array* peers = read_array(*t, "peers", path)) {
    std::map<std::string, std::uint32_t> seen;  // id -> line
    for (std::size_t i = 0; i < peers->size(); ++i) {
      const toml::node& e = *peers->get(i);
      const std::string here = index(join(path, "peers"), i);
      const toml::table* pt = e.as_table();
      if (pt == nullptr) {
        error(e, here, "expected a table ([[cluster.peers]]), got " + std::string(type_name(e)));
        continue;
      }
      check_keys(*pt, here, kPeerKeys);
      Peer peer;
      std::string id;
      if (require(*pt, "id", here) != nullptr && read_string(*pt, "id", here, id)) {
        const toml::node& id_node = *pt->get("id");
        if (!is_valid_id(id)) {
          error(id_node, join(here, "id"),
                "must be 1 to 64 characters of [A-Za-z0-9._-], got " + in_quotes(id));
        } else if (id == config_.observer.id.str()) {
          error(id_node, join(here, "id"),
                "peer " + in_quotes(id) + " is this observer's own id (observer.id)");
        } else if (auto [it, fresh] = seen.emplace(id, id_node.source().begin.line); !fresh) {
          error(id_node, join(here, "id"),
                "duplicate peer id " + in_quotes(id) + " (first at line " +
                    std::to_string(it->second) + ")");
        }
        peer.id = core::ObserverId(id);
      }
      if (require(*pt, "address", here) != nullptr)
        read_host_port(*pt, "address", here, peer.address);
      c.peers.push_back(std::move(peer));
    }
  }

  // Without peers a [cluster] is a quorum of one: these keys would do nothing.
  if (c.peers.empty()) {
    for (std::string_view key : {"quorum", "exchange_interval", "verdict_ttl"}) {
      if (const toml::node* n = t->get(key)) {
        error(*n, join(path, key),
              "applies only with [[cluster.peers]]: a single observer exchanges no verdicts");
      }
    }
  }

  // Peers exchange verdicts that can move traffic: they must authenticate each other.
  if (!c.peers.empty()) {
    for (std::string_view key : {"ca_file", "cert_file", "key_file"}) {
      if (!t->contains(key)) {
        error(*t, join(path, key), "required key is missing (peers authenticate with mTLS)");
      }
    }
  }

  const std::size_t observers = 1 + c.peers.size();
  if (quorum_ok && c.quorum != 0) {
    const toml::node& where = *t->get("quorum");
    const std::string observers_text = std::to_string(observers) + " configured observer" +
                                       (observers == 1 ? "" : "s") + " (this one and " +
                                       std::to_string(c.peers.size()) + " peer" +
                                       (c.peers.size() == 1 ? "" : "s") + ")";
    if (c.quorum > observers) {
      error(where, join(path, "quorum"),
            std::to_string(c.quorum) + " is larger than the " + observers_text +
                ": no region could ever be confirmed");
    } else if (c.quorum * 2 <= observers) {
      error(where, join(path, "quorum"),
            std::to_string(c.quorum) + " of " + observers_text +
                " is not a majority: two partitions could both act (split brain); use at least " +
                std::to_string(observers / 2 + 1) + ", or 0 for a majority");
    }
  }
  config_.cluster = std::move(c);
}

void Loader::parse_probe_settings(const toml::table& t, const std::string& path, Endpoint& ep) {
  read_duration(t, "interval", path, ep.interval);
  read_duration(t, "fast_interval", path, ep.fast_interval, true);
  read_duration(t, "down_interval", path, ep.down_interval, true);
  read_duration(t, "timeout", path, ep.timeout);
  read_duration(t, "connect_timeout", path, ep.connect_timeout, true);
  read_uint(t, "rise", path, ep.rise, 1, kMaxCount);
  read_uint(t, "fall", path, ep.fall, 1, kMaxCount);
  read_uint(t, "forgive_after", path, ep.forgive_after, 0, kMaxCount);
  read_duration(t, "degraded_latency", path, ep.degraded_latency, true);
}

// The node a probe setting came from (the endpoint, else [probe_defaults]) and its key path;
// a built-in default is reported at the endpoint's table.
struct Origin {
  const toml::node* node;
  std::string path;
};

void Loader::check_probe_timing(const toml::table& t, const std::string& path, const Endpoint& ep) {
  auto origin = [&](std::string_view key) -> Origin {
    if (const toml::node* n = t.get(key)) return {n, join(path, key)};
    if (defaults_table_ != nullptr) {
      if (const toml::node* n = defaults_table_->get(key)) return {n, join("probe_defaults", key)};
    }
    return {&t, join(path, key)};
  };
  // A probe that may outlive its interval would overlap the next one and double the load on a
  // struggling endpoint.
  if (ep.timeout > ep.interval) {
    const Origin o = origin("timeout");
    error(
        *o.node, o.path,
        format_duration(ep.timeout) + " must not exceed interval " + format_duration(ep.interval));
  }
  // A [probe_defaults] connect_timeout does not apply to dns endpoints (they have no connect).
  if (ep.kind != ProbeKind::Dns && ep.connect_timeout > ep.timeout) {
    const Origin o = origin("connect_timeout");
    error(*o.node, o.path,
          format_duration(ep.connect_timeout) + " must not exceed timeout " +
              format_duration(ep.timeout));
  }
}

void Loader::parse_expect_status(const toml::array& a, const std::string& path,
                                 std::vector<StatusRange>& out) {
  if (a.empty()) {
    error(a, path, "must not be empty");
    return;
  }
  std::vector<StatusRange> ranges;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const toml::node& e = *a.get(i);
    std::int64_t low = -1;
    std::int64_t high = -1;
    if (const auto* n = e.as_integer()) {
      low = high = n->get();
    } else if (const auto* s = e.as_string()) {
      const std::string& text = s->get();
      const std::size_t dash = text.find('-');
      auto number = [](std::string_view digits) -> std::int64_t {
        if (digits.size() != 3 || !std::all_of(digits.begin(), digits.end(),
                                               [](char c) { return c >= '0' && c <= '9'; })) {
          return -1;
        }
        return std::stoll(std::string(digits));
      };
      const std::string_view view(text);
      low = number(view.substr(0, dash));
      high = dash == std::string::npos ? low : number(view.substr(dash + 1));
    }
    if (low < 100 || high > 599 || low > high || high < 100) {
      error(e, index(path, i),
            "expected a status such as 200 or a range such as \"200-299\" within 100-599, got " +
                (e.is_string()    ? in_quotes(e.as_string()->get())
                 : e.is_integer() ? std::to_string(e.as_integer()->get())
                                  : std::string(type_name(e))));
      continue;
    }
    ranges.push_back({static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)});
  }
  if (ranges.size() == a.size()) out = std::move(ranges);
}

void Loader::parse_http(const toml::table& t, const std::string& path, ProbeKind kind,
                        HttpCheck& http) {
  const std::string_view scheme = kind == ProbeKind::Https ? "https" : "http";
  if (require(t, "url", path) != nullptr && read_string(t, "url", path, http.url)) {
    if (auto problem = check_url(http.url, scheme)) {
      error(*t.get("url"), join(path, "url"), *problem + ", got " + in_quotes(http.url));
    }
  }
  std::string method;
  if (read_string(t, "method", path, method)) {
    static const Keys kMethods{"GET", "HEAD", "POST", "OPTIONS"};
    if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
      error(*t.get("method"), join(path, "method"),
            "expected " + choices_text(kMethods) + ", got " + in_quotes(method));
    } else {
      http.method = method;
    }
  }
  read_string(t, "host_header", path, http.host_header);
  if (const toml::table* headers = read_table(t, "headers", path)) {
    for (auto&& [k, v] : *headers) {
      const std::string here = join(join(path, "headers"), k.str());
      if (const auto* s = v.as_string()) {
        http.headers[std::string(k.str())] = s->get();
      } else {
        error(v, here, "expected a string, got " + std::string(type_name(v)));
      }
    }
  }
  if (const toml::array* status = read_array(t, "expect_status", path)) {
    parse_expect_status(*status, join(path, "expect_status"), http.expect_status);
  }
  read_string(t, "expect_body", path, http.expect_body);
  // body_limit first: what a pattern may cost depends on it.
  read_size(t, "body_limit", path, http.body_limit, 1, 16 * 1024 * 1024);
  if (read_string(t, "expect_body_regex", path, http.expect_body_regex)) {
    const toml::node& where = *t.get("expect_body_regex");
    if (http.expect_body_regex.size() > kMaxRegexLength) {
      error(where, join(path, "expect_body_regex"),
            "is longer than " + std::to_string(kMaxRegexLength) + " characters");
    } else {
      // The prober compiles it the same way (probe/body_regex.h): what loads, probes.
      const probe::BodyRegexResult re =
          probe::compile_body_regex(http.expect_body_regex, http.body_limit);
      switch (re.problem) {
        case probe::BodyRegexResult::Problem::None:
          break;
        case probe::BodyRegexResult::Problem::Syntax:
          error(where, join(path, "expect_body_regex"),
                "is not a valid RE2 regular expression (RE2 syntax; no backreferences or "
                "lookaround): " +
                    re.error);
          break;
        case probe::BodyRegexResult::Problem::TooCostly:
          error(where, join(path, "expect_body_regex"), re.error);
          break;
      }
    }
  }
  read_bool(t, "follow_redirects", path, http.follow_redirects);
  read_uint(t, "max_redirects", path, http.max_redirects, 0, 20);
  read_bool(t, "keepalive", path, http.keepalive);
}

void Loader::parse_tls(const toml::table& t, const std::string& path, TlsSettings& tls) {
  read_certificates(t, "ca_file", path, tls.ca_file);
  read_string(t, "server_name", path, tls.server_name);
  read_certificates(t, "client_cert_file", path, tls.client_cert_file);
  read_secret(t, "client_key_file", path, tls.client_key_file, SecretKind::PemKey);
  if (tls.client_cert_file.empty() != tls.client_key_file.empty()) {
    const bool has_cert = !tls.client_cert_file.empty();
    const std::string_view key = has_cert ? "client_cert_file" : "client_key_file";
    error(*t.get(key), join(path, key),
          has_cert ? "needs client_key_file as well" : "needs client_cert_file as well");
  }
  read_enum(t, "min_version", path, Choices<std::string>{{"1.2", "1.2"}, {"1.3", "1.3"}},
            tls.min_version);
  read_bool(t, "verify", path, tls.verify);
  read_duration(t, "cert_expiry_warning", path, tls.cert_expiry_warning, true);
}

std::optional<Endpoint> Loader::parse_endpoint(const toml::table& t, const std::string& path) {
  static const Choices<ProbeKind> kKinds{{"http", ProbeKind::Http},
                                         {"https", ProbeKind::Https},
                                         {"tcp", ProbeKind::Tcp},
                                         {"tls", ProbeKind::Tls},
                                         {"dns", ProbeKind::Dns}};
  static const Keys kBase{"name", "kind"};
  static const Keys kAll =
      concat({&kBase, &kProbeKeys, &kHttpKeys, &kTlsKeys, &kTcpKeys, &kTcpPayloadKeys, &kDnsKeys});
  // A dns probe is one query with one deadline (timeout): it has no connect phase of its own.
  static const Keys kDnsProbeKeys = [] {
    Keys out;
    for (std::string_view k : kProbeKeys) {
      if (k != "connect_timeout") out.push_back(k);
    }
    return out;
  }();
  const std::size_t errors_before = errors_.size();
  Endpoint ep = defaults_;

  std::string name;
  if (require(t, "name", path) != nullptr && read_string(t, "name", path, name)) {
    const toml::node& where = *t.get("name");
    if (!is_valid_id(name)) {
      error(where, join(path, "name"),
            "must be 1 to 64 characters of [A-Za-z0-9._-], got " + in_quotes(name));
    } else {
      note_endpoint_name(where, join(path, "name"), name);
    }
    ep.name = core::EndpointId(name);
  }
  const bool has_kind =
      require(t, "kind", path) != nullptr && read_enum(t, "kind", path, kKinds, ep.kind);
  if (!has_kind) {
    // Without a kind no key can be said not to apply; only truly unknown keys are reported,
    // and the settings every kind shares are still checked.
    check_keys(t, path, kAll);
    parse_probe_settings(t, path, ep);
    return std::nullopt;
  }
  const Keys allowed = [&] {
    switch (ep.kind) {
      case ProbeKind::Http:
        return concat({&kBase, &kProbeKeys, &kHttpKeys});
      case ProbeKind::Https:
        return concat({&kBase, &kProbeKeys, &kHttpKeys, &kTlsKeys});
      case ProbeKind::Tcp:
        return concat({&kBase, &kProbeKeys, &kTcpKeys, &kTcpPayloadKeys});
      case ProbeKind::Tls:
        return concat({&kBase, &kProbeKeys, &kTcpKeys, &kTlsKeys});
      case ProbeKind::Dns:
        return concat({&kBase, &kDnsProbeKeys, &kDnsKeys});
    }
    return kAll;
  }();
  check_keys(t, path, allowed, kAll, t.get("kind")->as_string()->get());

  parse_probe_settings(t, path, ep);
  switch (ep.kind) {
    case ProbeKind::Http:
      parse_http(t, path, ep.kind, ep.http);
      break;
    case ProbeKind::Https:
      parse_http(t, path, ep.kind, ep.http);
      parse_tls(t, path, ep.tls);
      break;
    case ProbeKind::Tls:
      parse_tls(t, path, ep.tls);
      if (require(t, "address", path) != nullptr)
        read_host_port(t, "address", path, ep.tcp.address);
      break;
    case ProbeKind::Tcp:
      if (require(t, "address", path) != nullptr)
        read_host_port(t, "address", path, ep.tcp.address);
      read_string(t, "send", path, ep.tcp.send);
      read_string(t, "expect", path, ep.tcp.expect);
      read_bool(t, "reset_after_connect", path, ep.tcp.reset_after_connect);
      break;
    case ProbeKind::Dns: {
      if (require(t, "server", path) != nullptr) read_host_port(t, "server", path, ep.dns.server);
      if (require(t, "query_name", path) != nullptr) {
        read_string(t, "query_name", path, ep.dns.query_name);
      }
      read_enum(t, "query_type", path,
                Choices<std::string>{{"A", "A"},
                                     {"AAAA", "AAAA"},
                                     {"TXT", "TXT"},
                                     {"CNAME", "CNAME"},
                                     {"SOA", "SOA"},
                                     {"NS", "NS"},
                                     {"MX", "MX"}},
                ep.dns.query_type);
      read_enum(t, "expect_rcode", path,
                Choices<std::string>{{"NOERROR", "NOERROR"},
                                     {"NXDOMAIN", "NXDOMAIN"},
                                     {"SERVFAIL", "SERVFAIL"},
                                     {"REFUSED", "REFUSED"}},
                ep.dns.expect_rcode);
      read_strings(t, "expect_answer", path, ep.dns.expect_answer, true);
      read_bool(t, "tcp", path, ep.dns.tcp);
      break;
    }
  }
  // Timing rules only make sense when every timing value itself was valid.
  if (errors_.size() == errors_before) check_probe_timing(t, path, ep);
  return ep;
}

void Loader::note_endpoint_name(const toml::node& where, const std::string& path,
                                const std::string& name) {
  endpoint_names_.push_back({name, &where, path});
}

// Run after every section is parsed: [[control]] is read before the regions, but "first at
// line N" must point at the earlier line in the file.
void Loader::check_endpoint_names() {
  std::stable_sort(endpoint_names_.begin(), endpoint_names_.end(),
                   [](const EndpointName& a, const EndpointName& b) {
                     const auto& x = a.node->source().begin;
                     const auto& y = b.node->source().begin;
                     return std::pair(x.line, x.column) < std::pair(y.line, y.column);
                   });
  std::map<std::string, std::uint32_t> first_line;
  for (const EndpointName& e : endpoint_names_) {
    auto [it, fresh] = first_line.emplace(e.name, e.node->source().begin.line);
    if (!fresh) {
      error(*e.node, e.path,
            "duplicate endpoint name " + in_quotes(e.name) + " (first at line " +
                std::to_string(it->second) +
                "); endpoint names are global and must be unique in the whole config");
    }
  }
}

void Loader::parse_control(const toml::table& root) {
  const toml::array* control = read_array(root, "control", "");
  if (control == nullptr) return;
  for (std::size_t i = 0; i < control->size(); ++i) {
    const toml::node& e = *control->get(i);
    const std::string here = index("control", i);
    if (const toml::table* t = e.as_table()) {
      if (auto ep = parse_endpoint(*t, here)) config_.control.push_back(std::move(*ep));
    } else {
      error(e, here, "expected a table ([[control]]), got " + std::string(type_name(e)));
    }
  }
}

void Loader::parse_regions(const toml::table& root) {
  if (require(root, "regions", "") == nullptr) return;
  const toml::table* regions = read_table(root, "regions", "");
  if (regions == nullptr) return;
  if (regions->empty()) {
    error(*regions, "regions", "at least one region is required");
    return;
  }
  std::size_t count = 0;
  for (auto [key, node] : in_file_order(*regions)) {
    const std::string path = join("regions", key->str());
    if (++count == kMaxRegions + 1) {
      error(key->source(), path,
            "more than " + std::to_string(kMaxRegions) + " regions (this is region " +
                std::to_string(count) + " of " + std::to_string(regions->size()) +
                "): observers exchange one verdict per region and refuse a message with more, so "
                "no quorum could form");
    }
    Region region;
    region.name = core::RegionId(std::string(key->str()));
    if (!is_valid_id(key->str())) {
      error(key->source(), path,
            "region names must be 1 to 64 characters of [A-Za-z0-9._-], got " +
                in_quotes(key->str()));
    } else if (key->str() == kNoRegion) {
      error(key->source(), path,
            "\"none\" is reserved (failover --to none means every region off) and cannot name a "
            "region");
    }
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(*node, path, "expected a table ([" + path + "]), got " + std::string(type_name(*node)));
      continue;
    }
    check_keys(*t, path, kRegionKeys);
    const bool min_up_set = read_uint(*t, "min_up", path, region.min_up, 0, kMaxCount);
    read_fraction(*t, "min_up_fraction", path, region.min_up_fraction);
    read_fraction(*t, "degraded_fraction", path, region.degraded_fraction);
    if (region.min_up == 0 && region.min_up_fraction == 0.0) {
      error(min_up_set ? *t->get("min_up") : static_cast<const toml::node&>(*t),
            join(path, "min_up"),
            "min_up and min_up_fraction are both 0: the region could never be down");
    }
    const std::string endpoints_path = join(path, "endpoints");
    if (const toml::node* n = require(*t, "endpoints", path); n != nullptr && !n->is_array()) {
      error(*n, endpoints_path,
            "expected an array of tables ([[" + endpoints_path + "]]), got " +
                std::string(type_name(*n)));
    } else if (n != nullptr) {
      const toml::array* endpoints = n->as_array();
      if (endpoints != nullptr && endpoints->empty()) {
        error(*endpoints, endpoints_path, "a region needs at least one endpoint");
      }
      for (std::size_t i = 0; endpoints != nullptr && i < endpoints->size(); ++i) {
        const toml::node& e = *endpoints->get(i);
        const std::string here = index(endpoints_path, i);
        if (const toml::table* et = e.as_table()) {
          if (auto ep = parse_endpoint(*et, here)) region.endpoints.push_back(std::move(*ep));
        } else {
          error(e, here,
                "expected a table ([[" + endpoints_path + "]]), got " + std::string(type_name(e)));
        }
      }
      if (endpoints != nullptr && min_up_set && region.min_up > endpoints->size()) {
        error(*t->get("min_up"), join(path, "min_up"),
              std::to_string(region.min_up) + " is more than the region's " +
                  std::to_string(endpoints->size()) + " endpoint" +
                  (endpoints->size() == 1 ? "" : "s") + ": the region could never be up");
      }
    }
    config_.regions.push_back(std::move(region));
  }
}

bool Loader::known_region(const toml::node& where, const std::string& path,
                          const std::string& name) {
  if (config_.find_region(core::RegionId(name)) != nullptr) return true;
  Keys names;
  for (const Region& r : config_.regions) names.push_back(r.name.str());
  std::string message = "unknown region " + in_quotes(name);
  const std::string hint = closest_match(name, names);
  if (!hint.empty()) message += "; did you mean " + in_quotes(hint) + "?";
  error(where, path, message);
  return false;
}

void Loader::parse_services(const toml::table& root) {
  const toml::table* services = read_table(root, "services", "");
  if (services == nullptr) return;
  for (auto [key, node] : in_file_order(*services)) {
    const std::string path = join("services", key->str());
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(*node, path, "expected a table ([" + path + "]), got " + std::string(type_name(*node)));
      continue;
    }
    parse_service(*key, *t, path);
  }
}

void Loader::parse_service(const toml::key& name, const toml::table& t, const std::string& path) {
  Service s;
  s.name = core::ServiceId(std::string(name.str()));
  if (!is_valid_id(name.str())) {
    error(
        name.source(), path,
        "service names must be 1 to 64 characters of [A-Za-z0-9._-], got " + in_quotes(name.str()));
  }
  check_keys(t, path, kServiceKeys);
  read_enum(t, "policy", path,
            Choices<Policy>{{"priority", Policy::Priority}, {"weighted", Policy::Weighted}},
            s.policy);
  read_enum(t, "mode", path, Choices<Mode>{{"auto", Mode::Auto}, {"propose", Mode::Propose}},
            s.mode);

  if (const toml::array* regions = read_array(t, "regions", path)) {
    const std::string here = join(path, "regions");
    if (s.policy == Policy::Weighted) {
      error(*regions, here,
            "applies only to policy \"priority\"; a weighted service uses the regions in weights");
    }
    for (std::size_t i = 0; i < regions->size(); ++i) {
      const toml::node& e = *regions->get(i);
      const auto* r = e.as_string();
      if (r == nullptr) {
        error(e, index(here, i), "expected a region name, got " + std::string(type_name(e)));
        continue;
      }
      const core::RegionId id(r->get());
      if (!known_region(e, index(here, i), r->get())) continue;
      if (std::find(s.regions.begin(), s.regions.end(), id) != s.regions.end()) {
        error(e, index(here, i), "region " + in_quotes(r->get()) + " is listed twice");
        continue;
      }
      s.regions.push_back(id);
    }
  }
  if (s.policy == Policy::Priority && s.regions.empty() && !t.contains("regions")) {
    error(t, join(path, "regions"),
          "required key is missing: policy \"priority\" needs regions in priority order");
  } else if (s.policy == Policy::Priority && t.contains("regions") &&
             t.get("regions")->is_array() && t.get("regions")->as_array()->empty()) {
    error(*t.get("regions"), join(path, "regions"), "must not be empty");
  }

  if (const toml::table* weights = read_table(t, "weights", path)) {
    const std::string here = join(path, "weights");
    if (s.policy != Policy::Weighted) {
      error(*weights, here, "applies only to policy \"weighted\"");
    }
    std::uint64_t total = 0;
    bool all_valid = true;
    for (auto [key, node] : in_file_order(*weights)) {
      const std::string region = std::string(key->str());
      std::uint32_t weight = 0;
      if (!known_region(*node, join(here, region), region)) {
        all_valid = false;
        continue;
      }
      if (!read_uint(*weights, region, here, weight, 0, 1'000'000)) {
        all_valid = false;
        continue;
      }
      s.weights[core::RegionId(region)] = weight;
      total += weight;
    }
    if (all_valid && total == 0 && s.policy == Policy::Weighted) {
      error(*weights, here, "the total weight is 0: at least one region needs a weight above 0");
    }
  } else if (s.policy == Policy::Weighted && !t.contains("weights")) {
    error(t, join(path, "weights"),
          "required key is missing: policy \"weighted\" needs [" + join(path, "weights") + "]");
  }
  if (read_fraction(t, "degraded_weight_factor", path, s.degraded_weight_factor) &&
      s.policy != Policy::Weighted) {
    error(*t.get("degraded_weight_factor"), join(path, "degraded_weight_factor"),
          "applies only to policy \"weighted\" (under policy \"priority\" a degraded region "
          "keeps serving as it is)");
  }

  parse_publish(t, path, s);

  read_enum(t, "failback", path,
            Choices<Failback>{{"manual", Failback::Manual}, {"auto", Failback::Auto}}, s.failback);
  read_duration(t, "failback_delay", path, s.failback_delay, true);
  if (t.contains("failback_delay") && s.failback != Failback::Auto) {
    error(*t.get("failback_delay"), join(path, "failback_delay"),
          "applies only to failback = \"auto\" (with \"manual\" only an operator fails back, at "
          "once)");
  }
  read_duration(t, "hold_down", path, s.hold_down, true);
  read_uint(t, "flip_budget", path, s.flip_budget, 1, kMaxCount);
  read_duration(t, "flip_window", path, s.flip_window);
  read_uint(t, "write_budget", path, s.write_budget, 1, kMaxCount);
  read_duration(t, "write_budget_window", path, s.write_budget_window);
  read_duration(t, "max_decision_age", path, s.max_decision_age);
  read_duration(t, "reconcile_interval", path, s.reconcile_interval);
  read_enum(t, "drift", path,
            Choices<DriftAction>{{"repair", DriftAction::Repair}, {"report", DriftAction::Report}},
            s.drift);

  // The floor of the never-empty rule (below_min_targets): a region publishing fewer values
  // than min_targets can never be used.
  if (read_uint(t, "min_targets", path, s.min_targets, 1, kMaxCount) && !s.publish.empty()) {
    std::size_t most = 0;
    for (const auto& [region, values] : s.publish) most = std::max(most, values.size());
    if (s.min_targets > most) {
      error(*t.get("min_targets"), join(path, "min_targets"),
            std::to_string(s.min_targets) + " is more than any region publishes (at most " +
                std::to_string(most) + "): every answer would be refused");
    }
  }

  if (require(t, "target", path) != nullptr) {
    if (const toml::table* target = read_table(t, "target", path)) {
      const std::size_t errors_before = errors_.size();
      parse_target(*target, join(path, "target"), s.target);
      if (errors_.size() == errors_before) {
        check_publish_values(t, path, s);
        check_weighted_target(t, path, s);
        note_dns_records(*target, join(path, "target"), s);
      }
    }
  }
  config_.services.push_back(std::move(s));
}

void Loader::parse_publish(const toml::table& t, const std::string& path, Service& s) {
  const std::string here = join(path, "publish");
  if (require(t, "publish", path) == nullptr) return;
  const toml::table* publish = read_table(t, "publish", path);
  if (publish == nullptr) return;
  for (auto [key, node] : in_file_order(*publish)) {
    const std::string region = std::string(key->str());
    if (!known_region(*node, join(here, region), region)) continue;
    std::vector<std::string> values;
    if (read_strings(*publish, region, here, values, false)) {
      s.publish[core::RegionId(region)] = std::move(values);
    }
  }
  // Every region the service may route to needs an answer to publish.
  auto check_has_entry = [&](const toml::node& where, const std::string& where_path,
                             const core::RegionId& region) {
    if (!publish->contains(region.str())) {
      error(where, where_path,
            "region " + in_quotes(region.str()) + " has no publish entry (add " + here + "." +
                region.str() + " = [...])");
    }
  };
  if (s.policy == Policy::Priority) {
    if (const toml::array* regions = t.get("regions") ? t.get("regions")->as_array() : nullptr) {
      for (std::size_t i = 0; i < regions->size(); ++i) {
        const auto* r = regions->get(i)->as_string();
        if (r != nullptr && config_.find_region(core::RegionId(r->get())) != nullptr) {
          check_has_entry(*regions->get(i), index(join(path, "regions"), i),
                          core::RegionId(r->get()));
        }
      }
    }
  } else if (const toml::table* weights =
                 t.get("weights") ? t.get("weights")->as_table() : nullptr) {
    for (auto [key, node] : in_file_order(*weights)) {
      const core::RegionId region(std::string(key->str()));
      if (config_.find_region(region) != nullptr) {
        check_has_entry(*node, join(join(path, "weights"), key->str()), region);
      }
    }
  }
}

void Loader::check_publish_values(const toml::table& service_table, const std::string& path,
                                  const Service& s) {
  const toml::table* publish =
      service_table.get("publish") ? service_table.get("publish")->as_table() : nullptr;
  if (publish == nullptr) return;
  std::string type;
  if (s.target.kind == TargetKind::Rfc2136) type = s.target.rfc2136.type;
  if (s.target.kind == TargetKind::PowerDns) type = s.target.powerdns.type;
  for (auto [key, node] : in_file_order(*publish)) {
    const toml::array* values = node->as_array();
    if (values == nullptr) continue;
    const std::string here = join(join(path, "publish"), key->str());
    if (type == "CNAME" && values->size() > 1) {
      error(*values, here, "a CNAME has exactly one value, got " + std::to_string(values->size()));
    }
    for (std::size_t i = 0; i < values->size(); ++i) {
      const auto* v = values->get(i)->as_string();
      if (v == nullptr) continue;
      if (type == "A" && !is_ipv4(v->get())) {
        error(*values->get(i), index(here, i),
              "expected an IPv4 address for type \"A\", got " + in_quotes(v->get()));
      } else if (type == "AAAA" && !is_ipv6(v->get())) {
        error(*values->get(i), index(here, i),
              "expected an IPv6 address for type \"AAAA\", got " + in_quotes(v->get()));
      } else if (type == "CNAME" && !is_fqdn(v->get())) {
        error(*values->get(i), index(here, i),
              "expected a fully qualified name ending in '.', got " + in_quotes(v->get()));
      }
    }
  }
}

// The weighted policy publishes a weight for every member and compares what it reads back with
// what it wants. A target that cannot hold weights reads every member back at weight 1: the
// policy would see a difference at every step and write again, forever (and the weights would
// never be published). Which targets hold them: powerdns as a LUA pickwrandom record (types A
// and AAAA only), haproxy as server weights (1..256; plans carry 1..100), and exec hooks, which
// get value=weight in FAILOVERD_MEMBERS and read back the last plan applied. Not rfc2136: plain
// A/AAAA records carry no weight.
void Loader::check_weighted_target(const toml::table& service_table, const std::string& path,
                                   const Service& s) {
  if (s.policy != Policy::Weighted) return;
  if (s.target.kind == TargetKind::Rfc2136) {
    error(*service_table.get("policy"), join(path, "policy"),
          "\"weighted\" cannot be used with target kind \"rfc2136\": plain A/AAAA records hold "
          "no weight, so every member would read back at weight 1 and the service would write "
          "again at every step; use policy \"priority\", or a target that holds weights "
          "(powerdns, haproxy, exec)");
  } else if (s.target.kind == TargetKind::PowerDns && s.target.powerdns.type != "A" &&
             s.target.powerdns.type != "AAAA") {
    const std::string target_path = join(path, "target");
    error(*service_table.get("target")->as_table()->get("type"), join(target_path, "type"),
          "policy \"weighted\" publishes a LUA pickwrandom record, which PowerDNS serves for "
          "type \"A\" or \"AAAA\" only, got " +
              in_quotes(s.target.powerdns.type));
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string canonical_dns_name(std::string_view name) {
  std::string out = lower(name);
  if (out.empty() || out.back() != '.') out += '.';
  return out;
}

void Loader::note_dns_records(const toml::table& target_table, const std::string& path,
                              const Service& s) {
  const Target& t = s.target;
  if (t.kind != TargetKind::Rfc2136 && t.kind != TargetKind::PowerDns) return;
  const bool rfc = t.kind == TargetKind::Rfc2136;
  const std::string& name = rfc ? t.rfc2136.name : t.powerdns.name;
  const std::string& fence = rfc ? t.rfc2136.fence_name : t.powerdns.fence_name;
  DnsRecords r;
  r.service = s.name.str();
  r.kind = t.kind;
  r.weighted = s.policy == Policy::Weighted;
  r.name = canonical_dns_name(name);
  r.type = rfc ? t.rfc2136.type : t.powerdns.type;
  // The actuators' default (actuate/rfc2136.h, actuate/powerdns.h): "_failoverd." + name.
  r.fence = canonical_dns_name(fence.empty() ? "_failoverd." + name : fence);
  r.fence_default = fence.empty();
  r.target = &target_table;
  r.name_node = target_table.get("name");
  r.fence_node = target_table.get("fence_name");
  r.path = path;
  dns_records_.push_back(std::move(r));
}

// Two services that write the same fence freeze each other: each reads the other's generation
// and writer, which it never wrote. An A and an AAAA service on one name get the same default
// fence, "_failoverd." + name; the default stays as it is (an existing service's fence does not
// move under a running cluster) and the clash is a load error. Two services writing one RRset, a
// CNAME beside other data, or a weighted powerdns service (whose LUA record at the name every
// powerdns write replaces or deletes) beside another powerdns service on its name would
// overwrite each other's answer. Compared by name only, whatever the server: one config never
// needs two services with one fence.
void Loader::check_dns_records() {
  for (std::size_t j = 0; j < dns_records_.size(); ++j) {
    const DnsRecords& b = dns_records_[j];
    for (std::size_t i = 0; i < j; ++i) {
      const DnsRecords& a = dns_records_[i];
      const std::string first = "service " + in_quotes(a.service) + " (line " +
                                std::to_string(a.name_node->source().begin.line) + ")";
      if (a.name == b.name && a.type == b.type) {
        error(*b.name_node, join(b.path, "name"),
              in_quotes(b.name) + " type " + in_quotes(b.type) + " is also written by " + first +
                  ": two services would overwrite each other's answer");
        break;
      }
      if (a.name == b.name && (a.type == "CNAME" || b.type == "CNAME")) {
        error(*b.name_node, join(b.path, "name"),
              in_quotes(b.name) + " is also written by " + first + " with type " +
                  in_quotes(a.type) + ": a CNAME cannot share its name with other records");
        break;
      }
      if (a.name == b.name && a.kind == TargetKind::PowerDns && b.kind == TargetKind::PowerDns &&
          (a.weighted || b.weighted)) {
        error(*b.name_node, join(b.path, "name"),
              in_quotes(b.name) + " is also written by " + first +
                  ", and a weighted powerdns service keeps its answer in the one LUA record at "
                  "that name, which every powerdns write of the other replaces or deletes");
        break;
      }
      if (a.fence == b.fence) {
        const std::string suggestion = "_failoverd-" + lower(b.type) + "." + b.name;
        const std::string mine = b.fence_default ? "the default fence " + in_quotes(b.fence) +
                                                       " (\"_failoverd.\" + name)"
                                                 : "fence " + in_quotes(b.fence);
        error(b.fence_node != nullptr ? *b.fence_node : *b.target, join(b.path, "fence_name"),
              mine + " is also the fence of " + first +
                  ": two services on one fence freeze each other (each reads a generation it never "
                  "wrote); give this one its own fence_name, e.g. " +
                  in_quotes(suggestion));
        break;
      }
    }
  }
}

void Loader::parse_target(const toml::table& t, const std::string& path, Target& target) {
  static const Choices<TargetKind> kKinds{{"rfc2136", TargetKind::Rfc2136},
                                          {"powerdns", TargetKind::PowerDns},
                                          {"haproxy", TargetKind::HaProxy},
                                          {"exec", TargetKind::Exec}};
  static const Keys kAll =
      concat({&kTargetCommonKeys, &kRfc2136Keys, &kPowerDnsKeys, &kHaProxyKeys, &kExecKeys});
  static const Choices<std::string> kRecordTypes{
      {"A", "A"}, {"AAAA", "AAAA"}, {"CNAME", "CNAME"}, {"TXT", "TXT"}};

  if (require(t, "kind", path) == nullptr || !read_enum(t, "kind", path, kKinds, target.kind)) {
    check_keys(t, path, kAll);
    return;
  }
  const std::string kind_name = t.get("kind")->as_string()->get();
  const Keys allowed = [&] {
    switch (target.kind) {
      case TargetKind::Rfc2136:
        return concat({&kTargetCommonKeys, &kRfc2136Keys});
      case TargetKind::PowerDns:
        return concat({&kTargetCommonKeys, &kPowerDnsKeys});
      case TargetKind::HaProxy:
        return concat({&kTargetCommonKeys, &kHaProxyKeys});
      case TargetKind::Exec:
        return concat({&kTargetCommonKeys, &kExecKeys});
    }
    return kAll;
  }();
  check_keys(t, path, allowed, kAll, kind_name);

  // A DNS zone is one for everybody: its fence record is the compare-and-swap between the
  // observers. An HAProxy runtime API or an exec hook cannot store a fence; the fence is kept in
  // this observer's memory (actuate/local_fence.h), which only serializes this observer's own
  // writes, so each observer drives its own target: scope "local", the only scope they take.
  const bool fence_in_memory =
      target.kind == TargetKind::HaProxy || target.kind == TargetKind::Exec;
  target.scope = fence_in_memory ? TargetScope::Local : TargetScope::Shared;
  if (read_enum(
          t, "scope", path,
          Choices<TargetScope>{{"shared", TargetScope::Shared}, {"local", TargetScope::Local}},
          target.scope) &&
      fence_in_memory && target.scope == TargetScope::Shared) {
    error(*t.get("scope"), join(path, "scope"),
          "kind " + in_quotes(kind_name) +
              " cannot be shared: it stores no fence, so nothing would stop two observers writing "
              "it at once; each observer drives its own (scope \"local\", the default), or use a "
              "DNS target (rfc2136, powerdns) for one target shared by the cluster");
  }

  // Owner names must be fully qualified and inside the zone: the fence and the managed RRset
  // are changed in one UPDATE, which only works within one zone.
  auto check_names = [&](const std::string& zone, const std::string& name,
                         const std::string& fence) {
    if (!zone.empty() && !is_fqdn(zone)) {
      error(*t.get("zone"), join(path, "zone"),
            "expected a fully qualified zone ending in '.', got " + in_quotes(zone));
      return;
    }
    for (std::string_view key : {"name", "fence_name"}) {
      const std::string& value = key == "name" ? name : fence;
      if (value.empty()) continue;
      if (!is_fqdn(value)) {
        error(*t.get(key), join(path, key),
              "expected a fully qualified name ending in '.', got " + in_quotes(value));
      } else if (!zone.empty() && !is_in_zone(value, zone)) {
        error(*t.get(key), join(path, key),
              in_quotes(value) + " is not inside zone " + in_quotes(zone));
      }
    }
  };

  switch (target.kind) {
    case TargetKind::Rfc2136: {
      Rfc2136Target& r = target.rfc2136;
      if (require(t, "server", path) != nullptr) read_host_port(t, "server", path, r.server);
      if (require(t, "zone", path) != nullptr) read_string(t, "zone", path, r.zone);
      if (require(t, "name", path) != nullptr) read_string(t, "name", path, r.name);
      read_enum(t, "type", path, kRecordTypes, r.type);
      read_uint(t, "ttl", path, r.ttl, 1, 86400);
      read_string(t, "fence_name", path, r.fence_name);
      check_names(r.zone, r.name, r.fence_name);
      // Every update is signed; there is no unsigned mode.
      if (require(t, "tsig_key_name", path) != nullptr) {
        read_string(t, "tsig_key_name", path, r.tsig_key_name);
      }
      read_enum(t, "tsig_algorithm", path,
                Choices<std::string>{{"hmac-sha256", "hmac-sha256"},
                                     {"hmac-sha1", "hmac-sha1"},
                                     {"hmac-sha512", "hmac-sha512"}},
                r.tsig_algorithm);
      if (require(t, "tsig_secret_file", path) != nullptr) {
        read_secret(t, "tsig_secret_file", path, r.tsig_secret_file, SecretKind::Base64);
      }
      read_duration(t, "timeout", path, r.timeout);
      break;
    }
    case TargetKind::PowerDns: {
      PowerDnsTarget& p = target.powerdns;
      if (require(t, "api_url", path) != nullptr && read_string(t, "api_url", path, p.api_url)) {
        const std::string_view scheme = p.api_url.starts_with("https://") ? "https" : "http";
        if (auto problem = check_url(p.api_url, scheme)) {
          error(*t.get("api_url"), join(path, "api_url"),
                *problem + ", got " + in_quotes(p.api_url));
        }
      }
      read_string(t, "server_id", path, p.server_id);
      if (require(t, "zone", path) != nullptr) read_string(t, "zone", path, p.zone);
      if (require(t, "name", path) != nullptr) read_string(t, "name", path, p.name);
      read_enum(t, "type", path, kRecordTypes, p.type);
      read_uint(t, "ttl", path, p.ttl, 1, 86400);
      read_string(t, "fence_name", path, p.fence_name);
      check_names(p.zone, p.name, p.fence_name);
      if (require(t, "api_key_file", path) != nullptr) {
        read_secret(t, "api_key_file", path, p.api_key_file);
      }
      if (t.contains("ca_file")) {
        if (!p.api_url.starts_with("https://")) {
          error(*t.get("ca_file"), join(path, "ca_file"),
                "only used with an https:// api_url, got " + in_quotes(p.api_url));
        } else {
          read_certificates(t, "ca_file", path, p.ca_file);
        }
      }
      read_duration(t, "timeout", path, p.timeout);
      break;
    }
    case TargetKind::HaProxy: {
      HaProxyTarget& h = target.haproxy;
      const bool has_socket = read_string(t, "socket", path, h.socket);
      const bool has_address = read_host_port(t, "address", path, h.address);
      if (has_socket && has_address) {
        error(*t.get("address"), join(path, "address"), "set either socket or address, not both");
      } else if (!t.contains("socket") && !t.contains("address")) {
        error(t, join(path, "socket"),
              "required key is missing: set socket (the runtime API's UNIX socket) or address");
      }
      if (require(t, "backend", path) != nullptr) read_string(t, "backend", path, h.backend);
      read_enum(t, "inactive_state", path,
                Choices<std::string>{{"drain", "drain"}, {"maint", "maint"}}, h.inactive_state);
      read_duration(t, "timeout", path, h.timeout);
      break;
    }
    case TargetKind::Exec: {
      ExecTarget& e = target.exec;
      if (require(t, "argv", path) != nullptr && read_strings(t, "argv", path, e.argv, false)) {
        if (!e.argv.front().starts_with("/")) {
          error(*t.get("argv")->as_array()->get(0), index(join(path, "argv"), 0),
                "must be an absolute path (no shell, no PATH lookup), got " +
                    in_quotes(e.argv.front()));
        }
      }
      read_duration(t, "timeout", path, e.timeout);
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------

// [[notify]]: webhooks told of decisions and alerts (lib/notify/format.h).
void Loader::parse_notify(const toml::table& root) {
  const toml::array* list = read_array(root, "notify", "");
  if (list == nullptr) return;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::node& node = *list->get(i);
    const std::string path = index("notify", i);
    const toml::table* t = node.as_table();
    if (t == nullptr) {
      error(node, path, "expected a table ([[notify]]), got " + std::string(type_name(node)));
      continue;
    }
    check_keys(*t, path, kNotifyKeys);
    Notify n;
    if (require(*t, "name", path) != nullptr && read_string(*t, "name", path, n.name)) {
      if (!is_valid_id(n.name)) {
        error(*t->get("name"), join(path, "name"),
              "must be 1 to 64 characters of [A-Za-z0-9._-], got " + in_quotes(n.name));
      } else if (!names.insert(n.name).second) {
        error(*t->get("name"), join(path, "name"), "duplicate notify name " + in_quotes(n.name));
      }
    }
    read_enum(*t, "format", path,
              Choices<NotifyFormat>{{"json", NotifyFormat::Json},
                                    {"slack", NotifyFormat::Slack},
                                    {"pagerduty", NotifyFormat::PagerDuty}},
              n.format);
    const bool has_url = t->contains("url");
    const bool has_url_file = t->contains("url_file");
    if (has_url && has_url_file) {
      error(*t->get("url_file"), join(path, "url_file"), "set url or url_file, not both");
    } else if (!has_url && !has_url_file) {
      error(*t, join(path, "url"), "missing required key 'url' (or 'url_file')");
    }
    if (has_url && read_string(*t, "url", path, n.url)) {
      const std::string_view scheme = n.url.starts_with("https://") ? "https" : "http";
      if (auto problem = check_url(n.url, scheme)) {
        error(*t->get("url"), join(path, "url"), *problem + ", got " + in_quotes(n.url));
      }
    }
    if (has_url_file) read_secret(*t, "url_file", path, n.url_file, SecretKind::UrlLine);
    read_certificates(*t, "ca_file", path, n.ca_file);
    read_secret(*t, "secret_file", path, n.secret_file, SecretKind::Line);
    if (n.format == NotifyFormat::PagerDuty && !t->contains("secret_file")) {
      error(*t, join(path, "secret_file"),
            "format \"pagerduty\" needs secret_file (the Events v2 routing key)");
    }
    if (n.format == NotifyFormat::Slack && t->contains("secret_file")) {
      error(*t->get("secret_file"), join(path, "secret_file"),
            "format \"slack\" sends no secret; put a secret webhook URL in url_file instead");
    }
    if (const toml::array* events = read_array(*t, "events", path)) {
      const Keys kinds(std::begin(kNotifyEventKinds), std::end(kNotifyEventKinds));
      if (events->empty()) error(*events, join(path, "events"), "must name at least one event kind");
      for (std::size_t k = 0; k < events->size(); ++k) {
        const toml::node& e = *events->get(k);
        const std::string here = index(join(path, "events"), k);
        const auto* s = e.as_string();
        if (s == nullptr) {
          error(e, here, "expected a string, got " + std::string(type_name(e)));
          continue;
        }
        if (std::find(kinds.begin(), kinds.end(), s->get()) == kinds.end()) {
          std::string message = "unknown event kind " + in_quotes(s->get()) + "; expected " +
                                choices_text(kinds);
          error(e, here, message);
          continue;
        }
        n.events.push_back(s->get());
      }
    }
    read_duration(*t, "timeout", path, n.timeout);
    read_uint(*t, "queue_size", path, n.queue_size, 1, 100000);
    read_uint(*t, "max_retries", path, n.max_retries, 0, 100);
    read_duration(*t, "retry_base", path, n.retry_base);
    read_duration(*t, "retry_cap", path, n.retry_cap);
    if (n.retry_cap < n.retry_base && t->contains("retry_cap")) {
      error(*t->get("retry_cap"), join(path, "retry_cap"), "must not be shorter than retry_base");
    }
    config_.notify.push_back(std::move(n));
  }
}

LoadResult Loader::load(std::string_view text) {
  LoadResult result;
  const toml::source_region nowhere{};
  if (text.size() > kMaxInputBytes) {
    error(nowhere, "",
          "the file is " + std::to_string(text.size()) + " bytes, more than the limit of " +
              std::to_string(kMaxInputBytes));
    result.errors = std::move(errors_);
    return result;
  }
  if (const KeyDepth depth = deepest_dotted_key(text); depth.depth > kMaxKeyDepth) {
    toml::source_region where{};
    where.begin = {static_cast<toml::source_index>(depth.line), 1};
    error(where, "",
          "keys nested deeper than " + std::to_string(kMaxKeyDepth) + " levels are not supported");
    result.errors = std::move(errors_);
    return result;
  }

  toml::table root;
  try {
    root = toml::parse(text, std::string_view(file_));
  } catch (const toml::parse_error& e) {
    std::string message(e.description());
    // toml++ reports an unclosed array or inline table where it gave up, often lines later (at
    // the next table header): say where it began.
    const auto& at = e.source().begin;
    for (auto [prefix, bracket, what] :
         {std::tuple{"Error while parsing array", '[', "array"},
          std::tuple{"Error while parsing inline table", '{', "inline table"}}) {
      if (!message.starts_with(prefix)) continue;
      if (auto open = open_bracket_at(text, at.line, at.column); open && open->bracket == bracket) {
        message += std::string(" (the ") + what + " opened at line " + std::to_string(open->line) +
                   ", column " + std::to_string(open->column) + " is still open here)";
      }
    }
    error(e.source(), "", std::move(message));
    result.errors = std::move(errors_);
    return result;
  }

  check_keys(root, "", kTopKeys);
  parse_observer(root);
  parse_admin(root);
  parse_cluster(root);
  parse_oracle(root);
  if (const toml::table* defaults = read_table(root, "probe_defaults", "")) {
    defaults_table_ = defaults;
    check_keys(*defaults, "probe_defaults", kProbeKeys);
    parse_probe_settings(*defaults, "probe_defaults", defaults_);
  }
  parse_control(root);
  parse_regions(root);
  parse_services(root);
  check_dns_records();
  parse_notify(root);
  check_endpoint_names();

  // File order; one broken default repeated for every endpoint is reported once.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  std::set<std::string> seen;
  std::vector<ConfigError> unique;
  for (ConfigError& e : errors_) {
    if (seen.insert(e.to_string()).second) unique.push_back(std::move(e));
  }
  if (unique.size() > kMaxErrors || dropped_errors_ > 0) {
    const std::size_t kept = std::min(unique.size(), kMaxErrors);
    const std::size_t more = unique.size() - kept + dropped_errors_;
    unique.resize(kept);
    unique.push_back(
        {file_, 0, 0, "", "too many errors; " + std::to_string(more) + " more not shown"});
  }
  result.errors = std::move(unique);
  if (result.errors.empty()) {
    config_.source_path = file_;
    result.config = std::move(config_);
  }
  return result;
}

LoadResult failed(const std::string& file, std::string message) {
  LoadResult result;
  result.errors.push_back({file, 0, 0, "", std::move(message)});
  return result;
}

}  // namespace

LoadResult load_config_string(std::string_view toml_text, const std::string& source_name) {
  // Nothing may escape the API: an allocation failure or a library surprise becomes an error.
  try {
    return Loader(source_name, {}).load(toml_text);
  } catch (const std::exception& e) {
    return failed(source_name, std::string("internal error while loading: ") + e.what());
  }
}

LoadResult load_config_file(const std::string& path) {
  try {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return failed(path, "cannot read the config file: " + ec.message());
    if (size > kMaxInputBytes) {
      return failed(path, "the file is " + std::to_string(size) +
                              " bytes, more than the limit of " + std::to_string(kMaxInputBytes));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return failed(path, std::string("cannot open the config file: ") + std::strerror(errno));
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    text.resize(static_cast<std::size_t>(in.gcount()));
    // Secrets are resolved against the config's own directory, made absolute so that the
    // daemon finds the same files whatever its working directory is later.
    std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
    if (ec) dir = std::filesystem::path(path).parent_path();
    return Loader(path, dir).load(text);
  } catch (const std::exception& e) {
    return failed(path, std::string("internal error while loading: ") + e.what());
  }
}

}  // namespace failoverd::config
