// The running daemon: owns the admin listener and the current config, and applies reloads
// all-or-nothing. It runs on one io_context thread; every method is called from that thread.
//
// Reload (SIGHUP): the new config is loaded and validated first; the new listeners are bound
// before the old ones are closed; if anything fails, the old config keeps running untouched and
// the failure is logged with every error found. reload_in_background() reads and validates the
// file (and the token file) on a thread of its own, so probes and decisions go on meanwhile;
// only the swap (new engine, adopt what the old one knows) runs on the event loop. A SIGHUP
// that comes while a load is under way runs once more after it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "log/log.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::runtime {

// The logger settings an observer's config asks for (journald detected from the environment).
log::Options log_options(const config::Observer& observer);

class Daemon {
 public:
  Daemon(boost::asio::io_context& io, config::Config config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Binds listeners and starts serving. Returns an error text on failure (nothing is running).
  std::optional<std::string> start();

  // Reloads from `path`. Returns true when the new config is in force; false leaves the old one.
  bool reload(const std::string& path);
  // The same, with the file read and validated off the event loop (SIGHUP in the daemon).
  void reload_in_background(const std::string& path);
  // A log format from the command line: kept over observer.log_format across reloads.
  void override_log_format(config::LogFormat format);

  // Stops listeners and timers; the io_context then runs out of work and returns.
  void stop();

  const config::Config& config() const;
  // The admin listener's bound address ("127.0.0.1:8649").
  std::string admin_address() const;

 private:
  struct Impl;
  struct Loaded;  // what a reload reads from disk
  bool apply_reload(const std::string& path, Loaded& loaded);
  std::unique_ptr<Impl> impl_;
};

}  // namespace failoverd::runtime
