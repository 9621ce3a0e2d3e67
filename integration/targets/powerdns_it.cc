// The PowerDNS API actuator against a real pdns_server (gsqlite3, API, LUA records) on 127.0.0.1.
// GCC 12 at -O2 reports a false -Wnull-dereference inside Asio's io_context executor comparison
// (Boost headers, inlined into this file's co_spawn calls). Before any include, so it covers them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "actuate/http_client.h"
#include "actuate/powerdns.h"
#include "support.h"

using namespace failoverd;
using namespace failoverd::actuate;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";
constexpr const char* kApiKey = "it-secret-key";

struct PowerDns {
  it::TempDir dir;
  std::uint16_t dns_port = it::free_port();
  std::uint16_t api_port = it::free_port();
  std::unique_ptr<it::Child> server;

  PowerDns() {
    it::write_file(dir.file("pdns.conf"), "");
    it::write_file(dir.file("api.key"), std::string(kApiKey) + "\n", 0600);
    REQUIRE(it::run_and_wait(
                {"/usr/bin/sqlite3", dir.file("pdns.db"), std::string(".read ") + kSchema}, 10s) ==
            0);
    server = std::make_unique<it::Child>(
        std::vector<std::string>{"/usr/sbin/pdns_server",
                                 "--config-dir=" + dir.path().string(),
                                 "--daemon=no",
                                 "--guardian=no",
                                 "--disable-syslog",
                                 "--local-address=127.0.0.1",
                                 "--local-port=" + std::to_string(dns_port),
                                 "--launch=gsqlite3",
                                 "--gsqlite3-database=" + dir.file("pdns.db"),
                                 "--socket-dir=" + dir.path().string(),
                                 "--api=yes",
                                 std::string("--api-key=") + kApiKey,
                                 "--webserver=yes",
                                 "--webserver-address=127.0.0.1",
                                 "--webserver-port=" + std::to_string(api_port),
                                 "--webserver-allow-from=127.0.0.1",
                                 "--enable-lua-records=yes",
                                 "--cache-ttl=0",
                                 "--query-cache-ttl=0",
                                 "--negquery-cache-ttl=0",
                                 "--distributor-threads=1"},
        dir.file("pdns.log"));
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(api_port); }

  // True once the API answers (at most 10 s).
  bool wait_api(boost::asio::io_context& io) {
    return it::wait_until(
        [&] {
          auto r = api(io, "GET", "/api/v1/servers/localhost");
          return r.ok() && r.status == 200;
        },
        10s, 50ms);
  }

  HttpResponse api(boost::asio::io_context& io, std::string method, std::string target,
                   std::string body = "") {
    HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers.emplace_back("X-API-Key", kApiKey);
    req.body = std::move(body);
    return it::run(io,
                   http_exchange(io.get_executor(), *parse_http_url(url()), std::move(req), {}));
  }
};

config::Service service(const PowerDns& pdns, config::Policy policy) {
  config::Service s;
  s.name = core::ServiceId("www");
  s.policy = policy;
  s.target.kind = config::TargetKind::PowerDns;
  auto& t = s.target.powerdns;
  t.api_url = pdns.url();
  t.zone = "example.test.";
  t.name = "www.example.test.";
  t.type = "A";
  t.ttl = 5;
  t.api_key_file = pdns.dir.file("api.key");
  t.timeout = 2s;
  return s;
}

core::Plan plan(core::Generation gen, std::vector<std::pair<std::string, std::uint32_t>> members) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = gen - 1;
  p.generation = gen;
  for (auto& [v, w] : members) p.members.push_back({core::RegionId("r"), v, w});
  return p;
}

// Queries www every 10 ms on another thread while a write runs; counts empty answers.
class AnswerWatcher {
 public:
  explicit AnswerWatcher(std::uint16_t port) : thread_([this, port] { loop(port); }) {}
  ~AnswerWatcher() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int queries = 0;
  int empty = 0;                    // NOERROR without A records, or an error rcode
  int no_reply = 0;                 // lost or timed out
  std::set<std::string> seen_sets;  // each distinct answer, sorted and joined

 private:
  void loop(std::uint16_t port) {
    const auto end = std::chrono::steady_clock::now() + 30s;
    for (int i = 0; i < 3000 && !stop_ && std::chrono::steady_clock::now() < end; ++i) {
      auto a = it::query_a(port, "www.example.test", 500ms);
      ++queries;
      if (!a) {
        ++no_reply;
      } else if (a->rcode != 0 || a->addresses.empty()) {
        ++empty;
      } else {
        std::sort(a->addresses.begin(), a->addresses.end());
        std::string key;
        for (const auto& x : a->addresses) key += x + " ";
        seen_sets.insert(key);
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A throwaway CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
void make_ca(const it::TempDir& dir, const std::string& name) {
  const auto d = dir.path().string() + "/";
  REQUIRE(it::run_and_wait({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + name + "-ca.key",
                            "-out", d + name + "-ca.crt", "-days", "2", "-subj",
                            "/CN=failoverd test CA " + name},
                           20s) == 0);
}

void make_server_cert(const it::TempDir& dir, const std::string& ca) {
  const auto d = dir.path().string() + "/";
  it::write_file(d + "server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  REQUIRE(it::run_and_wait({"/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "server.key",
                            "-out", d + "server.csr", "-subj", "/CN=127.0.0.1"},
                           20s) == 0);
  REQUIRE(it::run_and_wait({"/usr/bin/openssl", "x509", "-req", "-in", d + "server.csr", "-CA",
                            d + ca + "-ca.crt", "-CAkey", d + ca + "-ca.key", "-CAcreateserial",
                            "-out", d + "server.crt", "-days", "2", "-extfile", d + "server.ext"},
                           20s) == 0);
}

// nginx terminating TLS on 127.0.0.1:port in front of the PowerDNS API, as operators put it.
struct TlsProxy {
  it::TempDir dir;
  std::uint16_t port = it::free_port();
  std::unique_ptr<it::Child> nginx;

  explicit TlsProxy(std::uint16_t api_port) {
    make_ca(dir, "good");
    make_ca(dir, "other");
    make_server_cert(dir, "good");
    const auto d = dir.path().string();
    std::filesystem::create_directories(d + "/tmp");
    it::write_file(d + "/nginx.conf",
                   "daemon off;\nworker_processes 1;\npid " + d + "/nginx.pid;\nerror_log " + d +
                       "/error.log;\nevents { worker_connections 64; }\nhttp {\n access_log off;\n"
                       " client_body_temp_path " + d + "/tmp;\n proxy_temp_path " + d + "/tmp;\n"
                       " fastcgi_temp_path " + d + "/tmp;\n uwsgi_temp_path " + d + "/tmp;\n"
                       " scgi_temp_path " + d + "/tmp;\n server {\n  listen 127.0.0.1:" +
                       std::to_string(port) + " ssl;\n  ssl_certificate " + d + "/server.crt;\n"
                       "  ssl_certificate_key " + d + "/server.key;\n  location / {\n"
                       "   proxy_pass http://127.0.0.1:" + std::to_string(api_port) + ";\n  }\n }\n}\n");
    nginx = std::make_unique<it::Child>(
        std::vector<std::string>{"/usr/sbin/nginx", "-p", d, "-c", d + "/nginx.conf", "-e",
                                 d + "/error.log"},
        d + "/nginx.log");
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port); }
  std::string ca(const std::string& name) const { return dir.file(name + "-ca.crt"); }
};

}  // namespace

TEST_SUITE("integration.targets.powerdns") {
  TEST_CASE("an https api_url: through a TLS proxy with its CA trusted; an untrusted one refused") {
    if (!std::filesystem::exists("/usr/sbin/pdns_server") || !std::filesystem::exists(kSchema) ||
        !std::filesystem::exists("/usr/sbin/nginx")) {
      MESSAGE("pdns_server, the gsqlite3 schema or nginx is missing: skipped");
      return;
    }
    PowerDns pdns;
    boost::asio::io_context io;
    REQUIRE(pdns.wait_api(io));
    auto created = pdns.api(io, "POST", "/api/v1/servers/localhost/zones", R"({
      "name": "example.test.", "kind": "Native", "nameservers": ["ns1.example.test."],
      "rrsets": [
        {"name": "www.example.test.", "type": "A", "ttl": 5, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.1", "disabled": false}]},
        {"name": "_failoverd.www.example.test.", "type": "TXT", "ttl": 5, "changetype": "REPLACE",
         "records": [{"content": "\"gen=1 writer=obs-a\"", "disabled": false}]}]})");
    REQUIRE(created.ok());
    REQUIRE(created.status == 201);
    TlsProxy proxy(pdns.api_port);
    REQUIRE(it::wait_until(
        [&] {
          HttpRequest req;
          req.target = "/api/v1/servers/localhost";
          req.headers.emplace_back("X-API-Key", kApiKey);
          HttpLimits limits;
          limits.ca_file = proxy.ca("good");
          auto r = it::run(io, http_exchange(io.get_executor(), *parse_web_url(proxy.url()),
                                             std::move(req), limits));
          return r.ok() && r.status == 200;
        },
        10s, 50ms));

    auto svc = service(pdns, config::Policy::Priority);
    svc.target.powerdns.api_url = proxy.url();
    svc.target.powerdns.ca_file = proxy.ca("good");
    PowerDnsActuator act(io.get_executor(), svc, core::ObserverId("obs-a"));
    auto r0 = it::run(io, act.read());
    REQUIRE_MESSAGE(r0.status == ReadStatus::Ok, r0.detail);
    REQUIRE(r0.state.fence);
    CHECK(*r0.state.fence == Fence{1, "obs-a"});
    auto w = it::run(io, act.write(plan(2, {{"198.51.100.1", 1}}), r0.state));
    CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
    auto a = it::query_a(pdns.dns_port, "www.example.test", 500ms);
    REQUIRE(a);
    CHECK(a->addresses == std::vector<std::string>{"198.51.100.1"});

    // Another CA: the handshake fails; the target refuses to be trusted (blocked and retried by
    // the reconciler, not taken for a broken zone), and nothing is written.
    svc.target.powerdns.ca_file = proxy.ca("other");
    PowerDnsActuator untrusted(io.get_executor(), svc, core::ObserverId("obs-a"));
    auto r1 = it::run(io, untrusted.read());
    CHECK(r1.status == ReadStatus::Refused);
    CHECK(r1.detail.find("tls") != std::string::npos);
    auto w1 = it::run(io, untrusted.write(plan(3, {{"192.0.2.1", 1}}), r0.state));
    CHECK(w1.status != WriteStatus::Applied);
    a = it::query_a(pdns.dns_port, "www.example.test", 500ms);
    REQUIRE(a);
    CHECK(a->addresses == std::vector<std::string>{"198.51.100.1"});
  }

  TEST_CASE("a failover through the PowerDNS API moves the answer, guarded by the fence") {
    if (!std::filesystem::exists("/usr/sbin/pdns_server") || !std::filesystem::exists(kSchema)) {
      MESSAGE("pdns_server or the gsqlite3 schema is missing: skipped");
      return;
    }
    PowerDns pdns;
    boost::asio::io_context io;
    REQUIRE(pdns.wait_api(io));

    // The zone as an operator would create it: use1's set and the fence at generation 1.
    auto created = pdns.api(io, "POST", "/api/v1/servers/localhost/zones", R"({
      "name": "example.test.", "kind": "Native", "nameservers": ["ns1.example.test."],
      "rrsets": [
        {"name": "www.example.test.", "type": "A", "ttl": 5, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.1", "disabled": false},
                     {"content": "192.0.2.2", "disabled": false}]},
        {"name": "_failoverd.www.example.test.", "type": "TXT", "ttl": 5, "changetype": "REPLACE",
         "records": [{"content": "\"gen=1 writer=obs-a\"", "disabled": false}]}]})");
    REQUIRE(created.ok());
    REQUIRE(created.status == 201);
    REQUIRE(it::wait_until(
        [&] {
          auto a = it::query_a(pdns.dns_port, "www.example.test", 200ms);
          return a && a->addresses.size() == 2;
        },
        10s, 20ms));

    PowerDnsActuator act(io.get_executor(), service(pdns, config::Policy::Priority),
                         core::ObserverId("obs-a"));
    auto r0 = it::run(io, act.read());
    REQUIRE(r0.status == ReadStatus::Ok);
    CHECK(r0.state.members == std::vector<LiveMember>{{"192.0.2.1", 1}, {"192.0.2.2", 1}});
    REQUIRE(r0.state.fence);
    CHECK(*r0.state.fence == Fence{1, "obs-a"});
    REQUIRE(r0.state.serial);

    SUBCASE("failover: old set to new set, fence 1 -> 2, never an empty answer") {
      AnswerWatcher watcher(pdns.dns_port);
      std::this_thread::sleep_for(100ms);
      auto w =
          it::run(io, act.write(plan(2, {{"198.51.100.1", 1}, {"198.51.100.2", 1}}), r0.state));
      CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      CHECK(w.rcode == "204");
      std::this_thread::sleep_for(100ms);
      watcher.stop();
      MESSAGE("queries=" << watcher.queries << " empty=" << watcher.empty
                         << " no_reply=" << watcher.no_reply);
      CHECK(watcher.queries > 10);
      CHECK(watcher.empty == 0);
      CHECK(watcher.no_reply == 0);
      CHECK(watcher.seen_sets ==
            std::set<std::string>{"192.0.2.1 192.0.2.2 ", "198.51.100.1 198.51.100.2 "});

      auto a = it::query_a(pdns.dns_port, "www.example.test", 500ms);
      REQUIRE(a);
      std::sort(a->addresses.begin(), a->addresses.end());
      CHECK(a->addresses == std::vector<std::string>{"198.51.100.1", "198.51.100.2"});
      auto r1 = it::run(io, act.read());
      REQUIRE(r1.status == ReadStatus::Ok);
      REQUIRE(r1.state.fence);
      CHECK(*r1.state.fence == Fence{2, "obs-a"});
      CHECK(r1.state.serial > r0.state.serial);

      SUBCASE("a writer holding the old state gets Conflict and writes nothing") {
        PowerDnsActuator stale(io.get_executor(), service(pdns, config::Policy::Priority),
                               core::ObserverId("obs-b"));
        auto c = it::run(io, stale.write(plan(3, {{"192.0.2.9", 1}}), r0.state));
        CHECK_MESSAGE(c.status == WriteStatus::Conflict, c.detail);
        auto r2 = it::run(io, act.read());
        REQUIRE(r2.status == ReadStatus::Ok);
        CHECK(r2.state.members == r1.state.members);
        CHECK(r2.state.fence == r1.state.fence);
        CHECK(r2.state.serial == r1.state.serial);
      }
      SUBCASE("a plan whose generation is not above the live one is not written") {
        auto c = it::run(io, act.write(plan(2, {{"192.0.2.9", 1}}), r1.state));
        CHECK_MESSAGE(c.status == WriteStatus::Conflict, c.detail);
        CHECK(it::run(io, act.read()).state.fence == r1.state.fence);
      }
    }

    SUBCASE("twenty flips back and forth: the answer is never empty, the generation only grows") {
      AnswerWatcher watcher(pdns.dns_port);
      auto live = r0.state;
      for (core::Generation gen = 2; gen < 22; ++gen) {
        const bool odd = gen % 2 == 1;
        auto w = it::run(io, act.write(odd ? plan(gen, {{"192.0.2.1", 1}, {"192.0.2.2", 1}})
                                           : plan(gen, {{"198.51.100.1", 1}}),
                                       live));
        REQUIRE_MESSAGE(w.status == WriteStatus::Applied, w.detail);
        auto r = it::run(io, act.read());
        REQUIRE(r.status == ReadStatus::Ok);
        REQUIRE(r.state.fence);
        CHECK(r.state.fence->generation == gen);
        live = r.state;
        std::this_thread::sleep_for(15ms);
      }
      watcher.stop();
      MESSAGE("queries=" << watcher.queries << " empty=" << watcher.empty
                         << " no_reply=" << watcher.no_reply);
      CHECK(watcher.empty == 0);
      CHECK(watcher.no_reply == 0);
      CHECK(watcher.seen_sets == std::set<std::string>{"192.0.2.1 192.0.2.2 ", "198.51.100.1 "});
    }

    SUBCASE("weighted: a LUA pickwrandom record answers from both sets") {
      PowerDnsActuator weighted(io.get_executor(), service(pdns, config::Policy::Weighted),
                                core::ObserverId("obs-a"));
      AnswerWatcher watcher(pdns.dns_port);
      std::this_thread::sleep_for(50ms);
      auto w =
          it::run(io, weighted.write(plan(2, {{"192.0.2.1", 1}, {"198.51.100.1", 1}}), r0.state));
      CHECK_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      std::this_thread::sleep_for(50ms);
      watcher.stop();
      CHECK(watcher.empty == 0);
      CHECK(watcher.no_reply == 0);

      std::map<std::string, int> counts;
      for (int i = 0; i < 200; ++i) {
        auto a = it::query_a(pdns.dns_port, "www.example.test", 500ms);
        REQUIRE(a);
        REQUIRE(a->addresses.size() == 1);
        ++counts[a->addresses[0]];
      }
      CHECK(counts.size() == 2);
      CHECK(counts["192.0.2.1"] > 0);
      CHECK(counts["198.51.100.1"] > 0);

      auto r1 = it::run(io, weighted.read());
      REQUIRE(r1.status == ReadStatus::Ok);
      CHECK(r1.state.members == std::vector<LiveMember>{{"192.0.2.1", 1}, {"198.51.100.1", 1}});
      CHECK(r1.state.fence == Fence{2, "obs-a"});

      // Reweighing: 3 to 1, then back to plain records under the priority policy.
      auto w2 =
          it::run(io, weighted.write(plan(3, {{"192.0.2.1", 3}, {"198.51.100.1", 1}}), r1.state));
      CHECK_MESSAGE(w2.status == WriteStatus::Applied, w2.detail);
      auto r2 = it::run(io, weighted.read());
      CHECK(r2.state.members == std::vector<LiveMember>{{"192.0.2.1", 3}, {"198.51.100.1", 1}});
      auto back = it::run(io, act.write(plan(4, {{"198.51.100.1", 1}}), r2.state));
      CHECK_MESSAGE(back.status == WriteStatus::Applied, back.detail);
      auto a = it::query_a(pdns.dns_port, "www.example.test", 500ms);
      REQUIRE(a);
      CHECK(a->addresses == std::vector<std::string>{"198.51.100.1"});
    }

    SUBCASE("a wrong API key is Refused and nothing is written") {
      it::write_file(pdns.dir.file("wrong.key"), "not-the-key\n", 0600);
      auto s = service(pdns, config::Policy::Priority);
      s.target.powerdns.api_key_file = pdns.dir.file("wrong.key");
      PowerDnsActuator bad(io.get_executor(), s, core::ObserverId("obs-a"));
      auto r = it::run(io, bad.read());
      CHECK(r.status == ReadStatus::Refused);
      auto w = it::run(io, bad.write(plan(2, {{"192.0.2.9", 1}}), r0.state));
      CHECK(w.status == WriteStatus::Refused);
      CHECK(w.detail.find("not-the-key") == std::string::npos);
      CHECK(it::run(io, act.read()).state.fence == r0.state.fence);
    }

    SUBCASE("an empty plan is Invalid before anything is sent") {
      auto w = it::run(io, act.write(plan(2, {}), r0.state));
      CHECK(w.status == WriteStatus::Invalid);
      CHECK(it::run(io, act.read()).state.fence == r0.state.fence);
    }

    SUBCASE("a server that is down is Unknown for writes and Unreachable for reads") {
      pdns.server->stop();
      auto r = it::run(io, act.read());
      CHECK(r.status == ReadStatus::Unreachable);
      auto w = it::run(io, act.write(plan(2, {{"192.0.2.9", 1}}), r0.state));
      CHECK(w.status == WriteStatus::Unknown);
    }
  }
}
