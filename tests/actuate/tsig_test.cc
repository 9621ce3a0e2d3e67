#include "actuate/tsig.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "actuate/dns_wire.h"

namespace dns = failoverd::actuate::dns;
namespace tsig = failoverd::actuate::tsig;

namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Captured on loopback between BIND 9.18's nsupdate and named (a recording proxy in between):
//   nsupdate -v -y hmac-sha256:failoverd-key.:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=
// The request (id 0x13b1, time signed 0x6b041cf7, fudge 300) and named's signed NOERROR reply.
constexpr std::string_view kSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
constexpr std::uint64_t kTimeSigned = 0x6b041cf7;
constexpr std::string_view kRequest =
    "13b128000001000100020001076578616d706c650474657374000006000103777777c00c00010001000000000004"
    "c000020ac01e000100ff000000000000c01e000100010000001e0004c63364140d6661696c6f766572642d6b6579"
    "0000fa00ff00000000003d0b686d61632d7368613235360000006b041cf7012c0020c4b731eb1fb28498a07b66d1"
    "80bd37a12c4956004a29eff2ff7037ff847c43f713b100000000";
constexpr std::string_view kResponse =
    "13b1a8000001000000000001076578616d706c65047465737400000600010d6661696c6f766572642d6b65790000"
    "fa00ff00000000003d0b686d61632d7368613235360000006b041cf7012c002021d5b59b0f0a3667c667674d8485"
    "30f702e31e72fe14bcc57e6ee99702444b2813b100000000";

tsig::Key nsupdate_key() {
  return tsig::Key{"failoverd-key.", tsig::Algorithm::HmacSha256, *tsig::base64_decode(kSecret)};
}

// The request without its TSIG RR: what the signer is fed.
std::vector<std::uint8_t> strip_tsig(const std::vector<std::uint8_t>& wire) {
  auto m = dns::decode(wire);
  REQUIRE(m.message);
  std::vector<std::uint8_t> out(
      wire.begin(),
      wire.begin() + static_cast<std::ptrdiff_t>(m.message->additional.back().offset));
  out[11] = static_cast<std::uint8_t>(out[11] - 1);
  return out;
}

}  // namespace

TEST_SUITE("actuate.dns.tsig") {
  TEST_CASE("the verifier accepts nsupdate's signature and the signer reproduces it") {
    auto key = nsupdate_key();
    auto request = from_hex(kRequest);
    auto v = tsig::verify(request, key, {}, kTimeSigned + 10);
    REQUIRE(v.status == tsig::Status::Ok);
    auto signed_again = tsig::sign(strip_tsig(request), key, kTimeSigned, 300);
    REQUIRE(signed_again);
    CHECK(signed_again->wire == request);
    CHECK(signed_again->mac == v.mac);
  }

  TEST_CASE("named's reply verifies against the request MAC, and only against it") {
    auto key = nsupdate_key();
    auto request = from_hex(kRequest);
    auto response = from_hex(kResponse);
    auto req = tsig::verify(request, key, {}, kTimeSigned);
    REQUIRE(req.status == tsig::Status::Ok);
    CHECK(tsig::verify(response, key, req.mac, kTimeSigned + 1).status == tsig::Status::Ok);
    std::vector<std::uint8_t> other_mac(req.mac.size(), 0);
    CHECK(tsig::verify(response, key, other_mac, kTimeSigned).status == tsig::Status::BadSig);
    CHECK(tsig::verify(response, key, {}, kTimeSigned).status == tsig::Status::BadSig);
  }

  TEST_CASE("BADTIME outside the fudge window, both ways") {
    auto key = nsupdate_key();
    auto request = from_hex(kRequest);
    CHECK(tsig::verify(request, key, {}, kTimeSigned + 300).status == tsig::Status::Ok);
    CHECK(tsig::verify(request, key, {}, kTimeSigned + 301).status == tsig::Status::BadTime);
    CHECK(tsig::verify(request, key, {}, kTimeSigned - 301).status == tsig::Status::BadTime);
  }

  TEST_CASE("a wrong secret is BADSIG, another key name or algorithm is BADKEY") {
    auto request = from_hex(kRequest);
    auto key = nsupdate_key();
    key.secret[0] ^= 1;
    CHECK(tsig::verify(request, key, {}, kTimeSigned).status == tsig::Status::BadSig);
    key = nsupdate_key();
    key.name = "other-key.";
    CHECK(tsig::verify(request, key, {}, kTimeSigned).status == tsig::Status::BadKey);
    key = nsupdate_key();
    key.algorithm = tsig::Algorithm::HmacSha512;
    CHECK(tsig::verify(request, key, {}, kTimeSigned).status == tsig::Status::BadKey);
  }

  TEST_CASE("a tampered byte anywhere before the TSIG RR is BADSIG") {
    auto key = nsupdate_key();
    auto request = from_hex(kRequest);
    auto tsig_at = dns::decode(request).message->additional.back().offset;
    for (std::size_t i = 2; i < tsig_at; ++i) {  // the id is covered as original id
      auto t = request;
      t[i] ^= 0x01;
      auto st = tsig::verify(t, key, {}, kTimeSigned).status;
      CAPTURE(i);
      CHECK(st != tsig::Status::Ok);
    }
  }

  TEST_CASE("unsigned messages and peer-reported errors are distinct results") {
    auto key = nsupdate_key();
    dns::Message m;
    m.header.id = 7;
    m.header.qr = true;
    m.header.opcode = dns::Opcode::Update;
    m.header.rcode = dns::rcode::kNotAuth;
    m.questions.push_back({"example.test.", dns::type::kSoa, dns::klass::kIn});
    auto wire = *dns::encode(m);
    CHECK(tsig::verify(wire, key, {}, 0).status == tsig::Status::Unsigned);
    SUBCASE("BADKEY and BADSIG replies carry no MAC") {
      // A server's reply to a request it could not authenticate: error set, empty MAC.
      auto signed_reply = tsig::sign(wire, key, 1000, 300, {}, dns::rcode::kBadSig);
      REQUIRE(signed_reply);
      CHECK(tsig::verify(signed_reply->wire, key, {}, 1000).status == tsig::Status::BadSig);
      signed_reply = tsig::sign(wire, key, 1000, 300, {}, dns::rcode::kBadKey);
      CHECK(tsig::verify(signed_reply->wire, key, {}, 1000).status == tsig::Status::BadKey);
    }
    SUBCASE("a signed BADTIME is BADTIME even inside the window") {
      auto signed_reply = tsig::sign(wire, key, 1000, 300, {}, dns::rcode::kBadTime);
      REQUIRE(signed_reply);
      auto v = tsig::verify(signed_reply->wire, key, {}, 1000);
      CHECK(v.status == tsig::Status::BadTime);
      CHECK(v.peer_error == dns::rcode::kBadTime);
    }
  }

  TEST_CASE("sign then verify for hmac-sha1, hmac-sha256 and hmac-sha512, chained to a reply") {
    for (auto alg :
         {tsig::Algorithm::HmacSha1, tsig::Algorithm::HmacSha256, tsig::Algorithm::HmacSha512}) {
      CAPTURE(tsig::algorithm_name(alg));
      tsig::Key key{"k.example.", alg, {1, 2, 3, 4, 5, 6, 7, 8}};
      dns::Message q;
      q.header.id = 99;
      q.questions.push_back({"www.example.test.", dns::type::kA, dns::klass::kIn});
      auto s = tsig::sign(*dns::encode(q), key, 5000);
      REQUIRE(s);
      CHECK(s->mac.size() == (alg == tsig::Algorithm::HmacSha1     ? 20u
                              : alg == tsig::Algorithm::HmacSha256 ? 32u
                                                                   : 64u));
      auto v = tsig::verify(s->wire, key, {}, 5000);
      REQUIRE(v.status == tsig::Status::Ok);
      dns::Message r = q;
      r.header.qr = true;
      auto reply = tsig::sign(*dns::encode(r), key, 5001, 300, s->mac);
      REQUIRE(reply);
      CHECK(tsig::verify(reply->wire, key, s->mac, 5002).status == tsig::Status::Ok);
    }
  }

  TEST_CASE("a TSIG RR outside the additional section is malformed (fuzzer finding)") {
    // Found by dns_wire_fuzz: one TSIG RR in the answer section and none in additional made
    // verify() call back() on an empty vector.
    auto crash = *tsig::base64_decode(
        "E7EoAAABAAEAAgAAAAA/AAAAAAAAAAAAAAAAAAAA+v8AAAAAAAAAAAAAAAAAAAAAAAA=");
    CHECK(tsig::verify(crash, nsupdate_key(), {}, 0).status == tsig::Status::Malformed);
  }

  TEST_CASE("algorithm names and base64") {
    CHECK(tsig::parse_algorithm("HMAC-SHA256.") == tsig::Algorithm::HmacSha256);
    CHECK(tsig::parse_algorithm("hmac-sha1") == tsig::Algorithm::HmacSha1);
    CHECK_FALSE(tsig::parse_algorithm("hmac-md5"));
    CHECK(tsig::base64_decode("aGVsbG8=") == std::vector<std::uint8_t>{'h', 'e', 'l', 'l', 'o'});
    CHECK(tsig::base64_decode("aGVs\nbG8h") ==
          std::vector<std::uint8_t>{'h', 'e', 'l', 'l', 'o', '!'});
    CHECK_FALSE(tsig::base64_decode("aGV*"));
    CHECK_FALSE(tsig::base64_decode("a=b"));
  }
}
