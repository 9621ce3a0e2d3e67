// failoverd: entry point. Wiring only: command line, config load, signals, the event loop.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <malloc.h>
#include <string>
#include <vector>

#include "actuate/failpoint.h"
#include "commands.h"
#include "config/loader.h"
#include "log/log.h"
#include "runtime/daemon.h"
#include "runtime/systemd.h"
#include "state/state_file.h"

namespace {

using namespace failoverd;

constexpr const char* kDefaultConfig = "/etc/failoverd/failoverd.toml";

void print_help() {
  std::printf(
      "usage: failoverd [--config FILE] [--log-format logfmt|json]\n"
      "       failoverd --check-config FILE\n"
      "       failoverd simulate [--config FILE] --scenario FILE [--format text|json]\n"
      "       failoverd --version | --help\n"
      "\n"
      "Multi-region health-check and failover daemon.\n"
      "\n"
      "  --config FILE        configuration to run (default %s)\n"
      "  --check-config FILE  validate FILE, print every problem as file:line:column, exit 0/1\n"
      "  --log-format F       override observer.log_format for this run\n"
      "  simulate             run the decision core on simulated time over a scenario\n"
      "\n"
      "Signals: SIGHUP reloads the configuration all-or-nothing; SIGTERM/SIGINT stop.\n",
      kDefaultConfig);
}

int check_config(const std::string& path) {
  auto result = config::load_config_file(path);
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!result.ok()) {
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), result.errors.size(),
                 result.errors.size() == 1 ? "" : "s");
    return 1;
  }
  // What start-up would refuse beyond the config itself: a state file that is not this
  // observer's, of an unknown version, not a regular file, or too big (lib/state/state_file.h).
  const config::Config& c = *result.config;
  if (!c.observer.state_dir.empty()) {
    const std::string file = c.observer.state_dir + "/state.json";
    auto loaded = state::load_state_file(file, c.observer.id.str());
    if (loaded.kind == state::Loaded::Kind::Refused) {
      std::fprintf(stderr, "%s: observer.state_dir: %s\n%s: 1 error\n", path.c_str(),
                   loaded.error.c_str(), path.c_str());
      return 1;
    }
    if (loaded.kind == state::Loaded::Kind::Corrupt) {
      std::fprintf(stderr, "%s: observer.state_dir: warning: %s is unusable (%s); start-up sets it "
                   "aside as state.json.corrupt\n", path.c_str(), file.c_str(), loaded.error.c_str());
    }
  }
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

int run(const std::string& path, const std::string& log_format_override) {
  auto result = config::load_config_file(path);
  if (!result.ok()) {
    for (const auto& e : result.errors) log::error("config error", {{"error", e.to_string()}});
    log::error("cannot start: invalid configuration",
               {{"config", path}, {"errors", result.errors.size()}});
    return 1;
  }
  auto options = runtime::log_options(result.config->observer);
  if (log_format_override == "json") options.format = log::Format::Json;
  if (log_format_override == "logfmt") options.format = log::Format::Logfmt;
  log::configure(options);
  // The lab's write-path failpoints (actuate/failpoint.h); nothing is armed unless the
  // environment asks for it.
  if (auto err = actuate::failpoint::arm_from_environment()) {
    log::error("cannot start", {{"error", *err}});
    return 1;
  }
  if (auto fp = actuate::failpoint::armed()) {
    log::warn("failpoint armed", {{"point", actuate::failpoint::to_string(fp->point)},
                                  {"action", actuate::failpoint::to_string(fp->action)}});
  }

  boost::asio::io_context io(1);
  runtime::Daemon daemon(io, std::move(*result.config));
  if (log_format_override == "json") daemon.override_log_format(config::LogFormat::Json);
  if (log_format_override == "logfmt") daemon.override_log_format(config::LogFormat::Logfmt);
  if (auto err = daemon.start()) {
    log::error("cannot start", {{"error", *err}});
    return 1;
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          daemon.reload_in_background(path);
          signals.async_wait(on_signal);
          return;
        }
        log::info("stopping", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
        runtime::notify_stopping();
        daemon.stop();
        signals.cancel();
      };
  signals.async_wait(on_signal);
  io.run();
  log::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A /metrics scrape builds a body of about 1.5 KB per endpoint (15 MB at 10,000). glibc's
  // mmap threshold adapts upwards to blocks that size once one is freed, after which each scrape
  // leaves its buffers in the heap: +45 MB of RSS at 10,000 endpoints after three scrapes. A
  // fixed threshold keeps large blocks mmap'd, so they go back to the kernel when freed.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (!args.empty() && args[0] == "simulate") {
      return failoverd::daemon::simulate_command({args.begin() + 1, args.end()});
    }
    std::string config_path = kDefaultConfig;
    std::string log_format;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&](const char* flag) -> const std::string& {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "failoverd: %s needs a value (see --help)\n", flag);
          std::exit(2);
        }
        return args[++i];
      };
      if (a == "--version" || a == "-V") {
        std::printf("failoverd %s\n", FAILOVERD_VERSION);
        return 0;
      } else if (a == "--help" || a == "-h") {
        print_help();
        return 0;
      } else if (a == "--check-config" || a == "-t") {
        return check_config(value("--check-config"));
      } else if (a == "--config" || a == "-c") {
        config_path = value("--config");
      } else if (a == "--log-format") {
        log_format = value("--log-format");
        if (log_format != "json" && log_format != "logfmt") {
          std::fprintf(stderr, "failoverd: --log-format takes logfmt or json\n");
          return 2;
        }
      } else {
        std::fprintf(stderr, "failoverd: unknown argument '%s' (see --help)\n", a.c_str());
        return 2;
      }
    }
    return run(config_path, log_format);
  } catch (const std::exception& e) {
    failoverd::log::error("fatal", {{"error", e.what()}});
    return 70;
  }
}
