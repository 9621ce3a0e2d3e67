#include "peer/message.h"

#include <doctest/doctest.h>

using namespace failoverd;

namespace {

peer::PeerMessage sample() {
  peer::PeerMessage m;
  m.observer = core::ObserverId("obs-a");
  m.boot_id = 0x3f9a0c1d2e4b5a69ULL;
  m.sequence = 17;
  m.config_fingerprint = std::string(64, 'a');
  m.sent_unix_ms = 1795000000000;
  m.verdicts = {{core::RegionId("use1"), core::Verdict::Down, "2 of 3 endpoints down"},
                {core::RegionId("euw1"), core::Verdict::Up, ""}};
  return m;
}

// Replaces the first occurrence of `from` in the encoded sample by `to`.
std::string edited(std::string_view from, std::string_view to) {
  std::string s = peer::encode(sample());
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

void check_refused(const std::string& text, std::string_view expected_part) {
  auto d = peer::decode(text);
  CHECK_FALSE(d.ok());
  INFO("error: ", d.error);
  CHECK(d.error.find(expected_part) != std::string::npos);
}

config::Config sample_config() {
  config::Config c;
  c.observer.id = core::ObserverId("obs-a");
  config::Cluster cluster;
  cluster.peers = {{core::ObserverId("obs-b"), {"10.0.0.2", 8650}},
                   {core::ObserverId("obs-c"), {"10.0.0.3", 8650}}};
  c.cluster = cluster;
  config::Region r1;
  r1.name = core::RegionId("use1");
  config::Endpoint e;
  e.name = core::EndpointId("web1");
  e.kind = config::ProbeKind::Https;
  e.http.url = "https://use1.example/healthz";
  r1.endpoints.push_back(e);
  config::Region r2 = r1;
  r2.name = core::RegionId("euw1");
  c.regions = {r1, r2};
  config::Service s;
  s.name = core::ServiceId("www");
  s.regions = {core::RegionId("use1"), core::RegionId("euw1")};
  s.target.rfc2136.zone = "example.com.";
  s.target.rfc2136.tsig_secret_file = "/etc/failoverd/tsig.key";
  c.services = {s};
  return c;
}

}  // namespace

TEST_SUITE("peer.message") {
  TEST_CASE("a message survives encode then decode unchanged") {
    auto m = sample();
    auto d = peer::decode(peer::encode(m));
    REQUIRE_MESSAGE(d.ok(), d.error);
    CHECK(*d.message == m);
  }

  TEST_CASE("the encoding has the documented shape") {
    auto text = peer::encode(sample());
    CHECK(text.rfind(R"({"v":1,"observer":"obs-a","boot_id":"3f9a0c1d2e4b5a69","sequence":17,)",
                     0) == 0);
    CHECK(
        text.find(
            R"("verdicts":[{"region":"use1","verdict":"down","reason":"2 of 3 endpoints down"})") !=
        std::string::npos);
  }

  TEST_CASE("extreme but valid values round-trip") {
    auto m = sample();
    m.boot_id = ~0ULL;
    m.sequence = ~0ULL;
    m.sent_unix_ms = 0;
    m.verdicts.clear();
    auto d = peer::decode(peer::encode(m));
    REQUIRE_MESSAGE(d.ok(), d.error);
    CHECK(*d.message == m);
  }

  TEST_CASE("every verdict word decodes") {
    for (auto v : {core::Verdict::Unknown, core::Verdict::Up, core::Verdict::Degraded,
                   core::Verdict::Down}) {
      CHECK(peer::parse_verdict(core::to_string(v)) == v);
    }
    CHECK_FALSE(peer::parse_verdict("DOWN").has_value());
  }

  TEST_CASE("malformed input is refused with a reason that names the problem") {
    SUBCASE("too large") {
      check_refused(std::string(peer::kMaxMessageBytes + 1, ' '), "limit");
    }
    SUBCASE("empty") {
      check_refused("", "not valid JSON");
    }
    SUBCASE("garbage") {
      check_refused("\x01\x02garbage", "not valid JSON");
    }
    SUBCASE("truncated") {
      auto s = peer::encode(sample());
      check_refused(s.substr(0, s.size() / 2), "not valid JSON");
    }
    SUBCASE("trailing data") {
      check_refused(peer::encode(sample()) + "{}", "not valid JSON");
    }
    SUBCASE("not an object") {
      check_refused("[1,2]", "expected a JSON object, got an array");
    }
    SUBCASE("too deep") {
      check_refused(edited(R"("reason":"")", R"("reason":[[[[1]]]])"), "JSON");
    }
    SUBCASE("unknown field") {
      check_refused(edited(R"("v":1)", R"("v":1,"extra":true)"), "unknown field 'extra'");
    }
    SUBCASE("missing field") {
      check_refused(edited(R"("sequence":17,)", ""), "missing field 'sequence'");
    }
    SUBCASE("wrong version") {
      check_refused(edited(R"("v":1)", R"("v":2)"), "unsupported message version 2");
    }
    SUBCASE("version as string") {
      check_refused(edited(R"("v":1)", R"("v":"1")"), "'v' must be an integer");
    }
    SUBCASE("bad observer id") {
      check_refused(edited("obs-a", "obs a"), "field 'observer'");
    }
    SUBCASE("empty observer id") {
      check_refused(edited(R"("obs-a")", R"("")"), "field 'observer'");
    }
    SUBCASE("short boot id") {
      check_refused(edited("3f9a0c1d2e4b5a69", "3f9a"), "boot_id");
    }
    SUBCASE("upper-case boot id") {
      check_refused(edited("3f9a0c1d2e4b5a69", "3F9A0C1D2E4B5A69"), "boot_id");
    }
    SUBCASE("sequence zero") {
      check_refused(edited(R"("sequence":17)", R"("sequence":0)"), "sequence");
    }
    SUBCASE("negative sequence") {
      check_refused(edited(R"("sequence":17)", R"("sequence":-1)"), "sequence");
    }
    SUBCASE("fractional sequence") {
      check_refused(edited(R"("sequence":17)", R"("sequence":1.5)"), "sequence");
    }
    SUBCASE("sequence too large") {
      check_refused(edited(R"("sequence":17)", R"("sequence":18446744073709551616)"), "sequence");
    }
    SUBCASE("bad fingerprint") {
      check_refused(edited(std::string(64, 'a'), "abc"), "config_fingerprint");
    }
    SUBCASE("negative time") {
      check_refused(edited(R"("sent_unix_ms":1795000000000)", R"("sent_unix_ms":-5)"),
                    "sent_unix_ms");
    }
    SUBCASE("verdicts not an array") {
      check_refused(edited(R"("verdicts":[)", R"("verdicts":{"x":[)") + "}", "must be an array");
    }
    SUBCASE("verdict entry not an object") {
      check_refused(edited(R"("verdicts":[)", R"("verdicts":[1,)"),
                    "expected an object in verdicts[0]");
    }
    SUBCASE("unknown verdict word") {
      check_refused(edited(R"("down")", R"("dead")"), "verdicts[0]");
    }
    SUBCASE("bad region id") {
      check_refused(edited(R"("use1")", R"("use/1")"), "field 'region' in verdicts[0]");
    }
    SUBCASE("duplicate region") {
      check_refused(edited(R"("euw1")", R"("use1")"), "appears twice");
    }
    SUBCASE("reason too long") {
      check_refused(edited("2 of 3 endpoints down", std::string(peer::kMaxReasonBytes + 1, 'x')),
                    "longer than");
    }
    SUBCASE("invalid UTF-8 in a string") {
      check_refused(edited("2 of 3", "2 \xff 3"), "not valid JSON");
    }
    SUBCASE("extra field in a verdict") {
      check_refused(edited(R"("reason":"")", R"("reason":"","weight":1)"),
                    "unknown field 'weight' in verdicts[1]");
    }
  }

  TEST_CASE("clamp_reason cuts long reasons on a character boundary") {
    CHECK(peer::clamp_reason("short") == "short");
    std::string s(peer::kMaxReasonBytes - 1, 'a');
    s += "\xc3\xa9\xc3\xa9";  // "éé": the first one straddles the limit
    auto clamped = peer::clamp_reason(s);
    CHECK(clamped == std::string(peer::kMaxReasonBytes - 1, 'a'));
    auto m = sample();
    m.verdicts[0].reason = peer::clamp_reason(std::string(peer::kMaxReasonBytes, 'b') + "\xc3\xa9");
    CHECK(peer::decode(peer::encode(m)).ok());
  }

  TEST_CASE("too many regions are refused") {
    auto m = sample();
    m.verdicts.clear();
    for (std::size_t i = 0; i <= peer::kMaxRegions; ++i) {
      m.verdicts.push_back({core::RegionId("r" + std::to_string(i)), core::Verdict::Up, ""});
    }
    auto d = peer::decode(peer::encode(m));
    CHECK_FALSE(d.ok());
    CHECK(d.error.find("over the limit") != std::string::npos);
  }

  TEST_CASE("the error text escapes control bytes and stays short") {
    auto d = peer::decode(edited(R"("obs-a")", "\"" + std::string(500, 'z') + "\\n\""));
    CHECK_FALSE(d.ok());
    CHECK(d.error.size() < 200);
    CHECK(d.error.find('\n') == std::string::npos);
  }
}

TEST_SUITE("peer.fingerprint") {
  TEST_CASE("the fingerprint is a SHA-256 hex digest and is stable") {
    auto fp = peer::config_fingerprint(sample_config());
    CHECK(fp.size() == 64);
    CHECK(fp == peer::config_fingerprint(sample_config()));
  }

  TEST_CASE("host-local settings do not change the fingerprint") {
    auto base = peer::config_fingerprint(sample_config());
    auto c = sample_config();
    SUBCASE("another observer of the same cluster") {
      // obs-b sees obs-a as a peer and itself as the observer: the same set of observers.
      c.observer.id = core::ObserverId("obs-b");
      c.cluster->peers[0].id = core::ObserverId("obs-a");
    }
    SUBCASE("listen addresses and TLS files") {
      c.cluster->listen.port = 9999;
      c.cluster->cert_file = "/etc/other.pem";
      c.admin.listen.port = 1;
    }
    SUBCASE("secret file paths") {
      c.services[0].target.rfc2136.tsig_secret_file = "/elsewhere";
    }
    SUBCASE("order of regions in the file") {
      std::swap(c.regions[0], c.regions[1]);
    }
    SUBCASE("control endpoints") {
      c.control.push_back(c.regions[0].endpoints[0]);
    }
    CHECK(peer::config_fingerprint(c) == base);
  }

  TEST_CASE("settings every observer must share change the fingerprint") {
    auto base = peer::config_fingerprint(sample_config());
    auto c = sample_config();
    SUBCASE("an endpoint URL") {
      c.regions[0].endpoints[0].http.url = "https://other/";
    }
    SUBCASE("an endpoint's fall count") {
      c.regions[0].endpoints[0].fall = 9;
    }
    SUBCASE("a region's min_up") {
      c.regions[1].min_up = 2;
    }
    SUBCASE("a region added") {
      c.regions.push_back(c.regions[0]), c.regions.back().name = core::RegionId("x");
    }
    SUBCASE("the quorum") {
      c.cluster->quorum = 3;
    }
    SUBCASE("the set of observers") {
      c.cluster->peers.pop_back();
    }
    SUBCASE("service region order") {
      std::swap(c.services[0].regions[0], c.services[0].regions[1]);
    }
    SUBCASE("the target zone") {
      c.services[0].target.rfc2136.zone = "example.net.";
    }
    CHECK(peer::config_fingerprint(c) != base);
  }
}
