// The HAProxy runtime API actuator against a real HAProxy 2.6 (admin socket, -db foreground).
// GCC 12 at -O2 reports a false -Wnull-dereference inside Asio's io_context executor comparison
// (Boost headers, inlined into this file's co_spawn calls). Before any include, so it covers them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "actuate/haproxy.h"
#include "support.h"

using namespace failoverd;
using namespace failoverd::actuate;
using namespace std::chrono_literals;

namespace {

struct HaProxy {
  it::TempDir dir;
  std::uint16_t front_port = it::free_port();
  std::uint16_t admin_port = it::free_port();
  std::unique_ptr<it::Child> process;

  HaProxy() {
    // Servers point at closed loopback ports: without `check` HAProxy counts them as up, and the
    // test is about administrative state only.
    std::string conf =
        "global\n"
        "  stats socket " +
        dir.file("admin.sock") +
        " level admin\n"
        "  stats socket ipv4@127.0.0.1:" +
        std::to_string(admin_port) +
        " level admin\n"
        "defaults\n"
        "  mode tcp\n"
        "  timeout connect 1s\n"
        "  timeout client 5s\n"
        "  timeout server 5s\n"
        "frontend fe\n"
        "  bind 127.0.0.1:" +
        std::to_string(front_port) +
        "\n"
        "  default_backend be_www\n"
        "backend be_www\n"
        "  balance roundrobin\n";
    int port = 1;
    for (const char* name : {"use1-a", "use1-b", "euw1-a", "euw1-b", "other"}) {
      conf += std::string("  server ") + name + " 127.0.0.1:" + std::to_string(it::free_port()) +
              " weight " + std::to_string(10 * port++) + "\n";
    }
    it::write_file(dir.file("haproxy.cfg"), conf);
    start();
  }

  void start() {
    std::filesystem::remove(dir.file("admin.sock"));
    process = std::make_unique<it::Child>(
        std::vector<std::string>{"/usr/sbin/haproxy", "-f", dir.file("haproxy.cfg"), "-db"},
        dir.file("haproxy.log"));
  }
  void restart() {
    process->stop();
    start();
  }
};

config::Service service(const HaProxy& h, config::Policy policy, std::string inactive) {
  config::Service s;
  s.name = core::ServiceId("www");
  s.policy = policy;
  s.publish[core::RegionId("use1")] = {"use1-a", "use1-b"};
  s.publish[core::RegionId("euw1")] = {"euw1-a", "euw1-b"};
  s.target.kind = config::TargetKind::HaProxy;
  s.target.scope = config::TargetScope::Local;
  s.target.haproxy.socket = h.dir.file("admin.sock");
  s.target.haproxy.backend = "be_www";
  s.target.haproxy.inactive_state = std::move(inactive);
  s.target.haproxy.timeout = 2s;
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

// The backend's servers by name, straight from `show servers state`.
std::map<std::string, haproxy::ServerState> servers(boost::asio::io_context& io,
                                                    HaProxyActuator& act) {
  auto reply = it::run(io, act.command("show servers state be_www"));
  REQUIRE(reply.ok);
  std::string error;
  auto parsed = haproxy::parse_servers_state(reply.text, error);
  REQUIRE_MESSAGE(parsed, error);
  std::map<std::string, haproxy::ServerState> out;
  for (auto& s : *parsed) out[s.name] = s;
  return out;
}

// On another thread, asks HAProxy for the backend's state in a tight loop (blocking UNIX socket,
// 1 s receive timeout) and records the fewest ready managed servers it ever saw.
class ReadyWatcher {
 public:
  explicit ReadyWatcher(std::string socket_path)
      : path_(std::move(socket_path)), thread_([this] { loop(); }) {}
  ~ReadyWatcher() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples = 0;
  int failures = 0;
  std::size_t min_ready = 1000;

 private:
  void loop() {
    const std::set<std::string> managed{"use1-a", "use1-b", "euw1-a", "euw1-b"};
    const auto end = std::chrono::steady_clock::now() + 20s;
    for (int i = 0; i < 5000 && !stop_ && std::chrono::steady_clock::now() < end; ++i) {
      auto text = ask("show servers state be_www\n");
      std::string error;
      auto parsed = haproxy::parse_servers_state(text, error);
      if (!parsed) {
        ++failures;
        continue;
      }
      ++samples;
      min_ready = std::min(min_ready, haproxy::live_state(*parsed, managed, false).members.size());
    }
  }
  std::string ask(const std::string& line) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      char buf[4096];
      for (int i = 0; i < 256; ++i) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return out;
  }
  std::string path_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool wait_ready(boost::asio::io_context& io, HaProxyActuator& act) {
  return it::wait_until([&] { return it::run(io, act.read()).status == ReadStatus::Ok; }, 10s,
                        50ms);
}

}  // namespace

TEST_SUITE("integration.targets.haproxy") {
  TEST_CASE("plans switch HAProxy servers between ready, drain and maint") {
    if (!std::filesystem::exists("/usr/sbin/haproxy")) {
      MESSAGE("haproxy is missing: skipped");
      return;
    }
    HaProxy h;
    boost::asio::io_context io;
    HaProxyActuator act(io.get_executor(), service(h, config::Policy::Priority, "drain"));
    REQUIRE(wait_ready(io, act));

    // Fresh from the config file: every server ready.
    auto r0 = it::run(io, act.read());
    CHECK(r0.state.members ==
          std::vector<LiveMember>{{"euw1-a", 1}, {"euw1-b", 1}, {"use1-a", 1}, {"use1-b", 1}});
    CHECK_FALSE(r0.state.fence);

    auto w1 = it::run(io, act.write(plan(1, {{"use1-a", 1}, {"use1-b", 1}}), r0.state));
    REQUIRE_MESSAGE(w1.status == WriteStatus::Applied, w1.detail);
    auto s1 = servers(io, act);
    CHECK(s1["use1-a"].ready());
    CHECK(s1["use1-b"].ready());
    CHECK(s1["euw1-a"].drained());
    CHECK(s1["euw1-b"].drained());
    CHECK(s1["other"].ready());  // in no publish list: never touched

    SUBCASE("failover to euw1, then a stale writer gets Conflict") {
      auto r1 = it::run(io, act.read());
      auto w2 = it::run(io, act.write(plan(2, {{"euw1-a", 1}, {"euw1-b", 1}}), r1.state));
      REQUIRE_MESSAGE(w2.status == WriteStatus::Applied, w2.detail);
      auto s2 = servers(io, act);
      CHECK(s2["euw1-a"].ready());
      CHECK(s2["euw1-b"].ready());
      CHECK(s2["use1-a"].drained());
      CHECK(s2["use1-b"].drained());

      auto stale = it::run(io, act.write(plan(3, {{"use1-a", 1}}), r1.state));
      CHECK(stale.status == WriteStatus::Conflict);
      auto s3 = servers(io, act);
      CHECK(s3["use1-a"].drained());
      CHECK(s3["euw1-a"].ready());
    }

    SUBCASE("ten failovers back and forth never leave the backend without a ready server") {
      HaProxyActuator strict(io.get_executor(), service(h, config::Policy::Priority, "maint"));
      ReadyWatcher watcher(h.dir.file("admin.sock"));
      for (core::Generation gen = 2; gen < 12; ++gen) {
        auto live = it::run(io, strict.read());
        REQUIRE(live.status == ReadStatus::Ok);
        auto p = gen % 2 == 0 ? plan(gen, {{"euw1-a", 1}, {"euw1-b", 1}})
                              : plan(gen, {{"use1-a", 1}, {"use1-b", 1}});
        auto w = it::run(io, strict.write(p, live.state));
        REQUIRE_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      }
      watcher.stop();
      MESSAGE("samples=" << watcher.samples << " failures=" << watcher.failures
                         << " min_ready=" << watcher.min_ready);
      CHECK(watcher.samples > 10);
      CHECK(watcher.failures == 0);
      CHECK(watcher.min_ready >= 1);
    }

    SUBCASE("weighted with maint: weights set, the rest in maintenance") {
      HaProxyActuator weighted(io.get_executor(), service(h, config::Policy::Weighted, "maint"));
      auto r1 = it::run(io, weighted.read());
      CHECK(r1.state.members == std::vector<LiveMember>{{"use1-a", 10}, {"use1-b", 20}});
      auto w = it::run(io, weighted.write(plan(2, {{"use1-a", 30}, {"euw1-a", 70}}), r1.state));
      REQUIRE_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      auto s = servers(io, weighted);
      CHECK(s["use1-a"].ready());
      CHECK(s["use1-a"].user_weight == 30);
      CHECK(s["euw1-a"].ready());
      CHECK(s["euw1-a"].user_weight == 70);
      CHECK(s["use1-b"].maint());
      CHECK(s["euw1-b"].maint());
      CHECK(it::run(io, weighted.read()).state.members ==
            std::vector<LiveMember>{{"euw1-a", 70}, {"use1-a", 30}});
    }

    SUBCASE("after an HAProxy restart the reconciler re-applies the plan, idempotently") {
      const auto p = plan(2, {{"euw1-a", 1}, {"euw1-b", 1}});
      auto w2 = it::run(io, act.write(p, it::run(io, act.read()).state));
      REQUIRE(w2.status == WriteStatus::Applied);

      h.restart();
      REQUIRE(wait_ready(io, act));
      auto drifted = it::run(io, act.read());
      REQUIRE(drifted.status == ReadStatus::Ok);
      CHECK(drifted.state.members.size() == 4);  // the config file's state: all ready

      auto again = it::run(io, act.write(p, drifted.state));
      REQUIRE_MESSAGE(again.status == WriteStatus::Applied, again.detail);
      auto s = servers(io, act);
      CHECK(s["euw1-a"].ready());
      CHECK(s["euw1-b"].ready());
      CHECK(s["use1-a"].drained());
      CHECK(s["use1-b"].drained());

      auto twice = it::run(io, act.write(p, it::run(io, act.read()).state));
      CHECK(twice.status == WriteStatus::Applied);
      CHECK(it::run(io, act.read()).state.members ==
            std::vector<LiveMember>{{"euw1-a", 1}, {"euw1-b", 1}});
    }

    SUBCASE("a published server missing from the backend is Invalid, the rest untouched") {
      auto s = service(h, config::Policy::Priority, "drain");
      s.publish[core::RegionId("apse1")] = {"ghost"};
      HaProxyActuator ghostly(io.get_executor(), s);
      auto r = it::run(io, ghostly.read());
      auto w = it::run(io, ghostly.write(plan(2, {{"ghost", 1}}), r.state));
      CHECK(w.status == WriteStatus::Invalid);
      CHECK(w.detail.find("No such server") != std::string::npos);
      auto after = servers(io, act);
      CHECK(after["use1-a"].ready());
      CHECK(after["euw1-a"].drained());
    }

    SUBCASE("an empty plan is refused before anything is sent") {
      auto w = it::run(io, act.write(plan(2, {}), it::run(io, act.read()).state));
      CHECK(w.status == WriteStatus::Invalid);
      CHECK(servers(io, act)["use1-a"].ready());
    }

    SUBCASE("the runtime API over TCP works the same") {
      auto s = service(h, config::Policy::Priority, "drain");
      s.target.haproxy.socket.clear();
      s.target.haproxy.address = config::HostPort{"127.0.0.1", h.admin_port};
      HaProxyActuator tcp(io.get_executor(), s);
      auto r = it::run(io, tcp.read());
      REQUIRE(r.status == ReadStatus::Ok);
      CHECK(r.state.members == std::vector<LiveMember>{{"use1-a", 1}, {"use1-b", 1}});
      auto w = it::run(io, tcp.write(plan(2, {{"euw1-b", 1}}), r.state));
      REQUIRE_MESSAGE(w.status == WriteStatus::Applied, w.detail);
      auto after = servers(io, act);
      CHECK(after["euw1-b"].ready());
      CHECK(after["euw1-a"].drained());
      CHECK(after["use1-a"].drained());
    }

    SUBCASE("HAProxy gone: Unreachable and Unknown") {
      h.process->stop();
      CHECK(it::run(io, act.read()).status == ReadStatus::Unreachable);
      auto w = it::run(io, act.write(plan(2, {{"euw1-a", 1}}), r0.state));
      CHECK(w.status == WriteStatus::Unknown);
    }
  }
}
