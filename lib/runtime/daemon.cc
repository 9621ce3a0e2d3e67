#include "runtime/daemon.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

#include "admin/api.h"
#include "admin/http_server.h"
#include "admin/status_page.h"
#include "config/loader.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "oracle/oracle_server.h"
#include "runtime/engine.h"
#include "runtime/systemd.h"
#include "state/atomic_file.h"

namespace failoverd::runtime {

namespace asio = boost::asio;

namespace {

std::string host_port(const config::HostPort& hp) {
  return (hp.host.find(':') != std::string::npos ? "[" + hp.host + "]" : hp.host) + ":" +
         std::to_string(hp.port);
}

admin::ServerOptions admin_options(const config::Config& c) {
  admin::ServerOptions o;
  o.listen = c.admin.listen;
  o.max_body_bytes = c.admin.max_request_bytes;
  o.tls_cert_file = c.admin.tls_cert_file;
  o.tls_key_file = c.admin.tls_key_file;
  o.client_ca_file = c.admin.client_ca_file;
  return o;
}

// Reads admin.token_file (empty: no tokens, /v1 disabled). An error names the file and line.
std::optional<std::string> load_tokens(const config::Admin& admin, admin::TokenSet& out) {
  out = admin::TokenSet{};
  if (admin.token_file.empty()) return std::nullopt;
  auto file = state::read_file(admin.token_file, 64 * 1024);
  if (!file.contents) {
    return "token file " + admin.token_file + ": " + (file.missing ? "missing" : file.error);
  }
  if (auto err = admin::TokenSet::parse(*file.contents, out)) {
    return "token file " + admin.token_file + ": " + *err;
  }
  return std::nullopt;
}

}  // namespace

log::Options log_options(const config::Observer& observer) {
  log::Options o;
  o.format = observer.log_format == config::LogFormat::Json ? log::Format::Json : log::Format::Logfmt;
  switch (observer.log_level) {
    case config::LogLevel::Debug: o.level = log::Level::Debug; break;
    case config::LogLevel::Info: o.level = log::Level::Info; break;
    case config::LogLevel::Warning: o.level = log::Level::Warning; break;
    case config::LogLevel::Error: o.level = log::Level::Error; break;
  }
  return o;
}

// What a reload reads from disk: the config, validated, and its admin tokens. Pure file reading:
// it may run on the loader's thread.
struct Daemon::Loaded {
  config::LoadResult result;
  admin::TokenSet tokens;
  std::optional<std::string> token_error;

  static Loaded from(const std::string& path) {
    Loaded l{config::load_config_file(path), {}, std::nullopt};
    if (l.result.ok()) l.token_error = load_tokens(l.result.config->admin, l.tokens);
    return l;
  }
};

struct Daemon::Impl {
  Impl(asio::io_context& io, config::Config c)
      : io_(io), config_(std::make_shared<const config::Config>(std::move(c))), watchdog_(io) {}

  asio::io_context& io_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<admin::HttpServer> admin_;
  asio::steady_timer watchdog_;
  metrics::Metrics metrics_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<admin::Api> api_;
  admin::TokenSet tokens_;  // the tokens in force: a rejected reload keeps them
  std::optional<std::chrono::microseconds> watchdog_interval_;
  bool stopped_ = false;
  std::optional<config::LogFormat> log_format_override_;
  // reload_in_background(): the loader's thread, and a SIGHUP that came while it ran.
  std::thread loader_;
  bool loading_ = false;
  std::optional<std::string> load_again_;
  std::unique_ptr<oracle::OracleServer> oracle_;  // only with an [oracle] table
  std::string oracle_secret_;                      // the path secret it derives its URLs from

  // The oracle answers from the engine's decisions, pushed on every change (Engine::on_decision).
  void hook_oracle() {
    if (!engine_) return;
    if (!oracle_) {
      engine_->on_decision(nullptr);
      return;
    }
    engine_->on_decision([this] {
      if (oracle_ && engine_) oracle_->publish(engine_->decisions());
    });
  }

  std::unique_ptr<oracle::OracleServer> make_oracle(const config::Oracle& c, std::string secret) {
    return std::make_unique<oracle::OracleServer>(io_, c, std::move(secret), metrics_);
  }

  admin::Response handle(const admin::Request& req) {
    std::string_view path(req.target);
    path = path.substr(0, path.find('?'));
    admin::Response r;
    if (path == "/healthz") {
      r.body = "ok\n";
    } else if (path.starts_with("/v1/")) {
      return api_->handle(req, std::chrono::steady_clock::now());
    } else if (path == "/readyz") {
      auto why = engine_ ? engine_->not_ready_reason() : std::optional<std::string>("starting");
      if (!why) {
        r.body = "ready\n";
      } else {
        r.status = 503;
        r.body = "not ready: " + *why + "\n";
      }
    } else if (path == admin::kStatusPagePath) {
      r = admin::status_page();  // static, no data: the data comes from /v1 with a token
    } else if (path == "/metrics") {
      r.content_type = std::string(metrics::Metrics::kContentType);
      r.body = metrics_.scrape();
    } else {
      r.status = 404;
      r.body = "not found\n";
    }
    if (r.status < 400 && req.method != "GET" && req.method != "HEAD") {
      r.status = 405;
      r.body = "method not allowed\n";
      r.headers.emplace_back("Allow", "GET, HEAD");
    }
    return r;
  }

  std::unique_ptr<admin::HttpServer> make_admin(const config::Config& c) {
    return std::make_unique<admin::HttpServer>(
        io_, admin_options(c), [this](const admin::Request& req) { return handle(req); });
  }

  void arm_watchdog() {
    if (!watchdog_interval_ || stopped_) return;
    watchdog_.expires_after(*watchdog_interval_);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      notify_watchdog();
      arm_watchdog();
    });
  }
};

Daemon::Daemon(asio::io_context& io, config::Config config)
    : impl_(std::make_unique<Impl>(io, std::move(config))) {}

Daemon::~Daemon() {
  stop();
  if (impl_->loader_.joinable()) impl_->loader_.join();
}

std::optional<std::string> Daemon::start() {
  admin::TokenSet tokens;
  if (auto err = load_tokens(impl_->config_->admin, tokens)) return *err;
  auto engine = std::make_unique<Engine>(impl_->io_, impl_->config_, impl_->metrics_);
  if (auto err = engine->start()) return *err;
  impl_->engine_ = std::move(engine);
  impl_->tokens_ = tokens;
  impl_->api_ = std::make_unique<admin::Api>(
      impl_->engine_->control(), std::move(tokens),
      admin::ApiOptions{impl_->config_->admin.rate_limit_per_second});
  if (const auto& oc = impl_->config_->oracle) {
    std::string secret;
    if (auto err = oracle::OracleServer::read_secret(oc->path_secret_file, secret)) return *err;
    auto server = impl_->make_oracle(*oc, secret);
    impl_->oracle_ = std::move(server);
    impl_->oracle_secret_ = std::move(secret);
    impl_->hook_oracle();  // the snapshot is there before the first request
    if (auto err = impl_->oracle_->start()) {
      impl_->oracle_.reset();
      impl_->hook_oracle();
      return "oracle listener: " + *err;
    }
    log::info("oracle listening", {{"address", impl_->oracle_->local_address()}});
  }
  auto admin = impl_->make_admin(*impl_->config_);
  if (auto err = admin->start()) return "admin listener: " + *err;
  impl_->admin_ = std::move(admin);
  log::info("admin listening", {{"address", impl_->admin_->local_address()}});
  impl_->watchdog_interval_ = watchdog_ping_interval();
  if (impl_->watchdog_interval_) {
    log::info("watchdog enabled",
              {{"ping_interval_ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(*impl_->watchdog_interval_)
                    .count()}});
    impl_->arm_watchdog();
  }
  const auto& c = *impl_->config_;
  log::info("failoverd started", {{"observer", c.observer.id.str()},
                                  {"config", c.source_path},
                                  {"regions", c.regions.size()},
                                  {"services", c.services.size()}});
  notify_ready("running; admin on " + impl_->admin_->local_address());
  return std::nullopt;
}

bool Daemon::reload(const std::string& path) {
  notify_reloading();
  log::info("reloading configuration", {{"config", path}});
  Loaded loaded = Loaded::from(path);
  return apply_reload(path, loaded);
}

void Daemon::reload_in_background(const std::string& path) {
  Impl& im = *impl_;
  if (im.stopped_) return;
  if (im.loading_) {
    im.load_again_ = path;  // once more when this load is done
    return;
  }
  notify_reloading();
  log::info("reloading configuration", {{"config", path}});
  if (im.loader_.joinable()) im.loader_.join();  // the last one is over (loading_ is false)
  im.loading_ = true;
  im.loader_ = std::thread([this, path] {
    auto loaded = std::make_shared<Loaded>(Loaded::from(path));
    asio::post(impl_->io_, [this, path, loaded] {
      Impl& in = *impl_;
      in.loading_ = false;
      if (in.stopped_) return;
      apply_reload(path, *loaded);
      if (auto again = std::exchange(in.load_again_, std::nullopt)) reload_in_background(*again);
    });
  });
}

bool Daemon::apply_reload(const std::string& path, Loaded& loaded) {
  auto finish = [&](bool ok) {
    impl_->metrics_.config_reload(ok);
    notify_ready(ok ? "running; configuration reloaded" : "running; last reload rejected");
    return ok;
  };

  auto& result = loaded.result;
  if (!result.ok()) {
    for (const auto& e : result.errors) log::error("config error", {{"error", e.to_string()}});
    log::error("reload rejected; previous configuration still in force",
               {{"config", path}, {"errors", result.errors.size()}});
    return finish(false);
  }
  // One copy of the config, shared by the daemon, the engine and its core.
  auto next_shared = std::make_shared<const config::Config>(std::move(*result.config));
  const config::Config& next = *next_shared;
  if (next.observer.id != impl_->config_->observer.id) {
    // Peers and the fence know this observer by its id; changing it live would look like a new
    // observer writing with an old one's state.
    log::error("reload rejected: observer.id cannot change without a restart",
               {{"old", impl_->config_->observer.id.str()}, {"new", next.observer.id.str()}});
    return finish(false);
  }

  admin::TokenSet tokens = std::move(loaded.tokens);
  if (const auto& err = loaded.token_error) {
    log::error("reload rejected; previous configuration still in force",
               {{"config", path}, {"error", *err}});
    return finish(false);
  }

  // The oracle listener: rebuilt when its table or its secret changed; a new address is bound now
  // (a bad one keeps the old configuration), the same address at commit.
  std::unique_ptr<oracle::OracleServer> new_oracle;
  bool drop_oracle = false;
  std::string next_oracle_secret;
  if (next.oracle) {
    if (auto err = oracle::OracleServer::read_secret(next.oracle->path_secret_file, next_oracle_secret)) {
      log::error("reload rejected; previous configuration still in force",
                 {{"config", path}, {"error", *err}});
      return finish(false);
    }
  }
  const auto& oracle_was = impl_->config_->oracle;
  const bool oracle_same_listen = next.oracle && oracle_was && next.oracle->listen == oracle_was->listen;
  if (!next.oracle) {
    drop_oracle = impl_->oracle_ != nullptr;
  } else if (!impl_->oracle_ || next.oracle != oracle_was || next_oracle_secret != impl_->oracle_secret_) {
    new_oracle = impl_->make_oracle(*next.oracle, next_oracle_secret);
    if (!oracle_same_listen || !impl_->oracle_) {
      if (auto err = new_oracle->start()) {
        log::error("reload rejected; previous configuration still in force",
                   {{"config", path}, {"error", "oracle listener: " + *err}});
        return finish(false);
      }
    }
  }

  // Bind the new admin listener before dropping the old one, so a bad address keeps the old.
  // On the same address it can only be swapped at commit; its TLS files (re-read on every reload,
  // so a renewed certificate takes effect) are checked now.
  std::unique_ptr<admin::HttpServer> new_admin;
  const config::Admin& was = impl_->config_->admin;
  const bool same_listen = next.admin.listen == was.listen;
  const bool rebuild_admin = !same_listen || !next.admin.tls_cert_file.empty() ||
                             !was.tls_cert_file.empty() ||
                             next.admin.max_request_bytes != was.max_request_bytes;
  if (rebuild_admin) {
    new_admin = impl_->make_admin(next);
    auto err = same_listen ? admin::HttpServer::check_tls(admin_options(next)) : new_admin->start();
    if (err) {
      log::error("reload rejected; previous configuration still in force",
                 {{"config", path}, {"error", "admin listener: " + *err}});
      return finish(false);
    }
  }

  // The new engine re-reads every target's live generation before it may write, so swapping it
  // is safe. It keeps what the old one knows of everything defined alike (endpoint health and
  // rise/fall streaks, verdicts, peers' votes, service policies: Engine::start) and continues
  // its probe rounds. The old one stops first: they may share the cluster listener's port. If
  // the new one cannot start, the old configuration is started again, keeping the same.
  impl_->engine_->stop();
  auto engine = std::make_unique<Engine>(impl_->io_, next_shared, impl_->metrics_);
  if (auto err = engine->start(impl_->engine_.get())) {
    engine->stop();
    engine.reset();
    auto previous = std::make_unique<Engine>(impl_->io_, impl_->config_, impl_->metrics_);
    if (auto again = previous->start(impl_->engine_.get())) {
      log::error("cannot restart the previous configuration either", {{"error", *again}});
    }
    impl_->engine_ = std::move(previous);
    impl_->hook_oracle();
    // All or nothing: the previous configuration comes back whole, its tokens included.
    impl_->api_ = std::make_unique<admin::Api>(impl_->engine_->control(), impl_->tokens_,
                                               admin::ApiOptions{impl_->config_->admin.rate_limit_per_second});
    log::error("reload rejected; previous configuration still in force",
               {{"config", path}, {"error", *err}});
    return finish(false);
  }

  // Commit: nothing below can fail.
  impl_->engine_ = std::move(engine);
  impl_->tokens_ = tokens;
  impl_->api_ = std::make_unique<admin::Api>(impl_->engine_->control(), std::move(tokens),
                                             admin::ApiOptions{next.admin.rate_limit_per_second});
  config::Observer logging = next.observer;
  if (impl_->log_format_override_) logging.log_format = *impl_->log_format_override_;
  log::configure(log_options(logging));
  impl_->config_ = std::move(next_shared);
  if (drop_oracle) {
    impl_->oracle_->stop();
    impl_->oracle_.reset();
    impl_->oracle_secret_.clear();
  }
  if (new_oracle) {
    if (impl_->oracle_) {
      impl_->oracle_->stop();
      if (oracle_same_listen) {
        if (auto err = new_oracle->start()) {
          log::error("oracle listener could not be re-opened", {{"error", *err}});
        }
      }
    }
    impl_->oracle_ = std::move(new_oracle);
    impl_->oracle_secret_ = std::move(next_oracle_secret);
    log::info("oracle listening", {{"address", impl_->oracle_->local_address()}});
  }
  impl_->hook_oracle();
  if (new_admin) {
    impl_->admin_->stop();
    if (same_listen) {
      // The old acceptor is closed, so the port is free; should binding fail anyway, say so loudly
      // (/healthz then fails too, which is what a supervisor watches).
      if (auto err = new_admin->start()) {
        log::error("admin listener could not be re-opened", {{"error", *err}});
      }
    }
    impl_->admin_ = std::move(new_admin);
    log::info("admin listening", {{"address", impl_->admin_->local_address()}});
  }
  log::info("configuration reloaded", {{"config", path},
                                       {"regions", impl_->config_->regions.size()},
                                       {"services", impl_->config_->services.size()}});
  return finish(true);
}

void Daemon::override_log_format(config::LogFormat format) {
  impl_->log_format_override_ = format;
}

void Daemon::stop() {
  if (impl_->stopped_) return;
  impl_->stopped_ = true;
  impl_->watchdog_.cancel();
  if (impl_->engine_) impl_->engine_->stop();
  if (impl_->admin_) impl_->admin_->stop();
  if (impl_->oracle_) impl_->oracle_->stop();
}

const config::Config& Daemon::config() const { return *impl_->config_; }

std::string Daemon::admin_address() const {
  return impl_->admin_ ? impl_->admin_->local_address() : host_port(impl_->config_->admin.listen);
}

}  // namespace failoverd::runtime
