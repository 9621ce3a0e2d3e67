// The engine with an exec target: the hook runs for every write an operator asks for, and the
// writes the reconciler makes itself (restore) name the service like the policy's plans do.
#include "runtime/engine.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "config/loader.h"

using namespace failoverd;
using namespace std::chrono_literals;

namespace {

// A hook that appends "SERVICE|GENERATION|MEMBERS|TRIGGER" to runs.txt at every run.
struct HookDir {
  HookDir() {
    char tmpl[] = "/tmp/failoverd-engine-XXXXXX";
    path = ::mkdtemp(tmpl);
    std::ofstream(path + "/hook.sh")
        << "#!/bin/sh\n"
           "echo \"$FAILOVERD_SERVICE|$FAILOVERD_GENERATION|$FAILOVERD_MEMBERS|"
           "$FAILOVERD_TRIGGER\" >> "
        << path << "/runs.txt\n";
    ::chmod((path + "/hook.sh").c_str(), 0755);
  }
  ~HookDir() { std::filesystem::remove_all(path); }
  // One line per run, as the hook wrote them.
  std::string runs() const {
    std::ifstream in(path + "/runs.txt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t run_count() const {
    const auto text = runs();
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  std::string path;
};

// Runs `io` in short slices until `done` holds or `limit` passed.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.restart();
    io.run_for(20ms);
  }
  return true;
}

}  // namespace

TEST_SUITE("runtime.engine") {
  TEST_CASE("exec target: manual failover, failback and restore each run the hook") {
    HookDir dir;
    // Nothing listens on the endpoints (port 9 on loopback): both regions go down, nothing moves
    // automatically, and the operator's moves are forced.
    auto loaded = config::load_config_string(R"(
[observer]
id = "obs-a"

[probe_defaults]
interval = "1s"
timeout = "200ms"

[regions.east]
[[regions.east.endpoints]]
name = "east-tcp"
kind = "tcp"
address = "127.0.0.1:9"

[regions.west]
[[regions.west.endpoints]]
name = "west-tcp"
kind = "tcp"
address = "127.0.0.2:9"

[services.www]
regions = ["east", "west"]
reconcile_interval = "1h"

[services.www.publish]
east = ["192.0.2.1"]
west = ["192.0.2.2"]

[services.www.target]
kind = "exec"
argv = [")" + dir.path + R"(/hook.sh"]
)",
                                             "engine_test.toml");
    REQUIRE_MESSAGE(loaded.ok(), (loaded.errors.empty() ? "" : loaded.errors[0].to_string()));
    boost::asio::io_context io;
    metrics::Metrics metrics;
    runtime::Engine engine(io, *loaded.config, metrics);
    REQUIRE_FALSE(engine.start());
    auto generation = [&] { return engine.control().service("www")->at("generation"); };
    REQUIRE(run_until(io, [&] { return !generation().is_null(); }));

    auto act = [&](admin::Action action, std::string region) {
      admin::ActionRequest req;
      req.service = "www";
      req.action = action;
      req.region = std::move(region);
      req.force = true;
      req.who = "test";
      return engine.control().act(req);
    };
    auto runs_become = [&](std::size_t n) {
      return run_until(io, [&] { return dir.run_count() >= n && generation() == n; });
    };
    REQUIRE(act(admin::Action::Failover, "west").kind == admin::ActionResult::Kind::Done);
    CHECK(runs_become(1));
    REQUIRE(act(admin::Action::Failback, "").kind == admin::ActionResult::Kind::Done);
    CHECK(runs_become(2));
    REQUIRE(act(admin::Action::Restore, "").kind == admin::ActionResult::Kind::Done);
    CHECK(runs_become(3));
    CHECK(dir.runs() ==
          "www|1|192.0.2.2=1|manual\n"
          "www|2|192.0.2.1=1|manual\n"
          "www|3|192.0.2.1=1|restore\n");
    engine.stop();
    io.restart();
    io.run_for(100ms);
  }
}
