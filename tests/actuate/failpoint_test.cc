#include "actuate/failpoint.h"

#include <doctest/doctest.h>

#include <cstdlib>

using namespace failoverd::actuate;

TEST_SUITE("actuate.failpoint") {
  TEST_CASE("every point and action parses from <point>:<action>") {
    using P = failpoint::Point;
    using A = failpoint::Action;
    struct Row {
      const char* text;
      P point;
      A action;
    };
    for (const Row& row : {Row{"before_send:kill", P::BeforeSend, A::Kill},
                           Row{"after_send:kill", P::AfterSend, A::Kill},
                           Row{"after_response:stop", P::AfterResponse, A::Stop},
                           Row{"during_verify:stop", P::DuringVerify, A::Stop}}) {
      CAPTURE(row.text);
      std::string error;
      auto spec = failpoint::parse(row.text, &error);
      REQUIRE_MESSAGE(spec, error);
      CHECK(*spec == failpoint::Spec{row.point, row.action});
      CHECK(std::string(failpoint::to_string(spec->point)) + ":" +
                std::string(failpoint::to_string(spec->action)) ==
            row.text);
    }
  }

  TEST_CASE("anything else is rejected with a reason") {
    for (const char* text :
         {"", "before_send", "before_send:", ":kill", "before_send:abort", "after_reply:kill",
          "BEFORE_SEND:kill", "before_send:kill:stop", " before_send:kill"}) {
      CAPTURE(text);
      std::string error;
      CHECK_FALSE(failpoint::parse(text, &error));
      CHECK_FALSE(error.empty());
    }
  }

  TEST_CASE("the environment arms a failpoint, an unset or bad variable arms none") {
    SUBCASE("unset") {
      ::unsetenv("FAILOVERD_FAILPOINT");
      CHECK_FALSE(failpoint::arm_from_environment());
      CHECK_FALSE(failpoint::armed());
    }
    SUBCASE("set") {
      ::setenv("FAILOVERD_FAILPOINT", "during_verify:stop", 1);
      CHECK_FALSE(failpoint::arm_from_environment());
      CHECK(failpoint::armed() ==
            failpoint::Spec{failpoint::Point::DuringVerify, failpoint::Action::Stop});
    }
    SUBCASE("bad") {
      ::setenv("FAILOVERD_FAILPOINT", "during_verify:explode", 1);
      auto err = failpoint::arm_from_environment();
      REQUIRE(err);
      CHECK(err->find("FAILOVERD_FAILPOINT") != std::string::npos);
      CHECK_FALSE(failpoint::armed());
    }
    ::unsetenv("FAILOVERD_FAILPOINT");
    failpoint::arm(std::nullopt);
  }

  TEST_CASE("an armed failpoint stays quiet at the other points") {
    // The armed point itself raises a signal, so only the others are hit here.
    failpoint::arm(failpoint::Spec{failpoint::Point::AfterSend, failpoint::Action::Kill});
    failpoint::hit(failpoint::Point::BeforeSend);
    failpoint::hit(failpoint::Point::AfterResponse);
    failpoint::hit(failpoint::Point::DuringVerify);
    CHECK(failpoint::armed() ==
          failpoint::Spec{failpoint::Point::AfterSend, failpoint::Action::Kill});
    failpoint::arm(std::nullopt);
    failpoint::hit(failpoint::Point::AfterSend);  // disarmed: nothing happens
    CHECK_FALSE(failpoint::armed());
  }
}
