// Host name resolution (A and AAAA) with c-ares on the caller's io_context, and a cache that
// honours the records' TTLs.
//
//   probe::Resolver resolver(io, {.servers = "127.0.0.1:5300"});
//   resolver.resolve("api.example.net", [](const probe::Resolution& r) { ... });
//
// Never blocks. Concurrent lookups of one name share one pair of queries. The cache is bounded
// (least recently used entries go first); a name that does not exist is cached for negative_ttl.
// No hosts file and no search domains: names are looked up as given (absolute); IP literals and
// "localhost" are answered without a query.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/types.h"

namespace boost::asio {
class io_context;
}

namespace failoverd::probe {

enum class ResolveStatus {
  Ok,        // at least one address
  NotFound,  // NXDOMAIN, or the name has no A/AAAA record
  Timeout,   // no server answered in time
  Failed,    // SERVFAIL, REFUSED, a malformed reply, a local error
};

struct Resolution {
  ResolveStatus status = ResolveStatus::Failed;
  std::vector<boost::asio::ip::address> addresses;  // A records first, then AAAA; Ok only
  std::string detail;                               // why it failed, for logs
  bool from_cache = false;
};

// The resolver's cache, pure: the caller passes the time. Keys are names as the resolver
// normalises them (lower case, no trailing dot).
class AddressCache {
 public:
  struct Entry {
    ResolveStatus status = ResolveStatus::Ok;  // Ok or NotFound (negative entry)
    std::vector<boost::asio::ip::address> addresses;
    core::TimePoint expires{};
  };

  explicit AddressCache(std::size_t max_entries) : max_entries_(max_entries) {}

  // The live entry for name, or nullptr. An expired entry is removed. A hit becomes the most
  // recently used entry.
  const Entry* find(const std::string& name, core::TimePoint now);
  // Adds or replaces; beyond max_entries the least recently used entry is dropped.
  void insert(const std::string& name, Entry entry);
  std::size_t size() const { return index_.size(); }

 private:
  using Lru = std::list<std::pair<std::string, Entry>>;
  std::size_t max_entries_;
  Lru lru_;  // front: most recently used
  std::unordered_map<std::string, Lru::iterator> index_;
};

// Lower case, trailing dot removed: "WWW.Example.NET." -> "www.example.net".
std::string normalize_host_name(std::string_view name);

class Resolver {
 public:
  struct Options {
    std::string servers;  // c-ares CSV, "127.0.0.1:5300,[::1]:53"; empty: /etc/resolv.conf
    std::chrono::milliseconds timeout{1000};  // per try
    int tries = 2;
    bool ipv4 = true;  // ask A
    bool ipv6 = true;  // ask AAAA
    std::size_t max_entries = 10000;
    core::Duration min_ttl = std::chrono::seconds(0);  // TTLs are clamped into [min, max]
    core::Duration max_ttl = std::chrono::hours(1);
    core::Duration negative_ttl = std::chrono::seconds(5);
  };
  using Callback = std::function<void(const Resolution&)>;

  // Throws std::runtime_error when the server list is invalid (configuration boundary).
  explicit Resolver(boost::asio::io_context& io);
  Resolver(boost::asio::io_context& io, Options options);
  // Abandons lookups in flight: their callbacks are never called.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Resolves host. `done` runs exactly once (unless the resolver is destroyed first), always later
  // through the io_context, never from inside resolve(). io_context thread only.
  void resolve(std::string_view host, Callback done);

  std::uint64_t queries_sent() const;  // DNS queries put on the wire since construction
  std::size_t cache_size() const;
  std::size_t pending() const;  // names being looked up now

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace failoverd::probe
