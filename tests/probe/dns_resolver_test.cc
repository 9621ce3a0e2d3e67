// The resolver's cache (pure, explicit times) and name normalisation.
#include <doctest/doctest.h>

#include "probe/resolver.h"

namespace failoverd::probe {
namespace {

using namespace std::chrono_literals;

AddressCache::Entry entry(const char* address, core::TimePoint expires) {
  return {ResolveStatus::Ok, {boost::asio::ip::make_address(address)}, expires};
}

}  // namespace

TEST_SUITE("probe.dns.resolver") {
  TEST_CASE("names are normalised to lower case without the trailing dot") {
    CHECK(normalize_host_name("WWW.Example.NET.") == "www.example.net");
    CHECK(normalize_host_name("api.example.net") == "api.example.net");
    CHECK(normalize_host_name(".") == ".");
  }

  TEST_CASE("a cached entry lives until its TTL runs out") {
    const core::TimePoint t0{};
    AddressCache cache(10);
    cache.insert("a.test", entry("192.0.2.1", t0 + 30s));
    const auto* hit = cache.find("a.test", t0 + 29s);
    REQUIRE(hit != nullptr);
    CHECK(hit->addresses.at(0).to_string() == "192.0.2.1");
    CHECK(cache.find("a.test", t0 + 30s) == nullptr);  // expired at exactly the TTL
    CHECK(cache.size() == 0);                          // and removed
    CHECK(cache.find("b.test", t0) == nullptr);
  }

  TEST_CASE("a new answer replaces the cached one") {
    const core::TimePoint t0{};
    AddressCache cache(10);
    cache.insert("a.test", entry("192.0.2.1", t0 + 5s));
    cache.insert("a.test", entry("192.0.2.2", t0 + 60s));
    CHECK(cache.size() == 1);
    const auto* hit = cache.find("a.test", t0 + 10s);
    REQUIRE(hit != nullptr);
    CHECK(hit->addresses.at(0).to_string() == "192.0.2.2");
  }

  TEST_CASE("the cache is bounded and drops the least recently used name") {
    const core::TimePoint t0{};
    AddressCache cache(2);
    cache.insert("a.test", entry("192.0.2.1", t0 + 60s));
    cache.insert("b.test", entry("192.0.2.2", t0 + 60s));
    REQUIRE(cache.find("a.test", t0) != nullptr);  // a is now more recent than b
    cache.insert("c.test", entry("192.0.2.3", t0 + 60s));
    CHECK(cache.size() == 2);
    CHECK(cache.find("b.test", t0) == nullptr);
    CHECK(cache.find("a.test", t0) != nullptr);
    CHECK(cache.find("c.test", t0) != nullptr);
  }

  TEST_CASE("a cache of size zero keeps nothing") {
    AddressCache cache(0);
    cache.insert("a.test", entry("192.0.2.1", core::TimePoint{} + 60s));
    CHECK(cache.size() == 0);
  }

  TEST_CASE("negative entries are kept like positive ones") {
    const core::TimePoint t0{};
    AddressCache cache(4);
    cache.insert("gone.test", {ResolveStatus::NotFound, {}, t0 + 5s});
    const auto* hit = cache.find("gone.test", t0 + 1s);
    REQUIRE(hit != nullptr);
    CHECK(hit->status == ResolveStatus::NotFound);
    CHECK(hit->addresses.empty());
  }
}

}  // namespace failoverd::probe
