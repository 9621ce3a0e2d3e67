#include "oracle/oracle_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <unordered_map>

#include "admin/http_server.h"
#include "config/secrets.h"
#include "log/log.h"
#include "state/atomic_file.h"

namespace failoverd::oracle {

namespace {

constexpr std::size_t kMaxHeaderBytes = 4 * 1024;
constexpr std::size_t kMaxSources = 65536;
// Open files the rest of the daemon may need beside the oracle's connections (probes, admin,
// peers, targets, state, logs).
constexpr rlim_t kReservedFiles = 512;

// "127.0.0.1:53412" -> "127.0.0.1", "[::1]:53412" -> "::1".
std::string source_of(const std::string& peer) {
  if (peer.starts_with("[")) {
    const auto end = peer.find(']');
    return end == std::string::npos ? peer : peer.substr(1, end - 1);
  }
  return peer.substr(0, peer.rfind(':'));
}

std::optional<std::string> ensure_open_files(std::size_t connections) {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::nullopt;  // nothing to go by
  const rlim_t needed = static_cast<rlim_t>(connections) + kReservedFiles;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
    const rlim_t was = lim.rlim_cur;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < needed) {
      return "oracle.max_connections " + std::to_string(connections) + " needs about " +
             std::to_string(needed) + " open files, more than the hard limit " +
             std::to_string(lim.rlim_max) + " (raise LimitNOFILE or lower max_connections)";
    }
    lim.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      return std::string("cannot raise the open-files limit: ") + std::strerror(errno);
    }
    log::info("open-files limit raised for the oracle listener",
              {{"from", static_cast<std::uint64_t>(was)}, {"to", static_cast<std::uint64_t>(needed)}});
  }
  return std::nullopt;
}

}  // namespace

struct OracleServer::Impl {
  Impl(const config::Oracle& c, std::string s, metrics::Metrics& m)
      : config_(c), secret_(std::move(s)), metrics_(m) {}

  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  struct Entry {
    std::string path_secret;
    ServiceDecision decision;
  };

  const config::Oracle config_;
  const std::string secret_;
  metrics::Metrics& metrics_;
  std::unique_ptr<admin::HttpServer> server_;
  std::map<std::string, Entry, std::less<>> services_;
  std::unordered_map<std::string, Bucket> buckets_;

  bool take_token(const std::string& source, Clock::time_point now) {
    const double rate = config_.rate_limit_per_source;
    const double burst = config_.rate_limit_burst;
    auto it = buckets_.find(source);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kMaxSources) sweep(now);
      it = buckets_.emplace(source, Bucket{burst, now}).first;
    } else {
      const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
      it->second.tokens = std::min(burst, it->second.tokens + elapsed * rate);
      it->second.last = now;
    }
    if (it->second.tokens < 1.0) return false;
    it->second.tokens -= 1.0;
    return true;
  }

  // Drops the buckets that have refilled (they hold nothing a new one would not); if every
  // source is still busy, forgets them all rather than grow without bound.
  void sweep(Clock::time_point now) {
    const double rate = config_.rate_limit_per_source;
    const double burst = config_.rate_limit_burst;
    std::erase_if(buckets_, [&](const auto& kv) {
      const double elapsed = std::chrono::duration<double>(now - kv.second.last).count();
      return kv.second.tokens + elapsed * rate >= burst;
    });
    if (buckets_.size() >= kMaxSources) buckets_.clear();
  }

  admin::Response handle(const admin::Request& req) {
    const auto now = Clock::now();
    admin::Response r;
    r.headers.emplace_back("Cache-Control", "no-store");
    if (!take_token(source_of(req.peer), now)) {
      r.status = 429;
      r.body = "too many requests\n";
      r.headers.emplace_back("Retry-After", "1");
    } else if (req.method != "GET" && req.method != "HEAD") {
      r.status = 405;
      r.body = "method not allowed\n";
      r.headers.emplace_back("Allow", "GET, HEAD");
    } else {
      r.status = 404;
      r.body = "not found\n";
      if (auto route = parse_route(req.target)) {
        auto it = services_.find(route->service);
        if (it != services_.end() && same_secret(route->secret, it->second.path_secret)) {
          Answer a = answer(it->second.decision, route->region, now);
          r.status = a.status;
          r.body = std::move(a.body);
        }
      }
    }
    metrics_.oracle_request(r.status);
    log::debug("oracle request", {{"peer", req.peer},
                                  {"method", req.method.substr(0, 16)},
                                  {"path", redact(req.target)},
                                  {"status", r.status}});
    return r;
  }
};

OracleServer::OracleServer(boost::asio::io_context& io, const config::Oracle& config,
                           std::string secret, metrics::Metrics& metrics)
    : impl_(std::make_shared<Impl>(config, std::move(secret), metrics)) {
  metrics.oracle_counters();
  admin::ServerOptions o;
  o.listen = config.listen;
  o.max_header_bytes = kMaxHeaderBytes;
  o.max_body_bytes = 0;
  o.header_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.request_timeout);
  o.io_timeout = o.header_timeout;
  o.max_connections = config.max_connections;
  o.max_connections_per_client = config.max_connections_per_source;
  o.tls_cert_file = config.cert_file;
  o.tls_key_file = config.key_file;
  Impl* im = impl_.get();
  o.on_refused = [im](unsigned status) { im->metrics_.oracle_request(status); };
  impl_->server_ = std::make_unique<admin::HttpServer>(
      io, std::move(o), [im](const admin::Request& req) { return im->handle(req); });
}

OracleServer::~OracleServer() { stop(); }

std::optional<std::string> OracleServer::start() {
  if (auto err = ensure_open_files(impl_->config_.max_connections)) return err;
  if (auto err = impl_->server_->start()) return err;
  for (const auto& [name, entry] : impl_->services_) {
    log::info("oracle url", {{"service", name},
                             {"url", "/v1/oracle/" + name + "/<redacted>/<region>"}});
  }
  return std::nullopt;
}

void OracleServer::stop() {
  if (impl_ && impl_->server_) impl_->server_->stop();
}

std::string OracleServer::local_address() const { return impl_->server_->local_address(); }

std::size_t OracleServer::open_connections() const { return impl_->server_->open_connections(); }

void OracleServer::publish(std::vector<ServiceDecision> decisions) {
  std::map<std::string, Impl::Entry, std::less<>> next;
  for (auto& d : decisions) {
    auto old = impl_->services_.find(d.service);
    const ServiceDecision* previous = old == impl_->services_.end() ? nullptr : &old->second.decision;
    std::string secret = old == impl_->services_.end() ? path_secret(impl_->secret_, d.service)
                                                       : old->second.path_secret;
    std::string name = d.service;
    next.emplace(std::move(name), Impl::Entry{std::move(secret), merge(previous, std::move(d))});
  }
  impl_->services_ = std::move(next);
}

std::optional<std::string> OracleServer::read_secret(const std::string& file, std::string& out) {
  auto read = state::read_file(file, 64 * 1024);
  if (!read.contents) {
    return "oracle path_secret_file " + file + ": " + (read.missing ? "missing" : read.error);
  }
  auto line = config::parse_line_secret(*read.contents);
  if (!line || line->size() < config::kMinTokenLength) {
    return "oracle path_secret_file " + file + ": must hold one line of at least " +
           std::to_string(config::kMinTokenLength) + " characters";
  }
  out = *line;
  return std::nullopt;
}

}  // namespace failoverd::oracle
