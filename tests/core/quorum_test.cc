#include "core/quorum.h"

#include <doctest/doctest.h>

#include "fixtures.h"

using namespace failoverd;
using namespace failoverd::core;
using failoverd::test::at;
using namespace std::chrono_literals;

namespace {

const RegionId kEast{"east"};

Quorum three(std::size_t q = 2) {
  return Quorum({ObserverId{"a"}, ObserverId{"b"}, ObserverId{"c"}}, {kEast, RegionId{"west"}}, q,
                3s);
}

// Votes on east, one letter per observer a, b, c: U up, G degraded, D down, ? unknown, '.' none.
void votes(Quorum& q, std::string_view script, Duration when) {
  const char* names[] = {"a", "b", "c"};
  for (std::size_t i = 0; i < script.size(); ++i) {
    Verdict v = Verdict::Unknown;
    switch (script[i]) {
      case 'U': v = Verdict::Up; break;
      case 'G': v = Verdict::Degraded; break;
      case 'D': v = Verdict::Down; break;
      case '.': continue;
      default: break;
    }
    q.record(Vote{ObserverId{names[i]}, kEast, v, at(when)});
  }
}

Verdict eval(Quorum& q, Duration when) {
  q.evaluate(at(when));
  return q.state(kEast);
}

}  // namespace

TEST_SUITE("core.quorum") {
  TEST_CASE("the worked example of quorum.h holds") {
    struct Row {
      const char* votes;
      Verdict want;
    } rows[] = {{"DDU", Verdict::Down},     {"DU?", Verdict::Unknown}, {"UGG", Verdict::Degraded},
                {"UGD", Verdict::Up},       {"D..", Verdict::Unknown}, {"UU.", Verdict::Up},
                {"GG.", Verdict::Degraded}, {"???", Verdict::Unknown}};
    for (const Row& r : rows) {
      CAPTURE(r.votes);
      Quorum q = three();
      votes(q, r.votes, 0s);
      CHECK(eval(q, 0s) == r.want);
    }
  }

  TEST_CASE("the quorum counts configured observers, not those answering") {
    config::Config c = test::cluster_config();
    c.cluster->peers.push_back({ObserverId{"obs-d"}, {}});
    c.cluster->peers.push_back({ObserverId{"obs-e"}, {}});
    Quorum q = Quorum::from_config(c);
    CHECK(q.quorum() == 3);
    q.record(Vote{ObserverId{"obs-a"}, kEast, Verdict::Down, at(0s)});
    q.record(Vote{ObserverId{"obs-b"}, kEast, Verdict::Down, at(0s)});
    q.evaluate(at(0s));
    CHECK(q.state(kEast) == Verdict::Unknown);  // 2 of 2 answering, but 2 < 3 of 5
  }

  TEST_CASE("votes expire by local receive time") {
    Quorum q = three();
    votes(q, "DD.", 0s);
    CHECK(eval(q, 2999ms) == Verdict::Down);
    CHECK(q.next_due() == at(3s));
    CHECK(eval(q, 3s) == Verdict::Unknown);
    CHECK(q.next_due() == TimePoint::max());
  }

  TEST_CASE("a newer vote replaces an older one and an older one is ignored") {
    Quorum q = three();
    votes(q, "DD.", 1s);
    votes(q, "U..", 0s);  // late delivery of an older vote
    CHECK(eval(q, 1s) == Verdict::Down);
    votes(q, "U..", 2s);
    CHECK(eval(q, 2s) == Verdict::Unknown);
  }

  TEST_CASE("votes from unknown observers or on unknown regions are ignored") {
    Quorum q = three();
    q.record(Vote{ObserverId{"mallory"}, kEast, Verdict::Down, at(0s)});
    q.record(Vote{ObserverId{"a"}, RegionId{"mars"}, Verdict::Down, at(0s)});
    votes(q, "D..", 0s);
    CHECK(eval(q, 0s) == Verdict::Unknown);
  }

  TEST_CASE("contradictory quorums decide nothing") {
    Quorum q = three(1);
    votes(q, "DU.", 0s);
    CHECK(eval(q, 0s) == Verdict::Unknown);
    votes(q, "D?.", 1s);
    CHECK(eval(q, 1s) == Verdict::Down);
  }

  TEST_CASE("changes of the confirmed state are events") {
    Quorum q = three();
    votes(q, "UU.", 0s);
    Events ev = q.evaluate(at(0s));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == EventKind::QuorumChanged);
    CHECK(ev[0].region == kEast);
    CHECK(ev[0].from == "unknown");
    CHECK(ev[0].to == "up");
    CHECK(q.evaluate(at(1s)).empty());
    CHECK(q.confirmed().at(kEast).evidence.size() == 2);
  }
}
