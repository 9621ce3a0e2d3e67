#include "actuate/dns_wire.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace dns = failoverd::actuate::dns;

namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// An UPDATE sent by BIND's nsupdate (captured on loopback): zone example.test., prerequisite
// "yxrrset www.example.test. A 192.0.2.10", delete www A, add www 30 A 198.51.100.20, TSIG.
// It uses name compression in every section.
constexpr std::string_view kNsupdateRequest =
    "13b128000001000100020001076578616d706c650474657374000006000103777777c00c00010001000000000004"
    "c000020ac01e000100ff000000000000c01e000100010000001e0004c63364140d6661696c6f766572642d6b6579"
    "0000fa00ff00000000003d0b686d61632d7368613235360000006b041cf7012c0020c4b731eb1fb28498a07b66d1"
    "80bd37a12c4956004a29eff2ff7037ff847c43f713b100000000";

}  // namespace

TEST_SUITE("actuate.dns.wire") {
  TEST_CASE("an UPDATE from nsupdate decodes with its compressed names expanded") {
    auto res = dns::decode(from_hex(kNsupdateRequest));
    REQUIRE(res.message);
    const auto& m = *res.message;
    CHECK(m.header.opcode == dns::Opcode::Update);
    REQUIRE(m.questions.size() == 1);
    CHECK(m.questions[0] == dns::Question{"example.test.", dns::type::kSoa, dns::klass::kIn});
    REQUIRE(m.answers.size() == 1);
    CHECK(m.answers[0] ==
          dns::prereq_rrset_exists_value("www.example.test.", dns::type::kA,
                                         *dns::rdata_from_text(dns::type::kA, "192.0.2.10")));
    REQUIRE(m.authority.size() == 2);
    CHECK(m.authority[0] == dns::update_delete_rrset("www.example.test.", dns::type::kA));
    CHECK(m.authority[1] ==
          dns::update_add_rr("www.example.test.", dns::type::kA, 30, {198, 51, 100, 20}));
    REQUIRE(m.additional.size() == 1);
    CHECK(m.additional[0].type == dns::type::kTsig);
    CHECK(m.additional[0].name == "failoverd-key.");
    CHECK_FALSE(dns::validate_update(m));
  }

  TEST_CASE("a built UPDATE encodes and decodes to the same message") {
    dns::Message m;
    m.header.id = 0x1234;
    m.header.opcode = dns::Opcode::Update;
    m.questions.push_back({"example.test.", dns::type::kSoa, dns::klass::kIn});
    m.answers.push_back(
        dns::prereq_rrset_exists_value("www.example.test.", dns::type::kA, {192, 0, 2, 10}));
    m.answers.push_back(
        dns::prereq_rrset_does_not_exist("_failoverd.www.example.test.", dns::type::kTxt));
    m.authority.push_back(dns::update_delete_rrset("www.example.test.", dns::type::kA));
    m.authority.push_back(
        dns::update_add_rr("www.example.test.", dns::type::kA, 30, {198, 51, 100, 20}));
    m.authority.push_back(
        dns::update_add_rr("_failoverd.www.example.test.", dns::type::kTxt, 30,
                           *dns::rdata_from_text(dns::type::kTxt, "gen=2 writer=a")));
    CHECK_FALSE(dns::validate_update(m));
    auto wire = dns::encode(m);
    REQUIRE(wire);
    auto back = dns::decode(*wire);
    REQUIRE(back.message);
    CHECK(*back.message == m);
  }

  TEST_CASE("RFC 2136 class and TTL rules are enforced by validate_update") {
    dns::Message m;
    m.header.opcode = dns::Opcode::Update;
    m.questions.push_back({"example.test.", dns::type::kSoa, dns::klass::kIn});
    SUBCASE("a prerequisite with a TTL") {
      auto rr = dns::prereq_rrset_exists("www.example.test.", dns::type::kA);
      rr.ttl = 5;
      m.answers.push_back(rr);
      CHECK(dns::validate_update(m));
    }
    SUBCASE("class ANY prerequisite with RDATA") {
      auto rr = dns::prereq_rrset_exists("www.example.test.", dns::type::kA);
      rr.rdata = {1, 2, 3, 4};
      m.answers.push_back(rr);
      CHECK(dns::validate_update(m));
    }
    SUBCASE("delete-RRset with a TTL") {
      auto rr = dns::update_delete_rrset("www.example.test.", dns::type::kA);
      rr.ttl = 30;
      m.authority.push_back(rr);
      CHECK(dns::validate_update(m));
    }
    SUBCASE("a name outside the zone") {
      m.authority.push_back(dns::update_delete_rrset("www.example.org.", dns::type::kA));
      CHECK(dns::validate_update(m));
    }
    SUBCASE("a suffix that is not a label boundary") {
      m.authority.push_back(dns::update_delete_rrset("wwwexample.test.", dns::type::kA));
      CHECK(dns::validate_update(m));
    }
    SUBCASE("a valid delete of one RR") {
      m.authority.push_back(
          dns::update_delete_rr("www.example.test.", dns::type::kA, {1, 2, 3, 4}));
      CHECK_FALSE(dns::validate_update(m));
    }
  }

  TEST_CASE("RDATA text conversion round-trips for A, AAAA, TXT, CNAME and SOA") {
    struct Case {
      std::uint16_t type;
      std::string text;
    };
    for (const auto& c :
         std::vector<Case>{{dns::type::kA, "192.0.2.1"},
                           {dns::type::kAaaa, "2001:db8::1"},
                           {dns::type::kTxt, "gen=42 writer=obs-a"},
                           {dns::type::kCname, "edge.example.net."},
                           {dns::type::kSoa, "ns.example. admin.example. 7 3600 600 86400 30"}}) {
      CAPTURE(c.text);
      auto rd = dns::rdata_from_text(c.type, c.text);
      REQUIRE(rd);
      CHECK(dns::rdata_to_text(c.type, *rd) == c.text);
    }
    CHECK(dns::rdata_to_text(dns::type::kAaaa,
                             *dns::rdata_from_text(dns::type::kAaaa, "2001:DB8:0:0::1")) ==
          "2001:db8::1");
    CHECK_FALSE(dns::rdata_from_text(dns::type::kA, "192.0.2"));
    CHECK_FALSE(dns::rdata_from_text(dns::type::kA, "192.0.2.1 "));
    CHECK_FALSE(dns::rdata_from_text(dns::type::kA, std::string_view("192.0.2.1\0junk", 14)));
    CHECK_FALSE(dns::rdata_from_text(dns::type::kAaaa, std::string_view("::1\0junk", 8)));
    CHECK_FALSE(dns::rdata_from_text(dns::type::kSoa, "ns. admin. 1 2 3"));
    CHECK(dns::soa_serial(*dns::rdata_from_text(dns::type::kSoa, "a. b. 2026112301 1 2 3 4")) ==
          2026112301u);
    std::string long_txt(600, 'x');
    auto rd = dns::rdata_from_text(dns::type::kTxt, long_txt);
    REQUIRE(rd);
    CHECK(rd->size() == 603);
    CHECK(dns::rdata_to_text(dns::type::kTxt, *rd) == long_txt);
  }

  TEST_CASE("names: limits, escapes and case-insensitive comparison") {
    CHECK(dns::name_to_wire("a.b.") == std::vector<std::uint8_t>{1, 'a', 1, 'b', 0});
    CHECK(dns::name_to_wire("a.b") == dns::name_to_wire("a.b."));
    CHECK(dns::name_to_wire(".") == std::vector<std::uint8_t>{0});
    CHECK_FALSE(dns::name_to_wire("a..b."));
    CHECK_FALSE(dns::name_to_wire(std::string(64, 'x') + "."));
    CHECK(dns::name_to_wire(std::string(63, 'x') + "."));
    std::string long_name;
    for (int i = 0; i < 64; ++i) long_name += "abc.";
    CHECK_FALSE(dns::name_to_wire(long_name));  // 256 octets
    CHECK(dns::name_to_wire("a\\.b.") == std::vector<std::uint8_t>{3, 'a', '.', 'b', 0});
    CHECK(dns::name_to_wire("\\065.") == std::vector<std::uint8_t>{1, 'A', 0});
    CHECK_FALSE(dns::name_to_wire("\\25"));
    CHECK(dns::names_equal("WWW.Example.TEST.", "www.example.test"));
    CHECK_FALSE(dns::names_equal("www.example.test.", "ww.example.test."));
  }

  TEST_CASE("hostile input: pointer loops, forward pointers, truncation, huge counts") {
    // Header with QDCOUNT 1, then a name that points at itself.
    std::vector<std::uint8_t> self_loop{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    CHECK_FALSE(dns::decode(self_loop).message);
    // A forward pointer.
    std::vector<std::uint8_t> forward{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 0, 1, 0, 1};
    CHECK_FALSE(dns::decode(forward).message);
    // Two labels pointing at each other: the second points back at the first, which is fine,
    // but a pointer into the middle of itself is not.
    std::vector<std::uint8_t> mutual{0, 1, 0, 0,   0,    1,  0, 0, 0, 0,
                                     0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1};
    CHECK_FALSE(dns::decode(mutual).message);
    // A chain of backward pointers is fine.
    std::vector<std::uint8_t> chain{0,   1, 0, 0, 0, 2, 0,    0,  0, 0, 0, 0, 1,
                                    'a', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1};
    auto ok = dns::decode(chain);
    REQUIRE(ok.message);
    CHECK(ok.message->questions[1].name == "a.");
    // Counts far beyond the data.
    std::vector<std::uint8_t> huge{0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_FALSE(dns::decode(huge).message);
    // Every truncation of a valid message fails cleanly.
    auto full = from_hex(kNsupdateRequest);
    for (std::size_t n = 0; n < full.size(); ++n) {
      CHECK_FALSE(dns::decode(std::span(full.data(), n)).message);
    }
    // Trailing garbage.
    full.push_back(0);
    CHECK_FALSE(dns::decode(full).message);
  }

  TEST_CASE("rcode and type names") {
    CHECK(dns::rcode_name(dns::rcode::kNxRrset) == "NXRRSET");
    CHECK(dns::rcode_name(dns::rcode::kBadTime) == "BADTIME");
    CHECK(dns::rcode_name(42) == "RCODE42");
    CHECK(dns::type_from_name("aaaa") == dns::type::kAaaa);
    CHECK_FALSE(dns::type_from_name("MX"));
    CHECK(dns::type_name(99) == "TYPE99");
  }
}
