#include "actuate/powerdns.h"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "actuate/http_client.h"

namespace json = boost::json;
using namespace failoverd;
using namespace failoverd::actuate;

namespace {

config::PowerDnsTarget target() {
  config::PowerDnsTarget t;
  t.api_url = "http://127.0.0.1:8081";
  t.zone = "example.test.";
  t.name = "www.example.test.";
  t.type = "A";
  t.ttl = 30;
  return t;
}

core::Plan plan(core::Generation gen, std::vector<std::pair<std::string, std::uint32_t>> members) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = gen - 1;
  p.generation = gen;
  for (auto& [v, w] : members) p.members.push_back({core::RegionId("r"), v, w});
  return p;
}

// A zone as PowerDNS 4.7.3 returns it (captured, shortened).
constexpr const char* kZone = R"({"account": "", "api_rectify": false, "dnssec": false,
 "id": "example.test.", "kind": "Native", "name": "example.test.", "serial": 2026112304,
 "rrsets": [
  {"comments": [], "name": "www.example.test.", "records": [
     {"content": "192.0.2.2", "disabled": false}, {"content": "192.0.2.1", "disabled": false},
     {"content": "192.0.2.9", "disabled": true}], "ttl": 30, "type": "A"},
  {"comments": [], "name": "_failoverd.www.example.test.", "records": [
     {"content": "\"gen=42 writer=obs-a\"", "disabled": false}], "ttl": 30, "type": "TXT"},
  {"comments": [], "name": "other.example.test.", "records": [
     {"content": "192.0.2.77", "disabled": false}], "ttl": 30, "type": "A"},
  {"comments": [], "name": "example.test.", "records": [
     {"content": "a.misconfigured.dns.server.invalid. hostmaster.example.test. 2026112304 10800 3600 604800 3600",
      "disabled": false}], "ttl": 3600, "type": "SOA"}],
 "url": "/api/v1/servers/localhost/zones/example.test."})";

}  // namespace

TEST_SUITE("actuate.powerdns") {
  TEST_CASE("the fence TXT round-trips generation and writer") {
    CHECK(pdns::encode_fence({42, "obs-a"}) == "\"gen=42 writer=obs-a\"");
    auto f = pdns::parse_fence("\"gen=42 writer=obs-a\"");
    REQUIRE(f);
    CHECK(f->generation == 42);
    CHECK(f->writer == "obs-a");
    SUBCASE("an operator's move records its trigger") {
      const Fence manual{8, "obs-c", failoverd::core::Trigger::Manual};
      CHECK(pdns::encode_fence(manual) == "\"gen=8 writer=obs-c trigger=manual\"");
      CHECK(pdns::parse_fence(pdns::encode_fence(manual)) == manual);
      CHECK_FALSE(pdns::parse_fence("\"gen=8 writer=obs-c trigger=sometimes\""));
    }
    SUBCASE("without quotes and in another order") {
      auto g = pdns::parse_fence("writer=obs-b gen=7");
      REQUIRE(g);
      CHECK(*g == Fence{7, "obs-b"});
    }
    SUBCASE("malformed fences are rejected") {
      CHECK_FALSE(pdns::parse_fence("\"writer=obs-a\""));
      CHECK_FALSE(pdns::parse_fence("\"gen=x writer=obs-a\""));
      CHECK_FALSE(pdns::parse_fence("\"gen=-1\""));
      CHECK_FALSE(pdns::parse_fence(""));
    }
  }

  TEST_CASE("the fence name defaults to _failoverd. plus the managed name") {
    auto t = target();
    CHECK(pdns::fence_name_for(t) == "_failoverd.www.example.test.");
    t.fence_name = "Fence.Example.Test";
    CHECK(pdns::fence_name_for(t) == "fence.example.test.");
    CHECK(pdns::canonical_name("WWW.Example.Test") == "www.example.test.");
  }

  TEST_CASE("weighted members encode as a LUA pickwrandom and parse back") {
    auto p = plan(2, {{"192.0.2.10", 70}, {"198.51.100.10", 30}});
    auto content = pdns::encode_pickwrandom("A", p.members);
    REQUIRE(content);
    CHECK(*content == "A \"pickwrandom({{70, '192.0.2.10'}, {30, '198.51.100.10'}})\"");
    auto back = pdns::parse_pickwrandom("A", *content);
    REQUIRE(back);
    CHECK(*back == std::vector<LiveMember>{{"192.0.2.10", 70}, {"198.51.100.10", 30}});
    SUBCASE("IPv6 members") {
      auto v6 = pdns::encode_pickwrandom("aaaa", plan(2, {{"2001:db8::1", 1}}).members);
      REQUIRE(v6);
      CHECK(*v6 == "AAAA \"pickwrandom({{1, '2001:db8::1'}})\"");
    }
    SUBCASE("anything that is not an address literal is refused (it would be LUA code)") {
      CHECK_FALSE(
          pdns::encode_pickwrandom("A", plan(2, {{"1.2.3.4'}}) os.exit() --", 1}}).members));
      CHECK_FALSE(pdns::encode_pickwrandom("A", plan(2, {{"192.0.2.1", 0}}).members));
      CHECK_FALSE(pdns::encode_pickwrandom("CNAME", plan(2, {{"192.0.2.1", 1}}).members));
      CHECK_FALSE(pdns::encode_pickwrandom("A", {}));
    }
    SUBCASE("foreign LUA snippets are not mistaken for ours") {
      CHECK_FALSE(pdns::parse_pickwrandom("A", "A \"ifportup(443, {'192.0.2.1'})\""));
      CHECK_FALSE(pdns::parse_pickwrandom("A", "AAAA \"pickwrandom({{1, '2001:db8::1'}})\""));
      CHECK_FALSE(pdns::parse_pickwrandom("A", "A \"pickwrandom({})\""));
    }
  }

  TEST_CASE("the PATCH body replaces the managed RRset and the fence in one request") {
    auto t = target();
    std::string error;
    SUBCASE("priority: plain A records, the LUA form deleted") {
      auto body = pdns::build_patch_body(t, false, plan(43, {{"192.0.2.2", 1}, {"192.0.2.1", 1}}),
                                         "obs-a", error);
      REQUIRE(body);
      auto doc = json::parse(*body);
      const auto& rrsets = doc.at("rrsets").as_array();
      REQUIRE(rrsets.size() == 3);
      CHECK(rrsets[0].at("name") == "www.example.test.");
      CHECK(rrsets[0].at("type") == "A");
      CHECK(rrsets[0].at("changetype") == "REPLACE");
      CHECK(rrsets[0].at("ttl") == 30);
      const auto& records = rrsets[0].at("records").as_array();
      REQUIRE(records.size() == 2);
      CHECK(records[0].at("content") == "192.0.2.1");
      CHECK(records[1].at("content") == "192.0.2.2");
      CHECK(records[0].at("disabled") == false);
      CHECK(rrsets[1].at("type") == "LUA");
      CHECK(rrsets[1].at("changetype") == "DELETE");
      CHECK(rrsets[2].at("name") == "_failoverd.www.example.test.");
      CHECK(rrsets[2].at("type") == "TXT");
      CHECK(rrsets[2].at("changetype") == "REPLACE");
      CHECK(rrsets[2].at("records").as_array()[0].at("content") == "\"gen=43 writer=obs-a\"");
    }
    SUBCASE("weighted: one LUA record, the plain form deleted") {
      auto body = pdns::build_patch_body(t, true, plan(5, {{"192.0.2.1", 3}, {"192.0.2.2", 1}}),
                                         "obs-b", error);
      REQUIRE(body);
      auto doc = json::parse(*body);
      const auto& rrsets = doc.at("rrsets").as_array();
      REQUIRE(rrsets.size() == 3);
      CHECK(rrsets[0].at("type") == "LUA");
      CHECK(rrsets[0].at("records").as_array()[0].at("content") ==
            "A \"pickwrandom({{3, '192.0.2.1'}, {1, '192.0.2.2'}})\"");
      CHECK(rrsets[1].at("type") == "A");
      CHECK(rrsets[1].at("changetype") == "DELETE");
      CHECK(rrsets[2].at("records").as_array()[0].at("content") == "\"gen=5 writer=obs-b\"");
    }
    SUBCASE("an empty plan or a zero total weight is never encoded (never empty)") {
      CHECK_FALSE(pdns::build_patch_body(t, false, plan(2, {}), "obs-a", error));
      CHECK(error.find("empty") != std::string::npos);
      CHECK_FALSE(pdns::build_patch_body(t, true, plan(2, {{"192.0.2.1", 0}}), "obs-a", error));
    }
    SUBCASE("weighted mode needs an address type") {
      t.type = "CNAME";
      CHECK_FALSE(pdns::build_patch_body(t, true, plan(2, {{"a.example.", 1}}), "obs-a", error));
    }
  }

  TEST_CASE("a zone reply gives the managed members, the fence and the serial") {
    auto r = pdns::parse_zone(kZone, target());
    REQUIRE(r.status == ReadStatus::Ok);
    CHECK(r.state.members == std::vector<LiveMember>{{"192.0.2.1", 1}, {"192.0.2.2", 1}});
    REQUIRE(r.state.fence);
    CHECK(*r.state.fence == Fence{42, "obs-a"});
    CHECK(r.state.serial == 2026112304u);

    SUBCASE("names compare without case and without the trailing dot") {
      auto t = target();
      t.name = "WWW.example.test";
      auto r2 = pdns::parse_zone(kZone, t);
      CHECK(r2.state.members.size() == 2);
      CHECK(r2.state.fence);
    }
    SUBCASE("a LUA pickwrandom record gives weighted members") {
      std::string zone = R"({"serial": 1, "rrsets": [{"name": "www.example.test.", "type": "LUA",
        "ttl": 30, "records": [{"content": "A \"pickwrandom({{70, '192.0.2.10'}, {30, '198.51.100.10'}})\"",
        "disabled": false}]}]})";
      auto w = pdns::parse_zone(zone, target());
      REQUIRE(w.status == ReadStatus::Ok);
      CHECK(w.state.members == std::vector<LiveMember>{{"192.0.2.10", 70}, {"198.51.100.10", 30}});
      CHECK_FALSE(w.state.fence);
    }
    SUBCASE("malformed input is an error, not an empty set") {
      CHECK(pdns::parse_zone("not json", target()).status == ReadStatus::Error);
      CHECK(pdns::parse_zone("[]", target()).status == ReadStatus::Error);
      CHECK(pdns::parse_zone(R"({"rrsets": 3})", target()).status == ReadStatus::Error);
      CHECK(pdns::parse_zone(R"({"rrsets": [{"name": "_failoverd.www.example.test.", "type": "TXT",
        "records": [{"content": "\"junk\"", "disabled": false}]}]})",
                             target())
                .status == ReadStatus::Error);
      CHECK(pdns::parse_zone(R"({"rrsets": [{"name": "www.example.test.", "type": "LUA",
        "records": [{"content": "A \"os.exit()\"", "disabled": false}]}]})",
                             target())
                .status == ReadStatus::Error);
    }
    SUBCASE("a zone without the records reads as empty with no fence") {
      auto e = pdns::parse_zone(R"({"rrsets": []})", target());
      CHECK(e.status == ReadStatus::Ok);
      CHECK(e.state.members.empty());
      CHECK_FALSE(e.state.fence);
    }
  }

  TEST_CASE("PATCH statuses map to write outcomes") {
    CHECK(pdns::classify_patch_status(204) == WriteStatus::Applied);
    CHECK(pdns::classify_patch_status(200) == WriteStatus::Applied);
    CHECK(pdns::classify_patch_status(401) == WriteStatus::Refused);
    CHECK(pdns::classify_patch_status(403) == WriteStatus::Refused);
    CHECK(pdns::classify_patch_status(404) == WriteStatus::Refused);
    CHECK(pdns::classify_patch_status(422) == WriteStatus::Invalid);
    CHECK(pdns::classify_patch_status(400) == WriteStatus::Invalid);
    CHECK(pdns::classify_patch_status(500) == WriteStatus::Unknown);
    CHECK(pdns::classify_patch_status(503) == WriteStatus::Unknown);
  }

  TEST_CASE("API URLs are parsed strictly") {
    auto u = parse_http_url("http://127.0.0.1:8081");
    REQUIRE(u);
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 8081);
    CHECK(u->base_path.empty());
    auto v = parse_http_url("http://[::1]:80/pdns/");
    REQUIRE(v);
    CHECK(v->host == "::1");
    CHECK(v->base_path == "/pdns");
    CHECK(parse_http_url("http://localhost")->port == 80);
    CHECK_FALSE(parse_http_url("https://127.0.0.1:8081"));
    CHECK_FALSE(parse_http_url("http://127.0.0.1:99999"));
    CHECK_FALSE(parse_http_url("http://:80"));
  }
}
