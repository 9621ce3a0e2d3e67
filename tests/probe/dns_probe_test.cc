// The DNS probe's pure pieces: names of types and rcodes, the reply parser, answer matching and
// the classification of replies and c-ares statuses. No sockets.
#include "probe/dns_probe.h"

#include <doctest/doctest.h>

#include "probe/ares_channel.h"
#include "probe/dns_wire.h"

namespace failoverd::probe {
namespace {

using core::ProbeReason;
using test::WireBuilder;

config::DnsCheck check_for(std::string type, std::vector<std::string> expect = {},
                           std::string rcode = "NOERROR") {
  config::DnsCheck c;
  c.server = {"127.0.0.1", 53};
  c.query_name = "www.example.test.";
  c.query_type = std::move(type);
  c.expect_rcode = std::move(rcode);
  c.expect_answer = std::move(expect);
  return c;
}

// One record of `type` for www.example.test with the given rdata writer.
template <typename F>
std::vector<std::uint8_t> one_record_reply(std::uint16_t type, F&& rdata) {
  WireBuilder w;
  w.header(7, 0x8580, 1, 1).question("www.example.test.", type);
  w.pointer(12).u16(type).u16(1).u32(60);
  const std::size_t len_at = w.size();
  w.u16(0);
  const std::size_t start = w.size();
  rdata(w);
  const auto len = static_cast<std::uint16_t>(w.size() - start);
  w.bytes[len_at] = static_cast<std::uint8_t>(len >> 8);
  w.bytes[len_at + 1] = static_cast<std::uint8_t>(len & 0xFF);
  return w.bytes;
}

}  // namespace

TEST_SUITE("probe.dns") {
  TEST_CASE("query types and rcodes have names both ways, in any case") {
    CHECK(dns_type_from_name("a") == 1);
    CHECK(dns_type_from_name("AAAA") == 28);
    CHECK(dns_type_from_name("Mx") == 15);
    CHECK(dns_type_from_name("SOA") == 6);
    CHECK_FALSE(dns_type_from_name("SRV").has_value());
    CHECK(dns_type_name(16) == "TXT");
    CHECK(dns_type_name(33) == "TYPE33");
    CHECK(dns_rcode_from_name("nxdomain") == 3);
    CHECK(dns_rcode_from_name("REFUSED") == 5);
    CHECK_FALSE(dns_rcode_from_name("BADVERS").has_value());
    CHECK(dns_rcode_name(2) == "SERVFAIL");
    CHECK(dns_rcode_name(0) == "NOERROR");
    CHECK(dns_rcode_name(12) == "RCODE12");
  }

  TEST_CASE("an A reply with a compressed owner name parses into addresses and TTLs") {
    const auto msg =
        test::a_reply(42, "www.example.test.", 0, {{192, 0, 2, 1}, {192, 0, 2, 2}}, 30);
    std::string error;
    const auto reply = parse_dns_reply(msg, &error);
    REQUIRE_MESSAGE(reply.has_value(), error);
    CHECK(reply->id == 42);
    CHECK(reply->rcode == 0);
    CHECK(reply->authoritative);
    CHECK_FALSE(reply->truncated);
    REQUIRE(reply->answers.size() == 2);
    CHECK(reply->answers[0].owner == "www.example.test.");
    CHECK(reply->answers[0].type == 1);
    CHECK(reply->answers[0].ttl == 30);
    CHECK(reply->answers[0].value == "192.0.2.1");
    CHECK(reply->answers[1].value == "192.0.2.2");
  }

  TEST_CASE("records of every supported type decode to presentation form") {
    SUBCASE("AAAA") {
      const auto msg = one_record_reply(28, [](WireBuilder& w) {
        w.raw({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
      });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value == "2001:db8::1");
    }
    SUBCASE("CNAME pointing into the question") {
      const auto msg = one_record_reply(5, [](WireBuilder& w) { w.label("edge").pointer(16); });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value == "edge.example.test.");
    }
    SUBCASE("MX") {
      const auto msg =
          one_record_reply(15, [](WireBuilder& w) { w.u16(10).name("mail.example.test."); });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value == "10 mail.example.test.");
    }
    SUBCASE("TXT with two character-strings") {
      const auto msg = one_record_reply(16, [](WireBuilder& w) {
        w.u8(5).raw({'h', 'e', 'l', 'l', 'o'}).u8(3).raw({' ', 'v', '1'});
      });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value == "hello v1");
    }
    SUBCASE("SOA") {
      const auto msg = one_record_reply(6, [](WireBuilder& w) {
        w.name("ns1.example.test.").name("hostmaster.example.test.");
        w.u32(2024010101).u32(3600).u32(600).u32(86400).u32(60);
      });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value ==
            "ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 60");
    }
    SUBCASE("NS") {
      const auto msg = one_record_reply(2, [](WireBuilder& w) { w.name("NS1.Example.Test."); });
      const auto r = parse_dns_reply(msg);
      REQUIRE(r.has_value());
      CHECK(r->answers.at(0).value == "NS1.Example.Test.");
    }
  }

  TEST_CASE("malformed replies are rejected with a reason") {
    std::string error;
    SUBCASE("short header") {
      const std::vector<std::uint8_t> msg{0, 1, 0x81, 0x80, 0};
      CHECK_FALSE(parse_dns_reply(msg, &error).has_value());
      CHECK(error == "short header");
    }
    SUBCASE("a query, not a response") {
      WireBuilder w;
      w.header(1, 0x0100, 1, 0).question("x.test.", 1);
      CHECK_FALSE(parse_dns_reply(w.bytes, &error).has_value());
      CHECK(error.find("QR") != std::string::npos);
    }
    SUBCASE("answer count larger than the message") {
      auto msg = test::a_reply(1, "x.test.", 0, {{1, 2, 3, 4}});
      msg[7] = 2;  // ancount 2, only one present
      CHECK_FALSE(parse_dns_reply(msg, &error).has_value());
    }
    SUBCASE("rdata cut short") {
      auto msg = test::a_reply(1, "x.test.", 0, {{1, 2, 3, 4}});
      msg.pop_back();
      CHECK_FALSE(parse_dns_reply(msg, &error).has_value());
    }
    SUBCASE("A record with five bytes") {
      WireBuilder w;
      w.header(1, 0x8180, 1, 1).question("x.test.", 1);
      w.pointer(12).u16(1).u16(1).u32(5).u16(5).raw({1, 2, 3, 4, 5});
      CHECK_FALSE(parse_dns_reply(w.bytes, &error).has_value());
      CHECK(error == "bad A record");
    }
    SUBCASE("compression pointer loop") {
      WireBuilder w;
      w.header(1, 0x8180, 1, 0).pointer(12).u16(1).u16(1);  // the name points at itself
      CHECK_FALSE(parse_dns_reply(w.bytes, &error).has_value());
    }
    SUBCASE("name longer than 255 octets") {
      WireBuilder w;
      w.header(1, 0x8180, 1, 0);
      for (int i = 0; i < 5; ++i) {
        w.u8(63);
        for (int j = 0; j < 63; ++j) w.u8('a');
      }
      w.u8(0).u16(1).u16(1);
      CHECK_FALSE(parse_dns_reply(w.bytes, &error).has_value());
    }
  }

  TEST_CASE("answer matching normalises addresses and names") {
    DnsReply r;
    r.answers = {{"www.example.test.", 1, 60, "192.0.2.1"},
                 {"www.example.test.", 28, 60, "2001:db8::1"},
                 {"www.example.test.", 5, 60, "Edge.Example.Test."},
                 {"www.example.test.", 15, 60, "10 mail.example.test."},
                 {"www.example.test.", 16, 60, "v=spf1 -all"},
                 {"example.test.", 6, 60, "ns1.example.test. hm.example.test. 7 1 2 3 4"}};
    CHECK(dns_answer_contains(r, 1, "192.0.2.1"));
    CHECK_FALSE(dns_answer_contains(r, 1, "192.0.2.9"));
    CHECK_FALSE(dns_answer_contains(r, 1, "not-an-address"));
    CHECK(dns_answer_contains(r, 28, "2001:0db8:0:0::1"));
    CHECK_FALSE(dns_answer_contains(r, 1, "2001:db8::1"));  // type must match too
    CHECK(dns_answer_contains(r, 5, "edge.example.test"));
    CHECK(dns_answer_contains(r, 15, "mail.example.test"));
    CHECK(dns_answer_contains(r, 15, "10 MAIL.example.test."));
    CHECK_FALSE(dns_answer_contains(r, 15, "20 mail.example.test."));
    CHECK(dns_answer_contains(r, 16, "v=spf1 -all"));
    CHECK_FALSE(dns_answer_contains(r, 16, "v=spf1"));
    CHECK(dns_answer_contains(r, 6, "ns1.example.test"));
    CHECK(dns_answer_contains(r, 6, "ns1.example.test. hm.example.test. 7"));
    CHECK_FALSE(dns_answer_contains(r, 6, "ns1.example.test. hm.example.test. 8"));
  }

  TEST_CASE("a reply is judged by rcode first, then by the expected answers") {
    const auto ok = test::a_reply(1, "www.example.test.", 0, {{192, 0, 2, 1}});
    SUBCASE("expected answer present") {
      const auto v = classify_dns_reply(ok, check_for("A", {"192.0.2.1"}));
      CHECK(v.reason == ProbeReason::Ok);
      CHECK(v.detail == "NOERROR, 1 answer");
    }
    SUBCASE("no expectation accepts any answer") {
      CHECK(classify_dns_reply(ok, check_for("A")).reason == ProbeReason::Ok);
    }
    SUBCASE("expected answer missing") {
      const auto v = classify_dns_reply(ok, check_for("A", {"192.0.2.1", "192.0.2.7"}));
      CHECK(v.reason == ProbeReason::DnsAnswerMismatch);
      CHECK(v.detail == "A \"192.0.2.7\" not in answer (got: 192.0.2.1)");
    }
    SUBCASE("NXDOMAIN when NOERROR is expected") {
      const auto nx = test::a_reply(1, "www.example.test.", 3, {});
      const auto v = classify_dns_reply(nx, check_for("A"));
      CHECK(v.reason == ProbeReason::DnsRcode);
      CHECK(v.detail == "rcode NXDOMAIN, expected NOERROR");
    }
    SUBCASE("NXDOMAIN when NXDOMAIN is expected") {
      const auto nx = test::a_reply(1, "www.example.test.", 3, {});
      CHECK(classify_dns_reply(nx, check_for("A", {}, "NXDOMAIN")).reason == ProbeReason::Ok);
    }
    SUBCASE("SERVFAIL and REFUSED are named") {
      CHECK(classify_dns_reply(test::a_reply(1, "x.", 2, {}), check_for("A")).detail ==
            "rcode SERVFAIL, expected NOERROR");
      CHECK(classify_dns_reply(test::a_reply(1, "x.", 5, {}), check_for("A")).detail ==
            "rcode REFUSED, expected NOERROR");
    }
    SUBCASE("a malformed reply is a protocol error") {
      auto bad = ok;
      bad.resize(bad.size() - 2);
      CHECK(classify_dns_reply(bad, check_for("A")).reason == ProbeReason::ProtocolError);
    }
    SUBCASE("an unsupported query type is an internal error, not a failure of the server") {
      CHECK(classify_dns_reply(ok, check_for("SRV")).reason == ProbeReason::Internal);
      CHECK(classify_dns_reply(ok, check_for("A", {}, "NOPE")).reason == ProbeReason::Internal);
    }
  }

  TEST_CASE("c-ares statuses map to probe outcomes") {
    const auto c = check_for("A");
    const std::chrono::milliseconds t(250);
    CHECK(classify_ares_status(ares_status::kTimeout, c, t).reason == ProbeReason::Timeout);
    CHECK(classify_ares_status(ares_status::kTimeout, c, t).detail == "no reply within 250ms");
    CHECK(classify_ares_status(ares_status::kConnRefused, c, t).reason == ProbeReason::Refused);
    CHECK(classify_ares_status(ares_status::kBadResp, c, t).reason == ProbeReason::ProtocolError);
    CHECK(classify_ares_status(ares_status::kNoMem, c, t).reason == ProbeReason::Internal);
    CHECK(classify_ares_status(ares_status::kDestruction, c, t).reason == ProbeReason::Internal);
    const auto nx = classify_ares_status(ares_status::kNotFound, c, t);
    CHECK(nx.reason == ProbeReason::DnsRcode);
    CHECK(nx.detail == "rcode NXDOMAIN, expected NOERROR");
    CHECK(classify_ares_status(ares_status::kServFail, c, t).detail ==
          "rcode SERVFAIL, expected NOERROR");
    CHECK(classify_ares_status(ares_status::kRefused, c, t).detail ==
          "rcode REFUSED, expected NOERROR");
    CHECK(classify_ares_status(ares_status::kNotFound, check_for("A", {}, "NXDOMAIN"), t).reason ==
          ProbeReason::Ok);
    CHECK(classify_ares_status(ares_status::kNoData, check_for("A", {"192.0.2.1"}), t).reason ==
          ProbeReason::DnsAnswerMismatch);
  }

  TEST_CASE("make_query builds a question for the name and type") {
    const auto q = make_query("www.example.test", 15, true);
    REQUIRE(q.size() == 12 + 18 + 4);
    CHECK((q[2] & 0x01) == 1);  // RD
    CHECK(q[5] == 1);           // qdcount
    CHECK(q[q.size() - 3] == 15);
    CHECK((make_query("www.example.test", 1, false)[2] & 0x01) == 0);
  }
}

}  // namespace failoverd::probe
