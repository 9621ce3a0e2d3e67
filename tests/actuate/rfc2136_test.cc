#include "actuate/rfc2136.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

namespace dns = failoverd::actuate::dns;
namespace tsig = failoverd::actuate::tsig;
using failoverd::actuate::Fence;
using failoverd::actuate::LiveMember;
using failoverd::actuate::LiveState;
using failoverd::actuate::WriteStatus;
namespace act = failoverd::actuate;
namespace core = failoverd::core;

namespace {

failoverd::config::Rfc2136Target target() {
  failoverd::config::Rfc2136Target t;
  t.server = {"127.0.0.1", 53};
  t.zone = "example.test.";
  t.name = "www.example.test.";
  t.type = "A";
  t.ttl = 30;
  t.tsig_key_name = "failoverd-key.";
  return t;
}

core::Plan plan(core::Generation gen, std::vector<std::string> values) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.base_generation = gen - 1;
  p.generation = gen;
  for (auto& v : values) p.members.push_back({core::RegionId("r"), v, 1});
  return p;
}

}  // namespace

TEST_SUITE("actuate.dns.rfc2136") {
  TEST_CASE("the fence text round-trips only in its canonical form") {
    CHECK(act::format_fence({42, "obs-a"}) == "gen=42 writer=obs-a");
    CHECK(act::parse_fence("gen=42 writer=obs-a") == Fence{42, "obs-a"});
    CHECK(act::parse_fence("gen=0 writer=x") == Fence{0, "x"});
    // An operator's move and a restore say so; an automatic write adds nothing (older fences).
    const Fence manual{7, "obs-b", failoverd::core::Trigger::Manual};
    CHECK(act::format_fence(manual) == "gen=7 writer=obs-b trigger=manual");
    CHECK(act::parse_fence("gen=7 writer=obs-b trigger=manual") == manual);
    CHECK(act::parse_fence("gen=7 writer=obs-b trigger=restore")->trigger ==
          failoverd::core::Trigger::Restore);
    for (auto bad : {"", "gen=", "gen=42", "gen=42 writer=", "gen=042 writer=a", "gen=-1 writer=a",
                     "gen=7 writer=a trigger=automatic", "gen=7 writer=a trigger=", "gen=7 writer=a trigger=manual ",
                     "gen=7 writer=a trigger=Manual", "gen=7 writer=a  trigger=manual",
                     "gen=42  writer=a", "gen=42 writer=a b", "GEN=42 writer=a",
                     "gen=99999999999999999999999 writer=a", "gen=4x writer=a"}) {
      CAPTURE(bad);
      CHECK_FALSE(act::parse_fence(bad));
    }
    CHECK(act::fence_name_for(target()) == "_failoverd.www.example.test.");
    auto t = target();
    t.fence_name = "fence.example.test.";
    CHECK(act::fence_name_for(t) == "fence.example.test.");
  }

  TEST_CASE("one UPDATE: value prerequisites on RRset and fence, then replace both") {
    LiveState expected;
    expected.members = {{"192.0.2.10", 1}, {"192.0.2.11", 1}};
    expected.fence = Fence{41, "obs-b"};
    std::string err;
    auto m = act::build_update(target(), "obs-a", plan(42, {"198.51.100.20"}), expected, 7, &err);
    REQUIRE_MESSAGE(m, err);
    CHECK_FALSE(dns::validate_update(*m));
    CHECK(m->header.id == 7);
    CHECK(m->questions[0] == dns::Question{"example.test.", dns::type::kSoa, dns::klass::kIn});
    auto txt = [](std::string s) { return *dns::rdata_from_text(dns::type::kTxt, s); };
    CHECK(m->answers ==
          std::vector<dns::Rr>{
              dns::prereq_rrset_exists_value("www.example.test.", dns::type::kA, {192, 0, 2, 10}),
              dns::prereq_rrset_exists_value("www.example.test.", dns::type::kA, {192, 0, 2, 11}),
              dns::prereq_rrset_exists_value("_failoverd.www.example.test.", dns::type::kTxt,
                                             txt("gen=41 writer=obs-b"))});
    CHECK(m->authority ==
          std::vector<dns::Rr>{
              dns::update_delete_rrset("www.example.test.", dns::type::kA),
              dns::update_add_rr("www.example.test.", dns::type::kA, 30, {198, 51, 100, 20}),
              dns::update_delete_rrset("_failoverd.www.example.test.", dns::type::kTxt),
              dns::update_add_rr("_failoverd.www.example.test.", dns::type::kTxt, 30,
                                 txt("gen=42 writer=obs-a"))});
  }

  TEST_CASE("no fence and no members expected: both must not exist") {
    std::string err;
    auto m = act::build_update(target(), "obs-a", plan(1, {"192.0.2.1"}), LiveState{}, 1, &err);
    REQUIRE_MESSAGE(m, err);
    CHECK(m->answers ==
          std::vector<dns::Rr>{
              dns::prereq_rrset_does_not_exist("www.example.test.", dns::type::kA),
              dns::prereq_rrset_does_not_exist("_failoverd.www.example.test.", dns::type::kTxt)});
  }

  TEST_CASE("empty, stale and unencodable plans are refused before sending, naming the rule") {
    LiveState expected;
    expected.members = {{"192.0.2.10", 1}};
    expected.fence = Fence{5, "obs-b"};
    std::string err;
    SUBCASE("no members") {
      CHECK_FALSE(act::build_update(target(), "obs-a", plan(6, {}), expected, 1, &err));
      CHECK(err.rfind("empty_set: ", 0) == 0);
    }
    SUBCASE("same generation as live") {
      CHECK_FALSE(act::build_update(target(), "obs-a", plan(5, {"192.0.2.1"}), expected, 1, &err));
      CHECK(err.rfind("stale_generation: ", 0) == 0);
    }
    SUBCASE("older generation") {
      CHECK_FALSE(act::build_update(target(), "obs-a", plan(3, {"192.0.2.1"}), expected, 1, &err));
      CHECK(err.rfind("stale_generation: ", 0) == 0);
    }
    SUBCASE("a value that is not an address") {
      CHECK_FALSE(act::build_update(target(), "obs-a", plan(6, {"not-an-ip"}), expected, 1, &err));
    }
    SUBCASE("two members for a CNAME") {
      auto t = target();
      t.type = "CNAME";
      expected.members = {{"a.example.net.", 1}};
      CHECK_FALSE(act::build_update(t, "obs-a", plan(6, {"b.example.net.", "c.example.net."}),
                                    expected, 1, &err));
    }
    SUBCASE("an observer id with a space cannot be a fence writer") {
      CHECK_FALSE(act::build_update(target(), "obs a", plan(6, {"192.0.2.1"}), expected, 1, &err));
    }
  }

  TEST_CASE("duplicate plan members are added once") {
    std::string err;
    auto m = act::build_update(target(), "obs-a", plan(1, {"192.0.2.1", "192.0.2.1"}), LiveState{},
                               1, &err);
    REQUIRE(m);
    CHECK(m->authority.size() == 4);
  }

  TEST_CASE("AAAA members encode in any spelling") {
    auto t = target();
    t.type = "AAAA";
    std::string err;
    auto m = act::build_update(t, "obs-a", plan(1, {"2001:DB8::1"}), LiveState{}, 1, &err);
    REQUIRE_MESSAGE(m, err);
    CHECK(dns::rdata_to_text(dns::type::kAaaa, m->authority[1].rdata) == "2001:db8::1");
  }

  TEST_CASE("rcode and TSIG mapping") {
    CHECK(act::classify_update_rcode(dns::rcode::kNoError) == WriteStatus::Applied);
    for (auto rc : {dns::rcode::kNxRrset, dns::rcode::kYxRrset, dns::rcode::kYxDomain,
                    dns::rcode::kNxDomain}) {
      CHECK(act::classify_update_rcode(rc) == WriteStatus::Conflict);
    }
    CHECK(act::classify_update_rcode(dns::rcode::kServFail) == WriteStatus::Unknown);
    for (auto rc : {dns::rcode::kRefused, dns::rcode::kNotAuth, dns::rcode::kNotZone,
                    dns::rcode::kBadKey, dns::rcode::kBadSig, dns::rcode::kBadTime}) {
      CHECK(act::classify_update_rcode(rc) == WriteStatus::Refused);
    }
    CHECK(act::classify_update_rcode(dns::rcode::kFormErr) == WriteStatus::Invalid);
    CHECK(act::classify_update_rcode(dns::rcode::kNotImp) == WriteStatus::Invalid);
    CHECK_FALSE(act::classify_tsig(tsig::Status::Ok));
    for (auto s : {tsig::Status::Unsigned, tsig::Status::Malformed, tsig::Status::BadKey,
                   tsig::Status::BadSig, tsig::Status::BadTime}) {
      CHECK(act::classify_tsig(s) == WriteStatus::Refused);
    }
  }

  TEST_CASE("the TSIG secret file must be private and base64") {
    auto dir = std::filesystem::temp_directory_path() / "failoverd_rfc2136_test";
    std::filesystem::create_directories(dir);
    auto path = dir / "key";
    { std::ofstream(path) << "c2VjcmV0\n"; }
    auto t = target();
    t.tsig_secret_file = path.string();
    std::string err;
    using std::filesystem::perms;
    std::filesystem::permissions(path, perms::owner_read | perms::owner_write | perms::group_read);
    CHECK_FALSE(act::load_tsig_key(t, &err));
    CHECK(err.find("group or others") != std::string::npos);
    std::filesystem::permissions(path, perms::owner_read | perms::owner_write);
    auto key = act::load_tsig_key(t, &err);
    REQUIRE_MESSAGE(key, err);
    CHECK(key->secret == std::vector<std::uint8_t>{'s', 'e', 'c', 'r', 'e', 't'});
    CHECK(key->algorithm == tsig::Algorithm::HmacSha256);
    t.tsig_algorithm = "hmac-md5";
    CHECK_FALSE(act::load_tsig_key(t, &err));
    std::filesystem::remove_all(dir);
  }
}
