#include "peer/peer_book.h"

#include <doctest/doctest.h>

using namespace failoverd;
using namespace std::chrono_literals;

namespace {

const std::string kOurs(64, 'a');
const std::string kTheirs(64, 'b');
const core::TimePoint kT0 = core::TimePoint{} + 1000s;

peer::CertIdentity cert(std::string cn, std::vector<std::string> dns = {}) {
  return peer::CertIdentity{std::move(cn), std::move(dns)};
}

peer::PeerMessage message(std::string from, std::uint64_t boot, std::uint64_t seq,
                          core::Verdict v = core::Verdict::Down, std::string fp = kOurs) {
  peer::PeerMessage m;
  m.observer = core::ObserverId(std::move(from));
  m.boot_id = boot;
  m.sequence = seq;
  m.config_fingerprint = std::move(fp);
  m.verdicts = {{core::RegionId("use1"), v, "test"}};
  return m;
}

peer::PeerBook book() {
  return peer::PeerBook({core::ObserverId("obs-b"), core::ObserverId("obs-c")}, kOurs, 5s);
}

}  // namespace

TEST_SUITE("peer.rules") {
  TEST_CASE("a certificate names an observer by its SAN DNS names, else its CN, exactly") {
    auto id = core::ObserverId("obs-b");
    CHECK(peer::names_observer(cert("obs-b"), id));
    CHECK(peer::names_observer(cert("x", {"y", "obs-b"}), id));
    CHECK_FALSE(peer::names_observer(cert("OBS-B"), id));
    CHECK_FALSE(peer::names_observer(cert("*.b", {"obs-b.example", "*"}), id));
    CHECK_FALSE(peer::names_observer(cert(""), core::ObserverId("")));
  }

  TEST_CASE("with SAN DNS names present the CN names no one (one identity per certificate)") {
    // CN=obs-c, SAN=obs-b: this certificate is obs-b's and only obs-b's.
    CHECK(peer::names_observer(cert("obs-c", {"obs-b"}), core::ObserverId("obs-b")));
    CHECK_FALSE(peer::names_observer(cert("obs-c", {"obs-b"}), core::ObserverId("obs-c")));
    CHECK(peer::presented_names(cert("obs-c", {"obs-b", "b.example"})) ==
          std::vector<std::string>{"obs-b", "b.example"});
    CHECK(peer::presented_names(cert("obs-c")) == std::vector<std::string>{"obs-c"});
    CHECK(peer::presented_names(cert("")).empty());
  }

  TEST_CASE("a certificate resolves to exactly one configured observer or is refused") {
    const std::vector<core::ObserverId> observers{
        core::ObserverId("obs-a"), core::ObserverId("obs-b"), core::ObserverId("obs-c")};
    auto one = peer::named_observer(cert("obs-b", {"obs-b", "obs-b.example"}), observers);
    REQUIRE(one.id.has_value());
    CHECK(*one.id == core::ObserverId("obs-b"));
    CHECK(one.error.empty());

    auto none = peer::named_observer(cert("obs-x", {"obs-x"}), observers);
    CHECK_FALSE(none.id.has_value());
    CHECK(none.error.find("names no configured observer") != std::string::npos);

    // CN names obs-a but the SAN names obs-x: the CN does not count.
    CHECK_FALSE(peer::named_observer(cert("obs-a", {"obs-x"}), observers).id.has_value());

    auto two = peer::named_observer(cert("obs-b", {"obs-b", "obs-c"}), observers);
    CHECK_FALSE(two.id.has_value());
    CHECK(two.error.find("more than one configured observer") != std::string::npos);
    CHECK(two.error.find("obs-b") != std::string::npos);
    CHECK(two.error.find("obs-c") != std::string::npos);
  }

  TEST_CASE("a certificate whose CN and SAN name different peers votes only as the SAN's") {
    auto b = book();
    auto as_c = b.accept(message("obs-c", 7, 1), cert("obs-c", {"obs-b"}), kT0);
    CHECK(as_c.outcome == peer::Outcome::Rejected);
    CHECK(as_c.reason == peer::Reason::IdentityMismatch);
    CHECK_FALSE(b.find(core::ObserverId("obs-c"))->seen);
    CHECK(b.accept(message("obs-b", 7, 1), cert("obs-c", {"obs-b"}), kT0).outcome ==
          peer::Outcome::Accepted);
    CHECK(b.votes(kT0).size() == 1);
  }

  TEST_CASE("a certificate naming more than one configured observer gives no vote at all") {
    auto b = peer::PeerBook({core::ObserverId("obs-b"), core::ObserverId("obs-c")}, kOurs, 5s,
                            core::ObserverId("obs-a"));
    for (const auto& names :
         {std::vector<std::string>{"obs-b", "obs-c"}, std::vector<std::string>{"obs-a", "obs-b"}}) {
      auto a = b.accept(message("obs-b", 7, 1), cert("obs-b", names), kT0);
      CHECK(a.outcome == peer::Outcome::Rejected);
      CHECK(a.reason == peer::Reason::AmbiguousIdentity);
      CHECK(a.detail.find("more than one configured observer") != std::string::npos);
    }
    CHECK(b.votes(kT0).empty());
    CHECK_FALSE(b.find(core::ObserverId("obs-b"))->seen);
  }

  TEST_CASE("a fresh message from a configured peer with our config becomes votes") {
    auto b = book();
    auto a = b.accept(message("obs-b", 7, 1), cert("obs-b"), kT0);
    CHECK(a.outcome == peer::Outcome::Accepted);
    auto votes = b.votes(kT0 + 1s);
    REQUIRE(votes.size() == 1);
    CHECK(votes[0].observer == core::ObserverId("obs-b"));
    CHECK(votes[0].region == core::RegionId("use1"));
    CHECK(votes[0].verdict == core::Verdict::Down);
    CHECK(votes[0].received == kT0);
  }

  TEST_CASE("verdicts count until verdict_ttl after local receive time, then give no vote") {
    auto b = book();
    REQUIRE(b.accept(message("obs-b", 7, 1), cert("obs-b"), kT0).outcome ==
            peer::Outcome::Accepted);
    CHECK(b.votes(kT0 + 5s).size() == 1);
    CHECK(b.votes(kT0 + 5s + 1ms).empty());
    // A newer message refreshes them.
    REQUIRE(b.accept(message("obs-b", 7, 2, core::Verdict::Up), cert("obs-b"), kT0 + 4s).outcome ==
            peer::Outcome::Accepted);
    auto votes = b.votes(kT0 + 8s);
    REQUIRE(votes.size() == 1);
    CHECK(votes[0].verdict == core::Verdict::Up);
  }

  TEST_CASE("the sender's wall clock does not affect freshness") {
    auto b = book();
    auto m = message("obs-b", 7, 1);
    m.sent_unix_ms = 1;  // 1970
    REQUIRE(b.accept(m, cert("obs-b"), kT0).outcome == peer::Outcome::Accepted);
    CHECK(b.votes(kT0 + 1s).size() == 1);
  }

  TEST_CASE("a message whose observer id the certificate does not name is rejected") {
    auto b = book();
    auto a = b.accept(message("obs-b", 7, 1), cert("obs-c", {"obs-c"}), kT0);
    CHECK(a.outcome == peer::Outcome::Rejected);
    CHECK(a.reason == peer::Reason::IdentityMismatch);
    CHECK(a.detail.find("CN=obs-c") != std::string::npos);
    CHECK(b.votes(kT0).empty());
    CHECK_FALSE(b.find(core::ObserverId("obs-b"))->seen);
  }

  TEST_CASE("an observer that is not a configured peer is rejected") {
    auto b = book();
    auto a = b.accept(message("obs-z", 7, 1), cert("obs-z"), kT0);
    CHECK(a.outcome == peer::Outcome::Rejected);
    CHECK(a.reason == peer::Reason::UnknownObserver);
    CHECK(b.votes(kT0).empty());
  }

  TEST_CASE("a replayed or older sequence of the same boot is rejected") {
    auto b = book();
    REQUIRE(b.accept(message("obs-b", 7, 5), cert("obs-b"), kT0).outcome ==
            peer::Outcome::Accepted);
    for (std::uint64_t seq : {5u, 4u, 1u}) {
      auto a = b.accept(message("obs-b", 7, seq, core::Verdict::Up), cert("obs-b"), kT0 + 1s);
      CHECK(a.outcome == peer::Outcome::Rejected);
      CHECK(a.reason == peer::Reason::Replay);
    }
    // The rejected messages changed nothing: the vote is still the accepted one, from kT0.
    auto votes = b.votes(kT0 + 1s);
    REQUIRE(votes.size() == 1);
    CHECK(votes[0].verdict == core::Verdict::Down);
    CHECK(votes[0].received == kT0);
    CHECK(b.accept(message("obs-b", 7, 6), cert("obs-b"), kT0 + 2s).outcome ==
          peer::Outcome::Accepted);
  }

  TEST_CASE("a restarted sender (new boot id) is accepted and its old boot is refused after") {
    auto b = book();
    REQUIRE(b.accept(message("obs-b", 7, 50), cert("obs-b"), kT0).outcome ==
            peer::Outcome::Accepted);
    CHECK(b.accept(message("obs-b", 9, 1), cert("obs-b"), kT0 + 1s).outcome ==
          peer::Outcome::Accepted);
    auto old = b.accept(message("obs-b", 7, 51), cert("obs-b"), kT0 + 2s);
    CHECK(old.outcome == peer::Outcome::Rejected);
    CHECK(old.reason == peer::Reason::Replay);
    CHECK(b.find(core::ObserverId("obs-b"))->boot_id == 9);
  }

  TEST_CASE("sequences are tracked per peer") {
    auto b = book();
    CHECK(b.accept(message("obs-b", 7, 5), cert("obs-b"), kT0).outcome == peer::Outcome::Accepted);
    CHECK(b.accept(message("obs-c", 7, 1), cert("obs-c"), kT0).outcome == peer::Outcome::Accepted);
    CHECK(b.votes(kT0).size() == 2);
  }

  TEST_CASE("a peer running a different config gives no vote and is flagged") {
    auto b = book();
    REQUIRE(b.accept(message("obs-b", 7, 1), cert("obs-b"), kT0).outcome ==
            peer::Outcome::Accepted);
    auto a =
        b.accept(message("obs-b", 7, 2, core::Verdict::Down, kTheirs), cert("obs-b"), kT0 + 1s);
    CHECK(a.outcome == peer::Outcome::NoVote);
    CHECK(a.reason == peer::Reason::ConfigMismatch);
    CHECK(a.detail.find("different config") != std::string::npos);
    CHECK(b.votes(kT0 + 1s).empty());  // the earlier, matching verdicts are withdrawn too
    const auto* r = b.find(core::ObserverId("obs-b"));
    CHECK(r->config_mismatch);
    CHECK(r->fingerprint == kTheirs);
    CHECK(r->last_received == kT0 + 1s);
    // It is still authentic: replay protection advanced.
    CHECK(b.accept(message("obs-b", 7, 2), cert("obs-b"), kT0 + 2s).reason == peer::Reason::Replay);
    // Back on our config: votes again, flag cleared.
    CHECK(b.accept(message("obs-b", 7, 3), cert("obs-b"), kT0 + 3s).outcome ==
          peer::Outcome::Accepted);
    CHECK_FALSE(b.find(core::ObserverId("obs-b"))->config_mismatch);
    CHECK(b.votes(kT0 + 3s).size() == 1);
  }

  TEST_CASE("reason strings are stable") {
    CHECK(peer::to_string(peer::Reason::Ok) == "ok");
    CHECK(peer::to_string(peer::Reason::IdentityMismatch) == "identity_mismatch");
    CHECK(peer::to_string(peer::Reason::UnknownObserver) == "unknown_observer");
    CHECK(peer::to_string(peer::Reason::Replay) == "replay");
    CHECK(peer::to_string(peer::Reason::ConfigMismatch) == "config_mismatch");
    CHECK(peer::to_string(peer::Reason::AmbiguousIdentity) == "ambiguous_identity");
  }
}

TEST_SUITE("peer.rules.holds") {
  peer::PeerMessage with_freeze(std::uint64_t seq, std::string fp = kOurs) {
    auto m = message("obs-b", 7, seq, core::Verdict::Up, std::move(fp));
    peer::ServiceHolds h;
    h.service = core::ServiceId("www");
    h.state.version = 3;
    h.state.author = core::ObserverId("obs-a");
    h.state.action = core::HoldChange::Freeze;
    h.state.who = "ops";
    h.state.freeze = core::Hold{"ops", "migration", 1, core::ObserverId("obs-a"), {}};
    m.holds = {h};
    return m;
  }

  TEST_CASE("an accepted message's holds are kept") {
    auto b = book();
    REQUIRE(b.accept(with_freeze(1), cert("obs-b"), kT0).outcome == peer::Outcome::Accepted);
    REQUIRE(b.find(core::ObserverId("obs-b"))->holds.size() == 1);
    CHECK(b.find(core::ObserverId("obs-b"))->holds[0].state.version == 3);
  }

  TEST_CASE("a message with another config fingerprint brings no holds") {
    auto b = book();
    REQUIRE(b.accept(with_freeze(1), cert("obs-b"), kT0).outcome == peer::Outcome::Accepted);
    auto a = b.accept(with_freeze(2, kTheirs), cert("obs-b"), kT0 + 1s);
    CHECK(a.outcome == peer::Outcome::NoVote);
    CHECK(b.find(core::ObserverId("obs-b"))->holds.empty());
  }

  TEST_CASE("a rejected message changes no holds") {
    auto b = book();
    auto replayed = with_freeze(1);
    REQUIRE(b.accept(message("obs-b", 7, 1), cert("obs-b"), kT0).outcome ==
            peer::Outcome::Accepted);
    CHECK(b.accept(replayed, cert("obs-b"), kT0 + 1s).outcome == peer::Outcome::Rejected);
    CHECK(b.accept(with_freeze(2), cert("obs-c"), kT0 + 1s).outcome == peer::Outcome::Rejected);
    CHECK(b.find(core::ObserverId("obs-b"))->holds.empty());
  }
}
