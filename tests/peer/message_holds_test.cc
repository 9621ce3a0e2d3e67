// The peer message's optional "holds" field: round trip, compatibility with messages that have
// none, and the bounds decode() enforces on hostile input.
#include <doctest/doctest.h>

#include "peer/message.h"

using namespace failoverd;

namespace {

peer::PeerMessage with_holds() {
  peer::PeerMessage m;
  m.observer = core::ObserverId("obs-b");
  m.boot_id = 0x0123456789abcdefULL;
  m.sequence = 4;
  m.config_fingerprint = std::string(64, 'f');
  m.sent_unix_ms = 1795000000000;
  m.verdicts = {{core::RegionId("r1"), core::Verdict::Up, ""}};
  peer::ServiceHolds www;
  www.service = core::ServiceId("www");
  www.state.version = 7;
  www.state.author = core::ObserverId("obs-a");
  www.state.action = core::HoldChange::Pin;
  www.state.who = "alice";
  www.state.freeze = core::Hold{"ops", "db migration \xc3\xa9", 1795000000123,
                                core::ObserverId("obs-a"), {}};
  www.state.pin = core::Hold{"alice", "", 1795000000456, core::ObserverId("obs-c"),
                             core::RegionId("r2")};
  peer::ServiceHolds api;
  api.service = core::ServiceId("api");
  api.state.version = 2;  // unfrozen and unpinned after actions: still travels, with its version
  api.state.author = core::ObserverId("obs-c");
  api.state.action = core::HoldChange::Unpin;
  api.state.who = "bob";
  m.holds = {www, api};
  return m;
}

std::string encoded_with(std::string_view from, std::string_view to) {
  std::string s = peer::encode(with_holds());
  auto at = s.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  s.replace(at, from.size(), to);
  return s;
}

void refused(const std::string& text, std::string_view part, std::size_t max_holds = 16) {
  auto d = peer::decode(text, max_holds);
  CHECK_FALSE(d.ok());
  INFO("error: ", d.error);
  CHECK(d.error.find(part) != std::string::npos);
}

}  // namespace

TEST_SUITE("peer.message.holds") {
  TEST_CASE("holds survive encode then decode unchanged") {
    const auto m = with_holds();
    auto d = peer::decode(peer::encode(m));
    REQUIRE_MESSAGE(d.ok(), d.error);
    CHECK(*d.message == m);
    REQUIRE(d.message->holds.size() == 2);
    CHECK(d.message->holds[0].state.pin->region == core::RegionId("r2"));
    CHECK_FALSE(d.message->holds[1].state.freeze.has_value());
  }

  TEST_CASE("a reason of exactly the bound and a who of 128 characters pass") {
    auto m = with_holds();
    m.holds[0].state.freeze->reason = std::string(peer::kMaxHoldReasonBytes, 'r');
    m.holds[0].state.freeze->who = std::string(peer::kMaxHoldWhoBytes, 'w');
    auto d = peer::decode(peer::encode(m));
    REQUIRE_MESSAGE(d.ok(), d.error);
    CHECK(*d.message == m);
  }

  TEST_CASE("the field is optional and left out when there are no holds") {
    auto m = with_holds();
    m.holds.clear();
    const auto text = peer::encode(m);
    CHECK(text.find("holds") == std::string::npos);
    auto d = peer::decode(text);
    REQUIRE_MESSAGE(d.ok(), d.error);
    CHECK(d.message->holds.empty());
  }

  TEST_CASE("hostile holds are refused with the problem named") {
    SUBCASE("not an array") {
      auto m = with_holds();
      m.holds.clear();
      auto text = peer::encode(m);
      text.insert(text.size() - 1, R"(,"holds":{})");
      refused(text, "field 'holds' must be an array");
    }
    SUBCASE("more entries than the receiver has services") {
      refused(peer::encode(with_holds()), "over the limit of 1", 1);
    }
    SUBCASE("more than kMaxHolds whatever the receiver says") {
      auto m = with_holds();
      m.holds.clear();
      for (std::size_t i = 0; i <= peer::kMaxHolds; ++i) {
        peer::ServiceHolds h;
        h.service = core::ServiceId("s" + std::to_string(i));
        h.state.version = 1;
        h.state.author = core::ObserverId("obs-a");
        h.state.who = "o";
        m.holds.push_back(h);
      }
      auto text = peer::encode(m);
      REQUIRE(text.size() <= peer::kMaxMessageBytes);
      refused(text, "over the limit of 512", ~std::size_t{0});
    }
    SUBCASE("a service twice") {
      refused(encoded_with(R"("service":"api")", R"("service":"www")"), "appears twice");
    }
    SUBCASE("version 0") { refused(encoded_with(R"("version":7)", R"("version":0)"), "'version'"); }
    SUBCASE("version not an integer") {
      refused(encoded_with(R"("version":7)", R"("version":7.5)"), "'version'");
    }
    SUBCASE("a bad author id") {
      refused(encoded_with(R"("author":"obs-a")", R"("author":"obs a")"), "'author'");
    }
    SUBCASE("a reason over 1 KiB") {
      refused(encoded_with("db migration", std::string(peer::kMaxHoldReasonBytes + 1, 'x')),
              "longer than 1024");
    }
    SUBCASE("a who that is no token name") {
      refused(encoded_with(R"("who":"ops")", R"("who":"o\nps")"), "'who'");
      refused(encoded_with(R"("who":"ops")", R"("who":"")"), "'who'");
      refused(encoded_with(R"("who":"ops")",
                           "\"who\":\"" + std::string(peer::kMaxHoldWhoBytes + 1, 'w') + "\""),
              "'who'");
    }
    SUBCASE("a negative since") {
      refused(encoded_with(R"("since_unix_ms":1795000000123)", R"("since_unix_ms":-1)"),
              "'since_unix_ms'");
    }
    SUBCASE("a pin without a region") {
      refused(encoded_with(R"(,"region":"r2")", ""), "missing field 'region'");
    }
    SUBCASE("a freeze with a region") {
      refused(encoded_with(R"("observer":"obs-a"})", R"("observer":"obs-a","region":"r1"})"),
              "unknown field 'region'");
    }
    SUBCASE("an unknown action") {
      refused(encoded_with(R"("action":"pin")", R"("action":"thaw")"), "'action'");
    }
    SUBCASE("an entry whose who is no token name") {
      refused(encoded_with(R"("who":"alice")", R"("who":"al ice")"), "'who'");
    }
    SUBCASE("an unknown field in an entry") {
      refused(encoded_with(R"("author":"obs-a")", R"("author":"obs-a","x":1)"), "unknown field 'x'");
    }
    SUBCASE("a missing field in an entry") {
      refused(encoded_with(R"(,"pin":null)", ""), "missing field 'pin'");
    }
    SUBCASE("nested deeper than the schema") {
      refused(encoded_with(R"("reason":"db migration)", R"("reason":[["db migration"]],"x":")"),
              "not valid JSON");
    }
    SUBCASE("freeze is neither null nor an object") {
      refused(encoded_with(R"(,"pin":null)", R"(,"pin":true)"), "object or null");
    }
  }
}
