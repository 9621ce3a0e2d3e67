#include "config/loader.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "config/values.h"
#include "support/test_ca.h"

namespace fs = std::filesystem;
using namespace failoverd::config;
using namespace std::chrono_literals;

namespace {

// A fresh directory under $TMPDIR, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "failoverd-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    REQUIRE_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, std::string_view content, fs::perms mode) {
  fs::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(path, mode, fs::perm_options::replace);
}

constexpr fs::perms kPrivate = fs::perms::owner_read | fs::perms::owner_write;
constexpr fs::perms kWorldReadable = kPrivate | fs::perms::group_read | fs::perms::others_read;

std::vector<std::string> error_strings(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// One error per line, so a failed CHECK prints both sides readably.
std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The smallest valid config the malformed cases below start from (8 lines).
constexpr std::string_view kMinimal = R"([observer]
id = "obs-a"

[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "127.0.0.1:80"
)";

// A second region and a service on an HAProxy target (no secret needed), lines 9-24.
constexpr std::string_view kWithService = R"([observer]
id = "obs-a"

[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "127.0.0.1:80"

[regions.west]
[[regions.west.endpoints]]
name = "w1"
kind = "tcp"
address = "127.0.0.1:81"

[services.www]
regions = ["east", "west"]
[services.www.publish]
east = ["srv-east"]
west = ["srv-west"]
[services.www.target]
kind = "haproxy"
socket = "/run/haproxy/admin.sock"
backend = "www"
)";

struct BadCase {
  std::string toml;
  std::vector<std::string> expected;  // exact ConfigError::to_string() values, in file order
};

std::string with(std::string_view base, std::string_view from, std::string_view to) {
  std::string text(base);
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

std::string minimal_plus(std::string_view extra) {
  return std::string(kMinimal) + std::string(extra);
}

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("durations are written with units and may be compound") {
    CHECK(parse_duration("250ms") == Duration(250ms));
    CHECK(parse_duration("10s") == Duration(10s));
    CHECK(parse_duration("5m") == Duration(5min));
    CHECK(parse_duration("1h") == Duration(1h));
    CHECK(parse_duration("14d") == Duration(14 * 24h));
    CHECK(parse_duration("1m30s") == Duration(90s));
    CHECK(parse_duration("1h2m3s4ms") == Duration(1h + 2min + 3s + 4ms));
    CHECK(parse_duration("0s") == Duration(0));

    SUBCASE("anything else is refused") {
      for (std::string_view bad :
           {"", "10", "s", "10 s", "1.5s", "-1s", "10sec", "1s1m", "1s1s", "10S", " 10s", "10s ",
            "1000000000000000000000s", "999999999d"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_duration(bad).has_value());
      }
    }
  }

  TEST_CASE("durations are printed the way they are written") {
    CHECK(format_duration(90s) == "1m30s");
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(0s) == "0s");
    CHECK(format_duration(24h + 1s) == "1d1s");
  }

  TEST_CASE("host and port pairs accept names, IPv4 and bracketed IPv6") {
    CHECK(parse_host_port("127.0.0.1:53") == HostPort{"127.0.0.1", 53});
    CHECK(parse_host_port("dns.example.net:8053") == HostPort{"dns.example.net", 8053});
    CHECK(parse_host_port("[::1]:53") == HostPort{"::1", 53});
    CHECK(parse_host_port("[2001:db8::5]:65535") == HostPort{"2001:db8::5", 65535});
    CHECK(parse_host_port("h:1") == HostPort{"h", 1});

    SUBCASE("malformed pairs and bad ports are refused") {
      for (std::string_view bad :
           {"", "127.0.0.1", "127.0.0.1:", ":53", "127.0.0.1:0", "127.0.0.1:65536",
            "127.0.0.1:99999999", "127.0.0.1:-1", "127.0.0.1:+53", "127.0.0.1:5x", "::1:53",
            "[::1]", "[::1]53", "[::1:53", "[not-v6]:53", "host name:53", "[]:53"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_host_port(bad).has_value());
      }
    }
  }

  TEST_CASE("suggestions only come from close names") {
    CHECK(edit_distance("intervall", "interval") == 1);
    CHECK(edit_distance("timeuot", "timeout") == 2);
    CHECK(edit_distance("abc", "xyzxyz") == 3);  // capped at 2 + 1
    CHECK(closest_match("intervall", {"timeout", "interval"}) == "interval");
    CHECK(closest_match("ab", {"id"}).empty());
    CHECK(closest_match("completely_different", {"interval"}).empty());
  }

  TEST_CASE("probe URLs, DNS names and ids are checked before anything runs") {
    CHECK_FALSE(check_url("http://127.0.0.1:18081/healthz", "http").has_value());
    CHECK_FALSE(check_url("https://[::1]:8443/", "https").has_value());
    CHECK_FALSE(check_url("https://example.com", "https").has_value());
    CHECK(check_url("http://example.com/", "https") ==
          "must start with \"https://\" for kind \"https\"");
    CHECK(check_url("http:///path", "http") == "has no host");
    CHECK(check_url("http://u:p@host/", "http") ==
          "must not carry credentials (user@host); use headers instead");
    CHECK(check_url("http://host:0/", "http") == "has a malformed host or port \"host:0\"");
    CHECK(check_url("http://host/a b", "http") == "must not contain spaces or control characters");

    CHECK(is_fqdn("www.example.com."));
    CHECK_FALSE(is_fqdn("www.example.com"));
    CHECK_FALSE(is_fqdn("www..example.com."));
    CHECK_FALSE(is_fqdn("."));
    CHECK(is_in_zone("www.example.com.", "example.com."));
    CHECK(is_in_zone("example.com.", "EXAMPLE.com."));
    CHECK_FALSE(is_in_zone("www.badexample.com.", "example.com."));
    CHECK_FALSE(is_in_zone("com.", "example.com."));

    CHECK(is_valid_id("obs-a.use1_2"));
    CHECK_FALSE(is_valid_id(""));
    CHECK_FALSE(is_valid_id("a b"));
    CHECK_FALSE(is_valid_id("a/b"));
    CHECK_FALSE(is_valid_id(std::string(65, 'a')));
    CHECK(format_mode(0644) == "0644");
    CHECK(format_mode(0600) == "0600");
  }

  TEST_CASE("a minimal config gets the documented defaults") {
    const LoadResult r = load_config_string(kMinimal, "t.toml");
    REQUIRE(joined(error_strings(r)) == "");
    REQUIRE(r.ok());
    const Config& c = *r.config;
    CHECK(c.source_path == "t.toml");
    CHECK(c.observer.id.str() == "obs-a");
    CHECK(c.observer.state_dir == "/var/lib/failoverd");
    CHECK(c.admin.listen == HostPort{"127.0.0.1", 8649});
    CHECK_FALSE(c.cluster.has_value());
    CHECK(c.quorum() == 1);
    REQUIRE(c.regions.size() == 1);
    CHECK(c.regions[0].min_up == 1);
    REQUIRE(c.regions[0].endpoints.size() == 1);
    const Endpoint& e = c.regions[0].endpoints[0];
    CHECK(e.kind == ProbeKind::Tcp);
    CHECK(e.tcp.address == HostPort{"127.0.0.1", 80});
    CHECK(e.interval == Duration(1s));
    CHECK(e.timeout == Duration(1s));
    CHECK(e.rise == 2);
    CHECK(e.fall == 3);
    CHECK(c.services.empty());
  }

  TEST_CASE("a full config parses into the expected values") {
    TempDir dir;
    write_file(dir.path() / "tsig.key", "c2VjcmV0\n", kPrivate);
    write_file(dir.path() / "pdns.key", "key\n", kPrivate);
    write_file(dir.path() / "tokens", "ops:0123456789abcdef\n", kPrivate);
    write_file(dir.path() / "peer.key", failoverd::testing::test_pem_private_key(), kPrivate);
    write_file(dir.path() / "ca.pem", failoverd::testing::test_pem_certificate(), kWorldReadable);
    fs::create_directories(dir.path() / "tls");
    write_file(dir.path() / "tls" / "obs-a.pem", failoverd::testing::test_pem_certificate(),
               kWorldReadable);
    std::string text = R"(
[observer]
id = "obs-a"
state_dir = "/srv/failoverd"
log_format = "json"
log_level = "debug"
tilt_period = "1m"
max_loop_lag = "250ms"

[admin]
listen = "[::1]:9000"
token_file = "tokens"
max_request_bytes = 4096
rate_limit_per_second = 10

[cluster]
listen = "10.0.0.1:8650"
exchange_interval = "500ms"
verdict_ttl = "3s"
ca_file = "@DIR@/ca.pem"
cert_file = "tls/obs-a.pem"
key_file = "peer.key"
[[cluster.peers]]
id = "obs-b"
address = "10.0.1.1:8650"
[[cluster.peers]]
id = "obs-c"
address = "peer-c.example.net:8650"

[probe_defaults]
interval = "2s"
timeout = "1s500ms"
rise = 3
fall = 4
forgive_after = 10
degraded_latency = "800ms"

[[control]]
name = "ctl-dns"
kind = "dns"
server = "9.9.9.9:53"
query_name = "example.com."
query_type = "SOA"
tcp = true

[regions.use1]
min_up = 2
min_up_fraction = 0.5
degraded_fraction = 0.75

[[regions.use1.endpoints]]
name = "use1-web"
kind = "https"
url = "https://use1.example.com/healthz"
method = "HEAD"
host_header = "www.example.com"
headers = { "X-Probe" = "failoverd" }
expect_status = ["200-299", 301, "302"]
expect_body_regex = "ok|healthy"
ca_file = "@DIR@/ca.pem"
server_name = "www.example.com"
min_version = "1.3"
cert_expiry_warning = "7d"
interval = "5s"
fast_interval = "2s"

[[regions.use1.endpoints]]
name = "use1-db"
kind = "tls"
address = "10.1.0.5:5432"
verify = false
rise = 1

[regions.euw1]
[[regions.euw1.endpoints]]
name = "euw1-tcp"
kind = "tcp"
address = "[2001:db8::1]:443"
send = "PING\r\n"
expect = "PONG"

[services.www]
policy = "priority"
mode = "propose"
regions = ["use1", "euw1"]
failback = "auto"
failback_delay = "10m"
hold_down = "2m"
flip_budget = 2
flip_window = "6h"
min_targets = 2
max_decision_age = "5s"
reconcile_interval = "1m"
drift = "report"
[services.www.publish]
use1 = ["192.0.2.10", "192.0.2.11"]
euw1 = ["198.51.100.10", "198.51.100.11"]
[services.www.target]
kind = "rfc2136"
server = "[2001:db8::53]:53"
zone = "example.com."
name = "www.example.com."
ttl = 60
tsig_key_name = "failoverd."
tsig_algorithm = "hmac-sha512"
tsig_secret_file = "@DIR@/tsig.key"

[services.api]
policy = "weighted"
degraded_weight_factor = 0.25
[services.api.weights]
use1 = 3
euw1 = 1
[services.api.publish]
use1 = ["2001:db8::10"]
euw1 = ["2001:db8::20"]
[services.api.target]
kind = "powerdns"
api_url = "http://127.0.0.1:8081"
zone = "example.com."
name = "api.example.com."
type = "AAAA"
fence_name = "_fence.api.example.com."
api_key_file = "pdns.key"

[services.lb]
regions = ["euw1"]
[services.lb.publish]
euw1 = ["be1"]
[services.lb.target]
kind = "haproxy"
address = "127.0.0.1:9999"
backend = "app"
inactive_state = "maint"

[services.hook]
regions = ["euw1", "use1"]
[services.hook.publish]
euw1 = ["x"]
use1 = ["y"]
[services.hook.target]
kind = "exec"
scope = "local"
argv = ["/usr/local/bin/route", "--apply"]
timeout = "30s"
)";
    replace_all(text, "@DIR@", dir.path().string());
    write_file(dir.path() / "failoverd.toml", text, kPrivate);
    const LoadResult r = load_config_file((dir.path() / "failoverd.toml").string());
    REQUIRE(joined(error_strings(r)) == "");
    const Config& c = *r.config;
    const std::string d = dir.path().string();

    CHECK(c.observer.log_format == LogFormat::Json);
    CHECK(c.observer.log_level == LogLevel::Debug);
    CHECK(c.observer.tilt_period == Duration(1min));
    CHECK(c.observer.max_loop_lag == Duration(250ms));
    CHECK(c.admin.listen == HostPort{"::1", 9000});
    CHECK(c.admin.token_file == d + "/tokens");  // relative: against the config's directory
    CHECK(c.admin.max_request_bytes == 4096);
    REQUIRE(c.cluster.has_value());
    CHECK(c.cluster->peers.size() == 2);
    CHECK(c.cluster->peers[1].address == HostPort{"peer-c.example.net", 8650});
    CHECK(c.cluster->key_file == d + "/peer.key");
    CHECK(c.cluster->ca_file == d + "/ca.pem");  // absolute: as written
    CHECK(c.cluster->cert_file == d + "/tls/obs-a.pem");   // relative: beside the config
    CHECK(c.observer_count() == 3);
    CHECK(c.quorum() == 2);

    REQUIRE(c.control.size() == 1);
    CHECK(c.control[0].dns.query_type == "SOA");
    CHECK(c.control[0].dns.tcp);
    CHECK(c.control[0].interval == Duration(2s));  // from [probe_defaults]

    REQUIRE(c.regions.size() == 2);
    CHECK(c.regions[0].name.str() == "use1");  // file order, not alphabetical
    CHECK(c.regions[0].min_up_fraction == doctest::Approx(0.5));
    const Endpoint& web = c.regions[0].endpoints[0];
    CHECK(web.kind == ProbeKind::Https);
    CHECK(web.interval == Duration(5s));     // its own
    CHECK(web.timeout == Duration(1500ms));  // from [probe_defaults]
    CHECK(web.fast_interval == Duration(2s));
    CHECK(web.rise == 3);
    CHECK(web.fall == 4);
    CHECK(web.forgive_after == 10);
    CHECK(web.degraded_latency == Duration(800ms));
    CHECK(web.http.method == "HEAD");
    CHECK(web.http.headers.at("X-Probe") == "failoverd");
    CHECK(web.http.expect_status == std::vector<StatusRange>{{200, 299}, {301, 301}, {302, 302}});
    CHECK(web.tls.min_version == "1.3");
    CHECK(web.tls.cert_expiry_warning == Duration(7 * 24h));
    const Endpoint& db = c.regions[0].endpoints[1];
    CHECK(db.kind == ProbeKind::Tls);
    CHECK_FALSE(db.tls.verify);
    CHECK(db.rise == 1);
    CHECK(c.regions[1].endpoints[0].tcp.address == HostPort{"2001:db8::1", 443});
    CHECK(c.regions[1].endpoints[0].tcp.send == "PING\r\n");

    REQUIRE(c.services.size() == 4);
    const Service& www = *c.find_service(failoverd::core::ServiceId("www"));
    CHECK(www.mode == Mode::Propose);
    CHECK(www.regions.size() == 2);
    CHECK(www.regions[0].str() == "use1");
    CHECK(www.failback == Failback::Auto);
    CHECK(www.failback_delay == Duration(10min));
    CHECK(www.hold_down == Duration(2min));
    CHECK(www.flip_window == Duration(6h));
    CHECK(www.min_targets == 2);
    CHECK(www.drift == DriftAction::Report);
    CHECK(www.publish.at(failoverd::core::RegionId("euw1")) ==
          std::vector<std::string>{"198.51.100.10", "198.51.100.11"});
    CHECK(www.target.kind == TargetKind::Rfc2136);
    CHECK(www.target.scope == TargetScope::Shared);
    CHECK(www.target.rfc2136.server == HostPort{"2001:db8::53", 53});
    CHECK(www.target.rfc2136.tsig_algorithm == "hmac-sha512");
    CHECK(www.target.rfc2136.ttl == 60);
    CHECK(www.target.rfc2136.tsig_secret_file == d + "/tsig.key");

    const Service& api = *c.find_service(failoverd::core::ServiceId("api"));
    CHECK(api.policy == Policy::Weighted);
    CHECK(api.weights.at(failoverd::core::RegionId("use1")) == 3);
    CHECK(api.weights.at(failoverd::core::RegionId("euw1")) == 1);
    CHECK(api.degraded_weight_factor == doctest::Approx(0.25));
    CHECK(api.target.kind == TargetKind::PowerDns);
    CHECK(api.target.powerdns.type == "AAAA");
    CHECK(api.target.powerdns.api_key_file == d + "/pdns.key");

    const Service& lb = *c.find_service(failoverd::core::ServiceId("lb"));
    CHECK(lb.target.kind == TargetKind::HaProxy);
    CHECK(lb.target.scope == TargetScope::Local);  // the default for haproxy
    CHECK(lb.target.haproxy.address == HostPort{"127.0.0.1", 9999});
    CHECK(lb.target.haproxy.inactive_state == "maint");

    const Service& hook = *c.find_service(failoverd::core::ServiceId("hook"));
    CHECK(hook.target.kind == TargetKind::Exec);
    CHECK(hook.target.scope == TargetScope::Local);
    CHECK(hook.target.exec.argv == std::vector<std::string>{"/usr/local/bin/route", "--apply"});
    CHECK(hook.target.exec.timeout == Duration(30s));
  }

  TEST_CASE("each malformed config yields exactly the expected errors") {
    // Cluster cases need a private key file; @KEY@ in the text and the expectations is its path.
    TempDir dir;
    const std::string key = (dir.path() / "peer.key").string();
    write_file(key, failoverd::testing::test_pem_private_key(), kPrivate);
    const std::string pem = (dir.path() / "peer.pem").string();
    write_file(pem, failoverd::testing::test_pem_certificate(), kWorldReadable);
    const std::string cluster_files =
        "ca_file = \"" + pem + "\"\ncert_file = \"" + pem + "\"\nkey_file = \"@KEY@\"\n";

    const std::vector<BadCase> cases = {
        // 0: TOML syntax error, reported by toml++ with its position
        {"[observer\nid = \"x\"\n",
         {"t.toml:1:10: Error while parsing table header: expected ']', saw '\\n'"}},
        // 1: no [observer] at all
        {"[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = \"tcp\"\naddress = "
         "\"127.0.0.1:80\"\n",
         {"t.toml:1:1: observer: required key is missing"}},
        // 2: observer id missing
        {with(kMinimal, "id = \"obs-a\"\n", ""),
         {"t.toml:1:1: observer.id: required key is missing"}},
        // 3: observer id with a space
        {with(kMinimal, "\"obs-a\"", "\"obs a\""),
         {"t.toml:2:6: observer.id: must be 1 to 64 characters of [A-Za-z0-9._-], got \"obs a\""}},
        // 4: unknown top-level key close to a known one
        {minimal_plus("[regoins.west]\n"),
         {"t.toml:9:2: regoins: unknown key 'regoins'; did you mean 'regions'?"}},
        // 5: unknown endpoint key with a suggestion
        {minimal_plus("intervall = \"1s\"\n"),
         {"t.toml:9:1: regions.east.endpoints[0].intervall: unknown key 'intervall'; did you mean "
          "'interval'?"}},
        // 6: unknown key with nothing close
        {minimal_plus("colour = \"blue\"\n"),
         {"t.toml:9:1: regions.east.endpoints[0].colour: unknown key 'colour'"}},
        // 7: a bare number for a duration
        {minimal_plus("interval = 10\n"),
         {"t.toml:9:12: regions.east.endpoints[0].interval: expected a duration such as \"250ms\" "
          "or \"10s\", got the bare number 10 (durations need a unit: write e.g. \"10s\")"}},
        // 8: a duration without a usable unit
        {minimal_plus("timeout = \"ten\"\n"),
         {"t.toml:9:11: regions.east.endpoints[0].timeout: expected a duration such as \"250ms\" "
          "or \"10s\", got \"ten\""}},
        // 9: timeout longer than interval
        {minimal_plus("interval = \"1s\"\ntimeout = \"2s\"\n"),
         {"t.toml:10:11: regions.east.endpoints[0].timeout: 2s must not exceed interval 1s"}},
        // 10: rise 0
        {minimal_plus("rise = 0\n"),
         {"t.toml:9:8: regions.east.endpoints[0].rise: must be between 1 and 1000, got 0"}},
        // 11: a fraction above 1
        {with(kMinimal, "[regions.east]\n", "[regions.east]\nmin_up_fraction = 1.5\n"),
         {"t.toml:5:19: regions.east.min_up_fraction: must be between 0 and 1, got 1.5"}},
        // 12: port out of range
        {with(kMinimal, "127.0.0.1:80", "127.0.0.1:70000"),
         {"t.toml:8:11: regions.east.endpoints[0].address: expected host:port such as "
          "\"127.0.0.1:53\" or \"[::1]:53\" (port 1-65535), got \"127.0.0.1:70000\""}},
        // 13: IPv6 without brackets
        {with(kMinimal, "127.0.0.1:80", "::1:80"),
         {"t.toml:8:11: regions.east.endpoints[0].address: expected host:port such as "
          "\"127.0.0.1:53\" or \"[::1]:53\" (port 1-65535), got \"::1:80\""}},
        // 14: wrong type for an integer
        {minimal_plus("fall = \"3\"\n"),
         {"t.toml:9:8: regions.east.endpoints[0].fall: expected an integer, got a string"}},
        // 15: https endpoint with an http:// URL
        {with(kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
              "kind = \"https\"\nurl = \"http://example.com/\"\n"),
         {"t.toml:8:7: regions.east.endpoints[0].url: must start with \"https://\" for kind "
          "\"https\", got \"http://example.com/\""}},
        // 16: tcp endpoint without address
        {with(kMinimal, "address = \"127.0.0.1:80\"\n", ""),
         {"t.toml:5:1: regions.east.endpoints[0].address: required key is missing"}},
        // 17: dns endpoint without server and query_name
        {with(kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n", "kind = \"dns\"\n"),
         {"t.toml:5:1: regions.east.endpoints[0].server: required key is missing",
          "t.toml:5:1: regions.east.endpoints[0].query_name: required key is missing"}},
        // 18: a key of another kind
        {minimal_plus("url = \"http://x/\"\n"),
         {"t.toml:9:1: regions.east.endpoints[0].url: 'url' does not apply to kind \"tcp\""}},
        // 19: unknown kind
        {with(kMinimal, "\"tcp\"", "\"htp\""),
         {"t.toml:7:8: regions.east.endpoints[0].kind: expected one of \"http\", \"https\", "
          "\"tcp\", \"tls\" or \"dns\", got \"htp\""}},
        // 20: bad expect_status
        {with(
             kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
             "kind = \"http\"\nurl = \"http://x/\"\nexpect_status = [\"2xx\", 200, \"300-200\"]\n"),
         {"t.toml:9:18: regions.east.endpoints[0].expect_status[0]: expected a status such as 200 "
          "or a range such as \"200-299\" within 100-599, got \"2xx\"",
          "t.toml:9:30: regions.east.endpoints[0].expect_status[2]: expected a status such as 200 "
          "or a range such as \"200-299\" within 100-599, got \"300-200\""}},
        // 21: the same endpoint name in two regions
        {with(kWithService, "name = \"w1\"", "name = \"e1\""),
         {"t.toml:12:8: regions.west.endpoints[0].name: duplicate endpoint name \"e1\" (first at "
          "line 6); endpoint names are global and must be unique in the whole config"}},
        // 22: a service naming an unknown region
        {with(kWithService, "[\"east\", \"west\"]", "[\"east\", \"wset\"]"),
         {"t.toml:17:20: services.www.regions[1]: unknown region \"wset\"; did you mean "
          "\"west\"?"}},
        // 23: weighted policy without weights
        {with(kWithService, "regions = [\"east\", \"west\"]\n", "policy = \"weighted\"\n"),
         {"t.toml:16:1: services.www.weights: required key is missing: policy \"weighted\" needs "
          "[services.www.weights]"}},
        // 24: priority policy without regions
        {with(kWithService, "regions = [\"east\", \"west\"]\n", ""),
         {"t.toml:16:1: services.www.regions: required key is missing: policy \"priority\" needs "
          "regions in priority order"}},
        // 25: a region in regions without a publish entry
        {with(kWithService, "west = [\"srv-west\"]\n", ""),
         {"t.toml:17:20: services.www.regions[1]: region \"west\" has no publish entry (add "
          "services.www.publish.west = [...])"}},
        // 26: an empty publish list
        {with(kWithService, "[\"srv-west\"]", "[]"),
         {"t.toml:20:8: services.www.publish.west: must not be empty"}},
        // 27: min_targets above what any region publishes
        {with(kWithService, "[services.www]\n", "[services.www]\nmin_targets = 2\n"),
         {"t.toml:17:15: services.www.min_targets: 2 is more than any region publishes (at most "
          "1): every answer would be refused"}},
        // 28: publish for an unknown region
        {with(kWithService, "west = [\"srv-west\"]\n", "west = [\"srv-west\"]\nnorth = [\"x\"]\n"),
         {"t.toml:21:9: services.www.publish.north: unknown region \"north\""}},
        // 29: weights that add up to zero
        {with(kWithService, "regions = [\"east\", \"west\"]\n",
              "policy = \"weighted\"\nweights = { east = 0, west = 0 }\n"),
         {"t.toml:18:11: services.www.weights: the total weight is 0: at least one region needs a "
          "weight above 0"}},
        // 30: weights with the priority policy
        {with(kWithService, "regions = [\"east\", \"west\"]\n",
              "regions = [\"east\", \"west\"]\nweights = { east = 1 }\n"),
         {"t.toml:18:11: services.www.weights: applies only to policy \"weighted\""}},
        // 31: duplicate peer ids
        {minimal_plus("[cluster]\n" + cluster_files +
                      "[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.2:8650\"\n"
                      "[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.3:8650\"\n"),
         {"t.toml:17:6: cluster.peers[1].id: duplicate peer id \"obs-b\" (first at line 14)"}},
        // 32: a peer with this observer's own id
        {minimal_plus("[cluster]\n" + cluster_files +
                      "[[cluster.peers]]\nid = \"obs-a\"\naddress = \"10.0.0.2:8650\"\n"),
         {"t.toml:14:6: cluster.peers[0].id: peer \"obs-a\" is this observer's own id "
          "(observer.id)"}},
        // 33: quorum larger than the cluster
        {minimal_plus("[cluster]\nquorum = 3\n" + cluster_files +
                      "[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.2:8650\"\n"),
         {"t.toml:10:10: cluster.quorum: 3 is larger than the 2 configured observers (this one and "
          "1 peer): no region could ever be confirmed"}},
        // 34: a quorum that allows split brain
        {minimal_plus("[cluster]\nquorum = 1\n" + cluster_files +
                      "[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.2:8650\"\n"
                      "[[cluster.peers]]\nid = \"obs-c\"\naddress = \"10.0.0.3:8650\"\n"),
         {"t.toml:10:10: cluster.quorum: 1 of 3 configured observers (this one and 2 peers) is not "
          "a majority: two partitions could both act (split brain); use at least 2, or 0 for a "
          "majority"}},
        // 35: peers without mTLS files
        {minimal_plus(
             "[cluster]\n[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.2:8650\"\n"),
         {"t.toml:9:1: cluster.ca_file: required key is missing (peers authenticate with mTLS)",
          "t.toml:9:1: cluster.cert_file: required key is missing (peers authenticate with mTLS)",
          "t.toml:9:1: cluster.key_file: required key is missing (peers authenticate with mTLS)"}},
        // 36: target without kind
        {with(kWithService, "kind = \"haproxy\"\n", ""),
         {"t.toml:21:1: services.www.target.kind: required key is missing"}},
        // 37: rfc2136 name outside its zone and a missing secret file
        {with(kWithService,
              "kind = \"haproxy\"\nsocket = \"/run/haproxy/admin.sock\"\nbackend = \"www\"\n",
              "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\nzone = \"example.com.\"\nname = "
              "\"www.example.org.\"\n"
              "tsig_key_name = \"k.\"\ntsig_secret_file = \"/nonexistent/tsig.key\"\n"),
         {"t.toml:25:8: services.www.target.name: \"www.example.org.\" is not inside zone "
          "\"example.com.\"",
          "t.toml:27:20: services.www.target.tsig_secret_file: secret file "
          "\"/nonexistent/tsig.key\" does not exist"}},
        // 38: haproxy with both socket and address
        {with(kWithService, "backend = \"www\"\n",
              "backend = \"www\"\naddress = \"127.0.0.1:9999\"\n"),
         {"t.toml:25:11: services.www.target.address: set either socket or address, not both"}},
        // 39: exec with a relative program
        {with(kWithService,
              "kind = \"haproxy\"\nsocket = \"/run/haproxy/admin.sock\"\nbackend = \"www\"\n",
              "kind = \"exec\"\nargv = [\"route.sh\"]\n"),
         {"t.toml:23:9: services.www.target.argv[0]: must be an absolute path (no shell, no PATH "
          "lookup), got \"route.sh\""}},
        // 40: type A records must publish IPv4 addresses, not server names
        {with(kWithService,
              "kind = \"haproxy\"\nsocket = \"/run/haproxy/admin.sock\"\nbackend = \"www\"\n",
              "kind = \"powerdns\"\napi_url = \"http://127.0.0.1:8081\"\nzone = \"example.com.\"\n"
              "name = \"www.example.com.\"\napi_key_file = \"@KEY@\"\n"),
         {"t.toml:19:9: services.www.publish.east[0]: expected an IPv4 address for type \"A\", got "
          "\"srv-east\"",
          "t.toml:20:9: services.www.publish.west[0]: expected an IPv4 address for type \"A\", got "
          "\"srv-west\""}},
        // 41: a regex that does not compile
        {with(kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
              "kind = \"http\"\nurl = \"http://x/\"\nexpect_body_regex = \"(ok\"\n"),
         {"t.toml:9:21: regions.east.endpoints[0].expect_body_regex: is not a valid RE2 regular "
          "expression (RE2 syntax; no backreferences or lookaround): missing ): (ok"}},
        // 42: an enum value that is not one of the choices
        {with(kMinimal, "id = \"obs-a\"\n", "id = \"obs-a\"\nlog_level = \"verbose\"\n"),
         {"t.toml:3:13: observer.log_level: expected one of \"debug\", \"info\", \"warning\" or "
          "\"error\", got \"verbose\""}},
        // 43: endpoints written as a table instead of an array of tables
        {"[observer]\nid = \"a\"\n[regions.east.endpoints]\nname = \"e1\"\n",
         {"t.toml:3:1: regions.east.endpoints: expected an array of tables "
          "([[regions.east.endpoints]]), got a table"}},
        // 44: verdict_ttl not longer than exchange_interval
        {minimal_plus("[cluster]\nexchange_interval = \"2s\"\nverdict_ttl = \"2s\"\n" + cluster_files +
                      "[[cluster.peers]]\nid = \"obs-b\"\naddress = \"10.0.0.2:8650\"\n"),
         {"t.toml:11:15: cluster.verdict_ttl: 2s must be longer than exchange_interval 2s, or "
          "peers' verdicts expire between two exchanges"}},
        // 45: min_up above the number of endpoints
        {with(kMinimal, "[regions.east]\n", "[regions.east]\nmin_up = 2\n"),
         {"t.toml:5:10: regions.east.min_up: 2 is more than the region's 1 endpoint: the region "
          "could never be up"}},
        // 46: a listen address without a port
        {"[observer]\nid = \"a\"\n[admin]\nlisten = \"localhost\"\n"
         "[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = \"tcp\"\naddress = "
         "\"h:1\"\n",
         {"t.toml:4:10: admin.listen: expected host:port such as \"127.0.0.1:53\" or \"[::1]:53\" "
          "(port 1-65535), got \"localhost\""}},
        // 47: no regions
        {"[observer]\nid = \"a\"\n", {"t.toml:1:1: regions: required key is missing"}},
        // 48: a type error on a table
        {"observer = \"a\"\n[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = "
         "\"tcp\"\naddress = \"h:1\"\n",
         {"t.toml:1:12: observer: expected a table, got a string"}},
        // 49: an endpoint without a kind still has its shared settings checked
        {with(kMinimal, "kind = \"tcp\"\n", "rise = 0\n"),
         {"t.toml:5:1: regions.east.endpoints[0].kind: required key is missing",
          "t.toml:7:8: regions.east.endpoints[0].rise: must be between 1 and 1000, got 0"}},
        // 50: a typo in [probe_defaults]
        {minimal_plus("[probe_defaults]\nriss = 2\n"),
         {"t.toml:10:1: probe_defaults.riss: unknown key 'riss'; did you mean 'rise'?"}},
        // 51: a key of another target kind
        {with(kWithService, "backend = \"www\"\n", "backend = \"www\"\nzone = \"example.com.\"\n"),
         {"t.toml:25:1: services.www.target.zone: 'zone' does not apply to kind \"haproxy\""}},
        // 52: a string where a boolean belongs
        {with(kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
              "kind = \"tls\"\naddress = \"h:443\"\nverify = \"no\"\n"),
         {"t.toml:9:10: regions.east.endpoints[0].verify: expected true or false, got a string"}},
        // 53: the same endpoint name twice in one region
        {minimal_plus(
             "[[regions.east.endpoints]]\nname = \"e1\"\nkind = \"tcp\"\naddress = \"h:2\"\n"),
         {"t.toml:10:8: regions.east.endpoints[1].name: duplicate endpoint name \"e1\" (first at "
          "line 6); endpoint names are global and must be unique in the whole config"}},
        // 54: a control endpoint reusing a region endpoint's name
        {minimal_plus("[[control]]\nname = \"e1\"\nkind = \"tcp\"\naddress = \"h:2\"\n"),
         {"t.toml:10:8: control[0].name: duplicate endpoint name \"e1\" (first at line 6); "
          "endpoint names are global and must be unique in the whole config"}},
        // 55: a bad [probe_defaults] is reported once, not once per endpoint
        {std::string(kWithService) + "[probe_defaults]\ninterval = \"1s\"\ntimeout = \"2s\"\n",
         {"t.toml:27:11: probe_defaults.timeout: 2s must not exceed interval 1s"}},
        // 56: "none" is kept for `failover --to none` (every region off, always refused)
        {"[observer]\nid = \"obs-a\"\n\n[regions.none]\n[[regions.none.endpoints]]\nname = "
         "\"e1\"\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
         {"t.toml:4:10: regions.none: \"none\" is reserved (failover --to none means every region "
          "off) and cannot name a region"}},
        // 57: the keys of a cluster without peers, which a single observer never uses
        {minimal_plus("[cluster]\nquorum = 1\nexchange_interval = \"2s\"\nverdict_ttl = \"5s\"\n"),
         {"t.toml:10:10: cluster.quorum: applies only with [[cluster.peers]]: a single observer "
          "exchanges no verdicts",
          "t.toml:11:21: cluster.exchange_interval: applies only with [[cluster.peers]]: a single "
          "observer exchanges no verdicts",
          "t.toml:12:15: cluster.verdict_ttl: applies only with [[cluster.peers]]: a single "
          "observer exchanges no verdicts"}},
        // 58: failback_delay with failback = "manual" (the default), where nothing waits for it
        {with(kWithService, "[services.www]\n", "[services.www]\nfailback_delay = \"1m\"\n"),
         {"t.toml:17:18: services.www.failback_delay: applies only to failback = \"auto\" (with "
          "\"manual\" only an operator fails back, at once)"}},
    };

    for (std::size_t i = 0; i < cases.size(); ++i) {
      std::string text = cases[i].toml;
      replace_all(text, "@KEY@", key);
      std::vector<std::string> expected = cases[i].expected;
      for (std::string& e : expected) replace_all(e, "@KEY@", key);
      CAPTURE(i);
      CAPTURE(text);
      const LoadResult r = load_config_string(text, "t.toml");
      CHECK_FALSE(r.ok());
      CHECK(joined(error_strings(r)) == joined(expected));
    }
  }

  TEST_CASE("powerdns: an https api_url loads, with an optional ca_file; ca_file needs https") {
    TempDir dir;
    write_file(dir.path() / "pdns.key", "secret\n", kPrivate);
    write_file(dir.path() / "ca.pem", failoverd::testing::test_pem_certificate(), kWorldReadable);
    write_file(dir.path() / "empty.pem", "-----BEGIN CERTIFICATE-----\n", kWorldReadable);
    const auto config = [&](std::string_view url, std::string_view extra) {
      std::string text = R"([observer]
id = "obs-a"
[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "127.0.0.1:80"
[regions.west]
[[regions.west.endpoints]]
name = "w1"
kind = "tcp"
address = "127.0.0.2:80"
[services.www]
regions = ["east", "west"]
[services.www.publish]
east = ["192.0.2.1"]
west = ["192.0.2.2"]
[services.www.target]
kind = "powerdns"
zone = "example.com."
name = "www.example.com."
api_key_file = "@DIR@/pdns.key"
api_url = ")" + std::string(url) + "\"\n" + std::string(extra);
      replace_all(text, "@DIR@", dir.path().string());
      return load_config_string(text, "t.toml");
    };
    auto r = config("https://pdns.example.com:8443/", "");
    CHECK(joined(error_strings(r)) == "");
    r = config("https://pdns.example.com:8443/", "ca_file = \"@DIR@/ca.pem\"\n");
    REQUIRE(joined(error_strings(r)) == "");
    CHECK(r.config->services[0].target.powerdns.ca_file == (dir.path() / "ca.pem").string());
    r = config("http://127.0.0.1:8081", "ca_file = \"@DIR@/ca.pem\"\n");
    CHECK(joined(error_strings(r)) ==
          joined({"t.toml:24:11: services.www.target.ca_file: only used with an https:// api_url, "
                  "got \"http://127.0.0.1:8081\""}));
    r = config("https://127.0.0.1:8443", "ca_file = \"@DIR@/missing.pem\"\n");
    CHECK(joined(error_strings(r)) ==
          joined({"t.toml:24:11: services.www.target.ca_file: certificate file \"" +
                  (dir.path() / "missing.pem").string() + "\" does not exist"}));
    r = config("https://127.0.0.1:8443", "ca_file = \"@DIR@/empty.pem\"\n");
    CHECK(joined(error_strings(r)).find("empty.pem\" holds no PEM certificate") != std::string::npos);
  }

  TEST_CASE("expect_body_regex is RE2 syntax: backreferences and lookaround are load errors") {
    const auto endpoint_with = [](std::string_view regex_line) {
      return with(kMinimal, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
                  "kind = \"http\"\nurl = \"http://x/\"\n" + std::string(regex_line) + "\n");
    };
    const std::string where = "t.toml:9:21: regions.east.endpoints[0].expect_body_regex: ";
    const std::string syntax =
        "is not a valid RE2 regular expression (RE2 syntax; no backreferences or lookaround): ";
    SUBCASE("a backreference") {
      const LoadResult r =
          load_config_string(endpoint_with(R"(expect_body_regex = '(a)\1')"), "t.toml");
      CHECK(joined(error_strings(r)) == where + syntax + "invalid escape sequence: \\1\n");
    }
    SUBCASE("a lookahead") {
      const LoadResult r =
          load_config_string(endpoint_with(R"(expect_body_regex = 'ok(?=x)')"), "t.toml");
      CHECK(joined(error_strings(r)) == where + syntax + "invalid perl operator: (?=\n");
    }
    SUBCASE("a lookbehind") {
      const LoadResult r =
          load_config_string(endpoint_with(R"(expect_body_regex = '(?<!x)ok')"), "t.toml");
      CHECK(joined(error_strings(r)) == where + syntax + "invalid perl operator: (?<\n");
    }
    SUBCASE("a pattern whose worst-case match over body_limit costs too much") {
      const LoadResult r =
          load_config_string(endpoint_with(R"(expect_body_regex = '[a-z]{1,1000}')"), "t.toml");
      CHECK(joined(error_strings(r)) ==
            where +
                "is too large for body_limit 65536: 2003 RE2 instructions, at most 256 "
                "(instructions x body_limit may be at most 16777216); simplify the pattern (a "
                "repetition {n,m} costs m times its body) or lower body_limit\n");
      // The same pattern over a smaller window is affordable.
      const LoadResult small = load_config_string(
          endpoint_with("body_limit = 4096\nexpect_body_regex = '[a-z]{1,1000}'"), "t.toml");
      CHECK(joined(error_strings(small)).empty());
    }
    SUBCASE("what RE2 accepts loads, including what the issue's crash needed") {
      for (std::string_view ok :
           {R"(ok.*)", R"(ok[a-z]*)", R"(a+$)", R"(ok(a|b)*)", R"("healthy":\s*true)",
            R"((?i)^status: (ok|up)\b)", R"(x{2,5}?y+?)", R"((?:ab)+|[^\d\s]\w)"}) {
        CAPTURE(ok);
        const LoadResult r = load_config_string(
            endpoint_with("expect_body_regex = '" + std::string(ok) + "'"), "t.toml");
        CHECK(joined(error_strings(r)).empty());
      }
    }
  }

  TEST_CASE("a config with several problems reports all of them in file order") {
    const std::string text = R"([observer]
id = "obs a"
log_format = "xml"

[probe_defaults]
interval = 5
rise = 0

[regions.east]
min_up_fraction = 2
[[regions.east.endpoints]]
name = "e1"
kind = "http"
url = "ftp://x/"
timout = "1s"

[services.www]
regions = ["east", "north"]
[services.www.publish]
east = []
[services.www.target]
kind = "haproxy"
backend = "www"
)";
    const LoadResult r = load_config_string(text, "several.toml");
    CHECK_FALSE(r.ok());
    CHECK(joined(error_strings(r)) ==
          joined({
              "several.toml:2:6: observer.id: must be 1 to 64 characters of [A-Za-z0-9._-], got "
              "\"obs a\"",
              "several.toml:3:14: observer.log_format: expected one of \"logfmt\" or \"json\", got "
              "\"xml\"",
              "several.toml:6:12: probe_defaults.interval: expected a duration such as \"250ms\" "
              "or \"10s\", got the bare number 5 (durations need a unit: write e.g. \"10s\")",
              "several.toml:7:8: probe_defaults.rise: must be between 1 and 1000, got 0",
              "several.toml:10:19: regions.east.min_up_fraction: must be between 0 and 1, got 2",
              "several.toml:14:7: regions.east.endpoints[0].url: must start with \"http://\" for "
              "kind \"http\", got \"ftp://x/\"",
              "several.toml:15:1: regions.east.endpoints[0].timout: unknown key 'timout'; did you "
              "mean 'timeout'?",
              "several.toml:18:20: services.www.regions[1]: unknown region \"north\"",
              "several.toml:20:8: services.www.publish.east: must not be empty",
              "several.toml:21:1: services.www.target.socket: required key is missing: set socket "
              "(the runtime API's UNIX socket) or address",
          }));
  }

  TEST_CASE("secret files must exist and be private to the owner") {
    TempDir dir;
    const std::string base = R"([observer]
id = "a"
[admin]
token_file = "@FILE@"
[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "h:1"
)";
    auto load_with = [&](const std::string& file) {
      std::string text = base;
      replace_all(text, "@FILE@", file);
      return load_config_string(text, "s.toml");
    };
    const std::string file = (dir.path() / "tokens").string();

    SUBCASE("mode 0600 passes") {
      write_file(file, "ops:0123456789abcdef\n", kPrivate);
      const LoadResult r = load_with(file);
      CHECK(joined(error_strings(r)) == "");
      REQUIRE(r.ok());
      CHECK(r.config->admin.token_file == file);
    }
    SUBCASE("mode 0400 passes") {
      write_file(file, "ops:0123456789abcdef\n", fs::perms::owner_read);
      CHECK(load_with(file).ok());
    }
    SUBCASE("mode 0644 is refused with the mode and the fix") {
      write_file(file, "ops:0123456789abcdef\n", kWorldReadable);
      CHECK(joined(error_strings(load_with(file))) ==
            "s.toml:4:14: admin.token_file: secret file \"" + file +
                "\" has mode 0644, open to group or others; run: chmod 600 " + file + "\n");
    }
    SUBCASE("group access alone is refused too") {
      write_file(file, "ops:0123456789abcdef\n", kPrivate | fs::perms::group_read);
      CHECK(joined(error_strings(load_with(file))) ==
            "s.toml:4:14: admin.token_file: secret file \"" + file +
                "\" has mode 0640, open to group or others; run: chmod 600 " + file + "\n");
    }
    SUBCASE("a missing file is reported") {
      CHECK(joined(error_strings(load_with(file))) ==
            "s.toml:4:14: admin.token_file: secret file \"" + file + "\" does not exist\n");
    }
    SUBCASE("a directory is not a secret file") {
      fs::create_directory(file);
      fs::permissions(file, fs::perms::owner_all, fs::perm_options::replace);
      CHECK(joined(error_strings(load_with(file))) ==
            "s.toml:4:14: admin.token_file: secret file \"" + file + "\" is not a regular file\n");
    }
    SUBCASE("from a string, a relative path is taken as written (the working directory)") {
      CHECK(joined(error_strings(load_with("no-such-dir/tokens"))) ==
            "s.toml:4:14: admin.token_file: secret file \"no-such-dir/tokens\" does not exist\n");
    }
    SUBCASE("from a file, a relative path resolves against the file's directory") {
      write_file(dir.path() / "sub" / "tokens", "ops:0123456789abcdef\n", kPrivate);
      std::string text = base;
      replace_all(text, "@FILE@", "tokens");
      write_file(dir.path() / "sub" / "failoverd.toml", text, kPrivate);
      const LoadResult r = load_config_file((dir.path() / "sub" / "failoverd.toml").string());
      REQUIRE(joined(error_strings(r)) == "");
      CHECK(r.config->admin.token_file == (dir.path() / "sub" / "tokens").string());
    }
  }

  TEST_CASE("secret files: owner, directory and contents are checked as start-up would") {
    TempDir dir;
    auto load = [&](const std::string& token_file, const std::string& tsig_file) {
      std::string text = R"([observer]
id = "a"
[admin]
token_file = "@TOKENS@"
[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "h:1"
[services.www]
regions = ["east"]
publish.east = ["192.0.2.1"]
[services.www.target]
kind = "rfc2136"
server = "127.0.0.1:53"
zone = "example.com."
name = "www.example.com."
tsig_key_name = "k."
tsig_secret_file = "@TSIG@"
)";
      replace_all(text, "@TOKENS@", token_file);
      replace_all(text, "@TSIG@", tsig_file);
      return joined(error_strings(load_config_string(text, "s.toml")));
    };
    const std::string tokens = (dir.path() / "tokens").string();
    const std::string tsig = (dir.path() / "tsig.key").string();
    write_file(tokens, "# operators\nops:0123456789abcdef\n", kPrivate);
    write_file(tsig, "c2VjcmV0\n", kPrivate);
    REQUIRE(load(tokens, tsig) == "");

    SUBCASE("a TSIG secret that is not base64 is reported, not only refused at start") {
      write_file(tsig, "not base64!\n", kPrivate);
      CHECK(load(tokens, tsig) == "s.toml:19:20: services.www.target.tsig_secret_file: secret file \"" +
                                      tsig + "\" does not hold a base64 secret\n");
    }
    SUBCASE("an empty TSIG secret is reported") {
      write_file(tsig, "\n", kPrivate);
      CHECK(load(tokens, tsig).find("does not hold a base64 secret") != std::string::npos);
    }
    SUBCASE("a token file that does not parse is reported with its line") {
      write_file(tokens, "# operators\nops:short\n", kPrivate);
      CHECK(load(tokens, tsig) == "s.toml:4:14: admin.token_file: token file \"" + tokens +
                                      "\": line 2: token for 'ops' is shorter than 16 characters\n");
    }
    SUBCASE("a secret in a directory any user can write is refused") {
      const fs::path open_dir = dir.path() / "open";
      const std::string open_tokens = (open_dir / "tokens").string();
      write_file(open_tokens, "ops:0123456789abcdef\n", kPrivate);
      fs::permissions(open_dir, fs::perms::all, fs::perm_options::replace);
      CHECK(load(open_tokens, tsig) ==
            "s.toml:4:14: admin.token_file: secret file \"" + open_tokens + "\" is in \"" +
                open_dir.string() +
                "\", a directory any user can write (another user could replace the file); move "
                "it to a directory only its owner can write\n");
      // With the sticky bit (as /tmp has) others cannot replace a file they do not own.
      fs::permissions(open_dir, fs::perms::all | fs::perms::sticky_bit, fs::perm_options::replace);
      CHECK(load(open_tokens, tsig) == "");
    }
  }

  TEST_CASE("a secret file owned by another user is refused" * doctest::skip(::geteuid() != 0)) {
    // Only root can give a file away (and only root could read another user's 0600 file).
    TempDir dir;
    const std::string tokens = (dir.path() / "tokens").string();
    write_file(tokens, "ops:0123456789abcdef\n", kPrivate);
    REQUIRE(::chown(tokens.c_str(), 65534, 65534) == 0);
    std::string text = "[observer]\nid = \"a\"\n[admin]\ntoken_file = \"" + tokens +
                       "\"\n[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = "
                       "\"tcp\"\naddress = \"h:1\"\n";
    CHECK(joined(error_strings(load_config_string(text, "s.toml"))) ==
          "s.toml:4:14: admin.token_file: secret file \"" + tokens +
              "\" is owned by uid 65534, not by the user running failoverd (uid 0) or root\n");
  }

  TEST_CASE("state_dir: --check-config refuses what start-up cannot use") {
    TempDir dir;
    auto load = [&](const std::string& state_dir) {
      std::string text = "[observer]\nid = \"a\"\nstate_dir = \"" + state_dir +
                         "\"\n[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = "
                         "\"tcp\"\naddress = \"h:1\"\n";
      return joined(error_strings(load_config_string(text, "s.toml")));
    };
    const std::string mine = (dir.path() / "state").string();
    SUBCASE("a private directory of this user passes, and so does one still to be made") {
      CHECK(load(mine) == "");
      fs::create_directory(mine);
      fs::permissions(mine, fs::perms::owner_all, fs::perm_options::replace);
      CHECK(load(mine) == "");
      CHECK(load(mine + "/deeper/still") == "");
    }
    SUBCASE("a regular file is not a state directory") {
      write_file(mine, "x", kPrivate);
      CHECK(load(mine) == "s.toml:3:13: observer.state_dir: state_dir \"" + mine +
                              "\" is not a directory\n");
      CHECK(load(mine + "/sub") == "s.toml:3:13: observer.state_dir: cannot create state_dir \"" +
                                       mine + "/sub\": \"" + mine + "\" is not a directory\n");
    }
    SUBCASE("/dev/null is not a state directory") {
      CHECK(load("/dev/null") ==
            "s.toml:3:13: observer.state_dir: state_dir \"/dev/null\" is not a directory\n");
    }
    SUBCASE("a directory others can write is refused (they could plant a state file or a link)") {
      fs::create_directory(mine);
      fs::permissions(mine, fs::perms::all, fs::perm_options::replace);
      CHECK(load(mine) == "s.toml:3:13: observer.state_dir: state_dir \"" + mine +
                              "\" has mode 0777, writable by others; run: chmod o-w " + mine +
                              "\n");
    }
    SUBCASE("group write is fine when the group is failoverd's own (StateDirectory=, fsGroup)") {
      fs::create_directory(mine);
      REQUIRE(::chown(mine.c_str(), ::geteuid(), ::getegid()) == 0);
      fs::permissions(mine, fs::perms::owner_all | fs::perms::group_all | fs::perms::set_gid,
                      fs::perm_options::replace);
      CHECK(load(mine) == "");
    }
  }

  TEST_CASE("a state_dir owned by another user is refused" * doctest::skip(::geteuid() != 0)) {
    TempDir dir;
    const std::string theirs = (dir.path() / "state").string();
    fs::create_directory(theirs);
    fs::permissions(theirs, fs::perms::owner_all, fs::perm_options::replace);
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    std::string text = "[observer]\nid = \"a\"\nstate_dir = \"" + theirs +
                       "\"\n[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind = "
                       "\"tcp\"\naddress = \"h:1\"\n";
    CHECK(joined(error_strings(load_config_string(text, "s.toml"))) ==
          "s.toml:3:13: observer.state_dir: state_dir \"" + theirs +
              "\" is owned by uid 65534, not by the user running failoverd (uid 0) or root\n");
    // Ours, but writable by a group that is not ours.
    REQUIRE(::chown(theirs.c_str(), 0, 65534) == 0);
    fs::permissions(theirs, fs::perms::owner_all | fs::perms::group_all, fs::perm_options::replace);
    CHECK(joined(error_strings(load_config_string(text, "s.toml"))) ==
          "s.toml:3:13: observer.state_dir: state_dir \"" + theirs +
              "\" has mode 0770, writable by group 65534, not failoverd's own; run: chmod g-w " +
              theirs + "\n");
    // A link planted by another user is not followed, even to a good directory.
    const std::string good = (dir.path() / "good").string();
    fs::create_directory(good);
    fs::permissions(good, fs::perms::owner_all, fs::perm_options::replace);
    const std::string link = (dir.path() / "planted").string();
    fs::create_symlink(good, link);
    REQUIRE(::lchown(link.c_str(), 65534, 65534) == 0);
    replace_all(text, theirs, link);
    CHECK(joined(error_strings(load_config_string(text, "s.toml"))) ==
          "s.toml:3:13: observer.state_dir: state_dir \"" + link +
              "\" is a symbolic link owned by uid 65534, not by the user running failoverd (uid "
              "0) or root\n");
  }

  TEST_CASE("a config file that cannot be read is one error, not an exception") {
    const LoadResult r = load_config_file("/nonexistent/failoverd.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK_FALSE(r.ok());
    CHECK(r.errors[0].file == "/nonexistent/failoverd.toml");
    CHECK(r.errors[0].line == 0);
  }

  TEST_CASE("hostile inputs give errors, never a crash") {
    SUBCASE("deeply dotted keys are refused before toml++ recurses on them") {
      std::string deep = "[observer]\nid = \"a\"\n";
      for (int i = 0; i < 100000; ++i) deep += "a.";
      deep += "b = 1\n";
      CHECK(joined(error_strings(load_config_string(deep, "d.toml"))) ==
            "d.toml:3:1: keys nested deeper than 64 levels are not supported\n");
    }
    SUBCASE("so are deeply dotted keys inside an inline table") {
      std::string deep = "[observer]\nid = \"a\"\nx = [1.5, 2.5, { ";
      for (int i = 0; i < 1000000; ++i) deep += "a.";
      deep += "b = 1 }]\n";
      CHECK(joined(error_strings(load_config_string(deep, "d.toml"))) ==
            "d.toml:3:1: keys nested deeper than 64 levels are not supported\n");
    }
    SUBCASE("the depth scan counts key parts, not dots in values") {
      CHECK(deepest_dotted_key("a.b.c = { d.e = 1, f.g = [1.5, {h.i = 2}] }\n").depth == 5);
      CHECK(deepest_dotted_key("[[regions.east.endpoints]] # a.b.c\n").depth == 2);
      CHECK(deepest_dotted_key("x = \"a.b.c\"\ny = [1.5, 2.5, 3.5]\n").depth == 0);
      CHECK(deepest_dotted_key("\"q.u.o.t.e.d\".k = 1\n").depth == 1);
      const KeyDepth worst = deepest_dotted_key("a = 1\nb.c.d = 2\ne.f = 3\n");
      CHECK(worst.line == 2);
      CHECK(worst.depth == 2);
    }
    SUBCASE("deeply nested arrays hit toml++'s own limit") {
      const std::string deep = "a = " + std::string(100000, '[');
      const LoadResult r = load_config_string(deep, "d.toml");
      REQUIRE(r.errors.size() == 1);
      CHECK(r.errors[0].message.find("nested") != std::string::npos);
    }
    SUBCASE("oversized input is refused without parsing") {
      const std::string huge(17 * 1024 * 1024, '#');
      CHECK(joined(error_strings(load_config_string(huge, "h.toml"))) ==
            "h.toml:0:0: the file is 17825792 bytes, more than the limit of 16777216\n");
    }
    SUBCASE("NUL bytes and invalid UTF-8") {
      CHECK_FALSE(
          load_config_string(std::string("[observer]\nid = \"a\0b\"\n", 22), "n.toml").ok());
      CHECK_FALSE(load_config_string("[observer]\nid = \"\xff\xfe\"\n", "n.toml").ok());
    }
    SUBCASE("every prefix and many mutations of the demo config") {
      std::ifstream in(FAILOVERD_SOURCE_DIR "/config/demo.toml", std::ios::binary);
      const std::string demo((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      REQUIRE(demo.size() > 1000);
      for (std::size_t cut = 0; cut < demo.size(); cut += 3) {
        const LoadResult r = load_config_string(demo.substr(0, cut), "p.toml");
        CHECK(r.ok() == r.errors.empty());
      }
      // A fixed linear congruential sequence: the same mutations on every run.
      std::uint32_t seed = 12345;
      auto next = [&seed] {
        seed = seed * 1664525U + 1013904223U;
        return seed >> 8;
      };
      static constexpr std::string_view kBytes = "[]{}=\".,#\n 0123456789-:_ax\\'";
      for (int round = 0; round < 1500; ++round) {
        std::string text = demo;
        for (int edits = 1 + static_cast<int>(next() % 4); edits > 0; --edits) {
          text[next() % text.size()] = kBytes[next() % kBytes.size()];
        }
        const LoadResult r = load_config_string(text, "m.toml");
        CHECK(r.ok() == r.errors.empty());
      }
    }
  }

  TEST_CASE("past 100 errors the rest is summarised in one line") {
    std::string text(kMinimal);
    for (int i = 0; i < 150; ++i) text += "unknown_" + std::to_string(i) + " = 1\n";
    const LoadResult r = load_config_string(text, "many.toml");
    REQUIRE(r.errors.size() == 101);
    CHECK(r.errors[0].to_string() ==
          "many.toml:9:1: regions.east.endpoints[0].unknown_0: unknown key 'unknown_0'");
    CHECK(r.errors[100].to_string() == "many.toml:0:0: too many errors; 50 more not shown");

    SUBCASE("and memory stays bounded on a file of nothing but errors") {
      std::string flood(kMinimal);
      for (int i = 0; i < 20000; ++i) flood += "k" + std::to_string(i) + " = 1\n";
      const LoadResult f = load_config_string(flood, "flood.toml");
      REQUIRE(f.errors.size() == 101);
      CHECK(f.errors[100].to_string() == "flood.toml:0:0: too many errors; 19900 more not shown");
    }
  }

  TEST_CASE("every example config in config/ loads without errors") {
    // Example configs reference their secrets where a packaged install keeps them
    // (/etc/failoverd/...), and the demo ships its TSIG key beside it without mode 0600 (git
    // does not keep modes). So each example is checked in a temp copy: files in config/ are
    // copied and chmod 600, "/etc/failoverd/" is rewritten to a temp etc folder, and every
    // file named under it is created there as a 0600 dummy. The loader itself is unchanged.
    TempDir dir;
    const fs::path source = fs::path(FAILOVERD_SOURCE_DIR) / "config";
    const fs::path etc = dir.path() / "etc" / "failoverd";
    std::vector<fs::path> examples;
    for (const auto& entry : fs::directory_iterator(source)) {
      if (!entry.is_regular_file()) continue;
      const fs::path copy = dir.path() / "config" / entry.path().filename();
      fs::create_directories(copy.parent_path());
      fs::copy_file(entry.path(), copy);
      fs::permissions(copy, kPrivate, fs::perm_options::replace);
      const std::string name = entry.path().filename().string();
      if (entry.path().extension() == ".toml" && !name.starts_with("scenario-")) {
        examples.push_back(copy);
      }
    }
    REQUIRE(examples.size() >= 3);
    for (const fs::path& example : examples) {
      CAPTURE(example.filename().string());
      std::ifstream in(example, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (std::size_t at = text.find("\"/etc/failoverd/"); at != std::string::npos;
           at = text.find("\"/etc/failoverd/", at + 1)) {
        const std::size_t end = text.find('"', at + 1);
        const std::string relative = text.substr(at + 16, end - at - 16);
        // Contents the loader accepts for that kind of file: token lines, PEM, or base64.
        const bool tokens = relative.find("token") != std::string::npos;
        const bool long_line = relative.find("oracle-path-secret") != std::string::npos;
        const bool pem_key = relative.starts_with("tls/") && relative.ends_with(".key");
        const bool pem = pem_key || relative.ends_with(".pem") || relative.ends_with(".crt");
        write_file(etc / relative,
                   pem_key  ? failoverd::testing::test_pem_private_key()
                   : pem    ? failoverd::testing::test_pem_certificate()
                   : tokens ? std::string("ops:0123456789abcdef\n")
                   : long_line ? std::string("0123456789abcdef-oracle\n")
                            : std::string("ZHVtbXk=\n"),
                   kPrivate);
      }
      replace_all(text, "\"/etc/failoverd/", "\"" + etc.string() + "/");
      write_file(example, text, kPrivate);
      const LoadResult r = load_config_file(example.string());
      CHECK(joined(error_strings(r)) == "");
      CHECK(r.ok());
    }
  }

  TEST_CASE("the demo config holds what the demo script expects") {
    TempDir dir;
    const fs::path source = fs::path(FAILOVERD_SOURCE_DIR) / "config";
    fs::copy_file(source / "demo.toml", dir.path() / "demo.toml");
    for (const char* secret : {"demo-tsig.key", "demo-admin.token"}) {
      fs::copy_file(source / secret, dir.path() / secret);
      fs::permissions(dir.path() / secret, kPrivate, fs::perm_options::replace);
    }
    const LoadResult r = load_config_file((dir.path() / "demo.toml").string());
    REQUIRE(joined(error_strings(r)) == "");
    const Config& c = *r.config;
    CHECK(c.observer.id.str() == "demo");
    CHECK(c.admin.listen == HostPort{"127.0.0.1", 8649});
    CHECK(c.admin.token_file == (dir.path() / "demo-admin.token").string());
    CHECK_FALSE(c.cluster.has_value());
    REQUIRE(c.regions.size() == 2);
    CHECK(c.regions[0].name.str() == "east");
    CHECK(c.regions[0].endpoints[0].http.url == "http://127.0.0.1:18081/healthz");
    CHECK(c.regions[1].endpoints[0].http.url == "http://127.0.0.1:18082/healthz");
    CHECK(c.regions[1].endpoints[0].interval == Duration(500ms));
    CHECK(c.regions[1].endpoints[0].timeout == Duration(300ms));
    CHECK(c.regions[1].endpoints[0].rise == 2);
    CHECK(c.regions[1].endpoints[0].fall == 2);
    REQUIRE(c.services.size() == 1);
    const Service& www = c.services[0];
    CHECK(www.policy == Policy::Priority);
    CHECK(www.regions ==
          std::vector{failoverd::core::RegionId("east"), failoverd::core::RegionId("west")});
    CHECK(www.publish.at(failoverd::core::RegionId("east")) ==
          std::vector<std::string>{"127.0.0.11"});
    CHECK(www.publish.at(failoverd::core::RegionId("west")) ==
          std::vector<std::string>{"127.0.0.12"});
    CHECK(www.target.rfc2136.server == HostPort{"127.0.0.1", 15353});
    CHECK(www.target.rfc2136.zone == "demo.test.");
    CHECK(www.target.rfc2136.name == "www.demo.test.");
    CHECK(www.target.rfc2136.tsig_secret_file == (dir.path() / "demo-tsig.key").string());
  }

  TEST_CASE("the oracle table: listen and a path secret, limits, errors name the key") {
    TempDir dir;
    const std::string secret = (dir.path() / "oracle.secret").string();
    write_file(secret, "0123456789abcdef-oracle\n", kPrivate);
    auto load = [&](std::string table) {
      replace_all(table, "@SECRET@", secret);
      return load_config_string(minimal_plus("\n[oracle]\n" + table), "o.toml");
    };
    const int line = 1 + static_cast<int>(std::count(kMinimal.begin(), kMinimal.end(), '\n')) + 2;
    auto at = [&](int offset, int column, std::string key, std::string message) {
      return "o.toml:" + std::to_string(line + offset) + ":" + std::to_string(column) + ": " + key +
             ": " + message;
    };

    SUBCASE("absent: no oracle") {
      const LoadResult r = load_config_string(std::string(kMinimal), "o.toml");
      REQUIRE(r.ok());
      CHECK_FALSE(r.config->oracle.has_value());
    }
    SUBCASE("every key is read") {
      const LoadResult r = load(R"(listen = "[::1]:8443"
path_secret_file = "@SECRET@"
max_connections = 5000
max_connections_per_source = 50
request_timeout = "3s"
rate_limit_per_source = 7
rate_limit_burst = 9
)");
      CHECK(joined(error_strings(r)) == "");
      REQUIRE(r.ok());
      REQUIRE(r.config->oracle.has_value());
      const Oracle& o = *r.config->oracle;
      CHECK(o.listen == HostPort{"::1", 8443});
      CHECK(o.path_secret_file == secret);
      CHECK(o.max_connections == 5000);
      CHECK(o.max_connections_per_source == 50);
      CHECK(o.request_timeout == 3s);
      CHECK(o.rate_limit_per_source == 7);
      CHECK(o.rate_limit_burst == 9);
    }
    SUBCASE("listen and path_secret_file are required") {
      const LoadResult r = load("max_connections = 10\n");
      REQUIRE_FALSE(r.ok());
      const std::string all = joined(error_strings(r));
      CHECK(all.find("oracle.listen") != std::string::npos);
      CHECK(all.find("oracle.path_secret_file") != std::string::npos);
    }
    SUBCASE("listen must be an IP literal") {
      const LoadResult r = load("listen = \"oracle.example:80\"\npath_secret_file = \"@SECRET@\"\n");
      CHECK(joined(error_strings(r)) ==
            at(0, 10, "oracle.listen",
               "must be an IP address (IPv4, or IPv6 in brackets) and a port, got \"oracle.example:80\"") + "\n");
    }
    SUBCASE("a short secret is refused, without showing it") {
      write_file(secret, "short\n", kPrivate);
      const LoadResult r = load("listen = \"127.0.0.1:8443\"\npath_secret_file = \"@SECRET@\"\n");
      CHECK(joined(error_strings(r)) ==
            at(1, 20, "oracle.path_secret_file",
               "secret file \"" + secret + "\" must hold a line of at least 16 characters") + "\n");
    }
    SUBCASE("a secret open to others is refused like every secret file") {
      write_file(secret, "0123456789abcdef-oracle\n", kWorldReadable);
      const LoadResult r = load("listen = \"127.0.0.1:8443\"\npath_secret_file = \"@SECRET@\"\n");
      CHECK(joined(error_strings(r)).find("has mode 0644") != std::string::npos);
    }
    SUBCASE("out-of-range limits and unknown keys name the key") {
      const LoadResult r = load(R"(listen = "127.0.0.1:8443"
path_secret_file = "@SECRET@"
max_connections = 0
request_timeout = "10ms"
rate_limit_burst = -1
max_conections = 3
)");
      const std::string all = joined(error_strings(r));
      CHECK(all.find(at(2, 19, "oracle.max_connections", "must be")) != std::string::npos);
      CHECK(all.find(at(3, 19, "oracle.request_timeout", "must be 100ms to 5m")) != std::string::npos);
      CHECK(all.find(at(4, 20, "oracle.rate_limit_burst", "must be")) != std::string::npos);
      CHECK(all.find("oracle.max_conections") != std::string::npos);
    }
    SUBCASE("a certificate needs its key") {
      const LoadResult r = load("listen = \"127.0.0.1:8443\"\npath_secret_file = \"@SECRET@\"\nkey_file = \"@SECRET@\"\n");
      CHECK(joined(error_strings(r)).find("oracle.key_file") != std::string::npos);
    }
  }
}
