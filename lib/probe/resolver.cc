#include "probe/resolver.h"

#include <ares.h>
#include <ares_nameser.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cstring>
#include <optional>

#include "probe/ares_channel.h"

namespace failoverd::probe {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------------------
// AddressCache

const AddressCache::Entry* AddressCache::find(const std::string& name, core::TimePoint now) {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  if (now >= it->second->second.expires) {
    lru_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->second;
}

void AddressCache::insert(const std::string& name, Entry entry) {
  if (max_entries_ == 0) return;
  auto it = index_.find(name);
  if (it != index_.end()) {
    it->second->second = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(name, std::move(entry));
  index_.emplace(name, lru_.begin());
  while (index_.size() > max_entries_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

std::string normalize_host_name(std::string_view name) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resolver

namespace {

constexpr int kMaxAddresses = 64;  // per family and reply; more is not useful to a prober

// What one family's query (A or AAAA) produced.
struct FamilyAnswer {
  enum class Kind { Addresses, NoName, NoData, Timeout, Failed } kind = Kind::Failed;
  std::vector<asio::ip::address> addresses;
  std::uint32_t ttl = 0;
  std::string detail;
};

FamilyAnswer read_family_reply(int status, std::span<const std::uint8_t> reply, bool v4) {
  using Kind = FamilyAnswer::Kind;
  FamilyAnswer out;
  if (status == ares_status::kTimeout) {
    out.kind = Kind::Timeout;
    out.detail = "timeout";
    return out;
  }
  if (status != ARES_SUCCESS) {
    out.detail = ares_status_text(status);
    return out;
  }
  if (reply.size() < 12) {
    out.detail = "short reply";
    return out;
  }
  const int rcode = reply[3] & 0x0F;
  if (rcode == ns_r_nxdomain) {
    out.kind = Kind::NoName;
    out.detail = "NXDOMAIN";
    return out;
  }
  if (rcode != ns_r_noerror) {
    out.detail = "rcode " + std::to_string(rcode);
    return out;
  }
  int n = kMaxAddresses;
  int rc = ARES_SUCCESS;
  const auto len = static_cast<int>(reply.size());
  if (v4) {
    std::array<ares_addrttl, kMaxAddresses> ttls{};
    rc = ares_parse_a_reply(reply.data(), len, nullptr, ttls.data(), &n);
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      asio::ip::address_v4::bytes_type b{};
      std::memcpy(b.data(), &ttls[static_cast<std::size_t>(i)].ipaddr, b.size());
      out.addresses.emplace_back(asio::ip::address_v4(b));
      const int ttl = ttls[static_cast<std::size_t>(i)].ttl;
      const auto t = static_cast<std::uint32_t>(std::max(0, ttl));
      out.ttl = i == 0 ? t : std::min(out.ttl, t);
    }
  } else {
    std::array<ares_addr6ttl, kMaxAddresses> ttls{};
    rc = ares_parse_aaaa_reply(reply.data(), len, nullptr, ttls.data(), &n);
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      asio::ip::address_v6::bytes_type b{};
      std::memcpy(b.data(), &ttls[static_cast<std::size_t>(i)].ip6addr, b.size());
      out.addresses.emplace_back(asio::ip::address_v6(b));
      const int ttl = ttls[static_cast<std::size_t>(i)].ttl;
      const auto t = static_cast<std::uint32_t>(std::max(0, ttl));
      out.ttl = i == 0 ? t : std::min(out.ttl, t);
    }
  }
  if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && out.addresses.empty())) {
    out.kind = Kind::NoData;
    out.detail = "no address record";
    return out;
  }
  if (rc != ARES_SUCCESS) {
    out.detail = ares_status_text(rc);
    return out;
  }
  out.kind = Kind::Addresses;
  return out;
}

}  // namespace

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& context, Options o)
      : io(context), options(std::move(o)), cache(options.max_entries) {
    AresChannelOptions c;
    c.servers = options.servers;
    c.timeout = options.timeout;
    c.tries = options.tries;
    c.raw_replies = false;  // let c-ares move on to the next server after SERVFAIL/REFUSED
    channel = std::make_unique<AresChannel>(io, c);
  }

  struct Lookup {
    std::vector<Callback> waiters;
    int outstanding = 0;
    std::optional<FamilyAnswer> v4;
    std::optional<FamilyAnswer> v6;
  };

  asio::io_context& io;
  Options options;
  AddressCache cache;
  std::unordered_map<std::string, std::shared_ptr<Lookup>> pending;
  std::uint64_t queries = 0;
  std::unique_ptr<AresChannel> channel;

  void deliver(std::vector<Callback> waiters, Resolution result) {
    asio::post(
        io, [weak = weak_from_this(), waiters = std::move(waiters), result = std::move(result)]() {
          for (const auto& done : waiters) {
            if (weak.expired()) return;  // a callback destroyed the resolver
            done(result);
          }
        });
  }

  void deliver_one(Callback done, Resolution result) {
    std::vector<Callback> waiters;
    waiters.push_back(std::move(done));
    deliver(std::move(waiters), std::move(result));
  }

  void resolve(std::string_view host_in, Callback done) {
    std::string_view host = host_in;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    const auto literal = asio::ip::make_address(std::string(host), ec);
    if (!ec) {
      deliver_one(std::move(done), {ResolveStatus::Ok, {literal}, "", true});
      return;
    }
    const std::string key = normalize_host_name(host);
    if (key.empty()) {
      deliver_one(std::move(done), {ResolveStatus::Failed, {}, "empty host name", false});
      return;
    }
    if (key == "localhost") {  // RFC 6761: never sent to a server
      Resolution r{ResolveStatus::Ok, {}, "", true};
      if (options.ipv4) r.addresses.push_back(asio::ip::address_v4::loopback());
      if (options.ipv6) r.addresses.push_back(asio::ip::address_v6::loopback());
      deliver_one(std::move(done), std::move(r));
      return;
    }
    if (const auto* hit = cache.find(key, core::Clock::now())) {
      Resolution r{hit->status, hit->addresses, "", true};
      if (hit->status != ResolveStatus::Ok) r.detail = "name not found (cached)";
      deliver_one(std::move(done), std::move(r));
      return;
    }
    if (auto it = pending.find(key); it != pending.end()) {
      it->second->waiters.push_back(std::move(done));
      return;
    }
    auto lookup = std::make_shared<Lookup>();
    lookup->waiters.push_back(std::move(done));
    std::vector<std::pair<bool, std::vector<std::uint8_t>>> queries_to_send;
    if (options.ipv4) queries_to_send.emplace_back(true, make_query(key, ns_t_a, true));
    if (options.ipv6) queries_to_send.emplace_back(false, make_query(key, ns_t_aaaa, true));
    if (queries_to_send.empty() || std::any_of(queries_to_send.begin(), queries_to_send.end(),
                                               [](const auto& q) { return q.second.empty(); })) {
      deliver(std::move(lookup->waiters),
              {ResolveStatus::Failed, {}, "invalid host name " + std::string(host), false});
      return;
    }
    lookup->outstanding = static_cast<int>(queries_to_send.size());
    pending.emplace(key, lookup);
    for (auto& [v4, query] : queries_to_send) {
      ++queries;
      channel->send(query, [weak = weak_from_this(), key, v4 = v4](
                               int status, std::span<const std::uint8_t> reply) {
        auto self = weak.lock();
        if (!self) return;
        self->on_answer(key, v4, read_family_reply(status, reply, v4));
      });
    }
  }

  void on_answer(const std::string& key, bool v4, FamilyAnswer answer) {
    auto it = pending.find(key);
    if (it == pending.end()) return;
    auto lookup = it->second;
    (v4 ? lookup->v4 : lookup->v6) = std::move(answer);
    if (--lookup->outstanding > 0) return;
    pending.erase(it);

    using Kind = FamilyAnswer::Kind;
    Resolution result;
    std::optional<std::uint32_t> ttl;
    bool all_missing = true;  // every family answered NXDOMAIN or NODATA
    bool any_timeout = false;
    std::string detail;
    for (const auto* fa : {&lookup->v4, &lookup->v6}) {
      if (!fa->has_value()) continue;
      const FamilyAnswer& a = **fa;
      if (a.kind == Kind::Addresses) {
        result.addresses.insert(result.addresses.end(), a.addresses.begin(), a.addresses.end());
        ttl = ttl ? std::min(*ttl, a.ttl) : a.ttl;
      }
      if (a.kind != Kind::NoName && a.kind != Kind::NoData) all_missing = false;
      if (a.kind == Kind::Timeout) any_timeout = true;
      if (a.kind != Kind::Addresses && detail.empty()) detail = a.detail;
    }
    const auto now = core::Clock::now();
    if (!result.addresses.empty()) {
      result.status = ResolveStatus::Ok;
      auto life = std::chrono::duration_cast<core::Duration>(std::chrono::seconds(*ttl));
      life = std::clamp(life, options.min_ttl, options.max_ttl);
      if (life > core::Duration::zero()) {
        cache.insert(key, {ResolveStatus::Ok, result.addresses, now + life});
      }
    } else if (all_missing) {
      result.status = ResolveStatus::NotFound;
      result.detail = detail;
      if (options.negative_ttl > core::Duration::zero()) {
        cache.insert(key, {ResolveStatus::NotFound, {}, now + options.negative_ttl});
      }
    } else {
      result.status = any_timeout ? ResolveStatus::Timeout : ResolveStatus::Failed;
      result.detail = detail;
    }
    deliver(std::move(lookup->waiters), std::move(result));
  }
};

Resolver::Resolver(asio::io_context& io) : Resolver(io, Options{}) {}

Resolver::Resolver(asio::io_context& io, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Resolver::~Resolver() = default;

void Resolver::resolve(std::string_view host, Callback done) {
  impl_->resolve(host, std::move(done));
}

std::uint64_t Resolver::queries_sent() const {
  return impl_->queries;
}

std::size_t Resolver::cache_size() const {
  return impl_->cache.size();
}

std::size_t Resolver::pending() const {
  return impl_->pending.size();
}

}  // namespace failoverd::probe
