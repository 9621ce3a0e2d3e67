#include "actuate/haproxy.h"

#include <doctest/doctest.h>

using namespace failoverd;
using namespace failoverd::actuate;

namespace {

// Captured from HAProxy 2.6.12 (Debian 12) after
//   set server be_www/euw1-a state ready   (declared `disabled` in the config)
//   set server be_www/use1-a state drain
//   set server be_www/use1-b state maint
//   set server be_www/euw1-a weight 7
constexpr const char* kShowServersState =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 be_www 1 use1-a 127.0.0.1 2 8 10 10 0 1 0 2 0 0 0 0 - 19101 - 0 0 - - 0\n"
    "3 be_www 2 use1-b 127.0.0.1 0 1 10 10 0 1 0 0 0 0 0 0 - 19102 - 0 0 - - 0\n"
    "3 be_www 3 euw1-a 127.0.0.1 2 4 7 5 0 1 0 0 8 0 0 0 - 19201 - 0 0 - - 0\n"
    "3 be_www 4 other 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 19301 - 0 0 - - 0\n"
    "\n";

// The same backend straight after start (euw1-a `disabled` in the config: FMAINT|CMAINT).
constexpr const char* kFreshStart =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 be_www 1 use1-a 127.0.0.1 2 0 10 10 1 1 0 2 0 0 0 0 - 19101 - 0 0 - - 0\n"
    "3 be_www 2 use1-b 127.0.0.1 2 0 10 10 1 1 0 2 0 0 0 0 - 19102 - 0 0 - - 0\n"
    "3 be_www 3 euw1-a 127.0.0.1 0 5 5 5 1 1 0 0 8 0 0 0 - 19201 - 0 0 - - 0\n"
    "3 be_www 4 other 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 19301 - 0 0 - - 0\n"
    "\n";

const std::set<std::string> kManaged{"use1-a", "use1-b", "euw1-a"};

core::Plan plan(std::vector<std::pair<std::string, std::uint32_t>> members) {
  core::Plan p;
  p.service = core::ServiceId("www");
  p.generation = 2;
  p.base_generation = 1;
  for (auto& [v, w] : members) p.members.push_back({core::RegionId("r"), v, w});
  return p;
}

}  // namespace

TEST_SUITE("actuate.haproxy") {
  TEST_CASE("show servers state from HAProxy 2.6 parses into server states") {
    std::string error;
    auto servers = haproxy::parse_servers_state(kShowServersState, error);
    REQUIRE(servers);
    REQUIRE(servers->size() == 4);
    const auto& a = (*servers)[0];
    CHECK(a.backend == "be_www");
    CHECK(a.name == "use1-a");
    CHECK(a.address == "127.0.0.1");
    CHECK(a.op_state == 2);
    CHECK(a.admin_state == 8);
    CHECK(a.drained());
    CHECK_FALSE(a.ready());
    CHECK((*servers)[1].maint());
    CHECK_FALSE((*servers)[1].ready());
    SUBCASE("the config-disabled marker alone still counts as ready") {
      CHECK((*servers)[2].admin_state == 4);
      CHECK((*servers)[2].ready());
      CHECK((*servers)[2].user_weight == 7);
      CHECK((*servers)[2].initial_weight == 5);
    }
    SUBCASE("a server disabled in the config is in maintenance at start") {
      auto fresh = haproxy::parse_servers_state(kFreshStart, error);
      REQUIRE(fresh);
      CHECK((*fresh)[2].maint());
      CHECK((*fresh)[0].ready());
    }
  }

  TEST_CASE("error replies and garbage are not server lists") {
    std::string error;
    CHECK_FALSE(haproxy::parse_servers_state("Can't find backend.\n\n", error));
    CHECK(error.find("Can't find backend") != std::string::npos);
    CHECK_FALSE(haproxy::parse_servers_state("", error));
    CHECK_FALSE(haproxy::parse_servers_state("1\n3 be 1 s1\n", error));
    CHECK_FALSE(haproxy::parse_servers_state("1\n# be_name srv_name\nx y\n", error));
    CHECK_FALSE(haproxy::parse_servers_state(
        "1\n# be_name srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n"
        "be s 127.0.0.1 two 0 1 1\n",
        error));
  }

  TEST_CASE("live members are the ready managed servers") {
    std::string error;
    auto servers = haproxy::parse_servers_state(kShowServersState, error);
    REQUIRE(servers);
    SUBCASE("priority: weight 1, unmanaged servers ignored") {
      auto live = haproxy::live_state(*servers, kManaged, false);
      CHECK(live.members == std::vector<LiveMember>{{"euw1-a", 1}});
      CHECK_FALSE(live.fence);
    }
    SUBCASE("weighted: the user weight") {
      auto live = haproxy::live_state(*servers, kManaged, true);
      CHECK(live.members == std::vector<LiveMember>{{"euw1-a", 7}});
    }
    SUBCASE("fresh start") {
      auto fresh = haproxy::parse_servers_state(kFreshStart, error);
      REQUIRE(fresh);
      CHECK(haproxy::live_state(*fresh, kManaged, false).members ==
            std::vector<LiveMember>{{"use1-a", 1}, {"use1-b", 1}});
    }
  }

  TEST_CASE("commands bring the new servers up before the old ones go") {
    config::HaProxyTarget t;
    t.backend = "be_www";
    t.inactive_state = "drain";
    SUBCASE("priority") {
      auto cmds = haproxy::plan_commands(t, kManaged, false, plan({{"euw1-a", 1}}));
      CHECK(cmds == std::vector<std::string>{"set server be_www/euw1-a state ready",
                                             "set server be_www/use1-a state drain",
                                             "set server be_www/use1-b state drain"});
    }
    SUBCASE("weighted, maint for the inactive ones") {
      t.inactive_state = "maint";
      auto cmds = haproxy::plan_commands(t, kManaged, true, plan({{"use1-a", 30}, {"euw1-a", 70}}));
      CHECK(cmds == std::vector<std::string>{"set server be_www/use1-a weight 30",
                                             "set server be_www/use1-a state ready",
                                             "set server be_www/euw1-a weight 70",
                                             "set server be_www/euw1-a state ready",
                                             "set server be_www/use1-b state maint"});
    }
  }

  TEST_CASE("plans that HAProxy must not receive are refused before sending") {
    CHECK(haproxy::validate_plan(kManaged, false, 1, plan({{"euw1-a", 1}})).empty());
    CHECK_FALSE(haproxy::validate_plan(kManaged, false, 1, plan({})).empty());
    CHECK_FALSE(haproxy::validate_plan(kManaged, false, 2, plan({{"euw1-a", 1}})).empty());
    CHECK_FALSE(haproxy::validate_plan(kManaged, false, 1, plan({{"other", 1}})).empty());
    CHECK_FALSE(haproxy::validate_plan(kManaged, true, 1, plan({{"euw1-a", 0}})).empty());
    CHECK_FALSE(haproxy::validate_plan(kManaged, true, 1, plan({{"euw1-a", 257}})).empty());
    const std::set<std::string> hostile{"a; shutdown sessions"};
    CHECK_FALSE(
        haproxy::validate_plan(hostile, false, 1, plan({{"a; shutdown sessions", 1}})).empty());
  }

  TEST_CASE("runtime API replies are classified") {
    CHECK(haproxy::classify_reply("\n") == WriteStatus::Applied);
    CHECK(haproxy::classify_reply("") == WriteStatus::Applied);
    CHECK(haproxy::classify_reply("No such server.\n\n") == WriteStatus::Invalid);
    CHECK(haproxy::classify_reply("Absolute weight can only be between 0 and 256 inclusive.\n\n") ==
          WriteStatus::Invalid);
    CHECK(haproxy::classify_reply("Permission denied\n\n") == WriteStatus::Refused);
  }
}
