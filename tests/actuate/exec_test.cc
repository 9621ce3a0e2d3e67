#include <doctest/doctest.h>

#include <algorithm>

#include "actuate/exec_hook.h"

using namespace failoverd;
using namespace failoverd::actuate;

TEST_SUITE("actuate.exec") {
  TEST_CASE("the hook's environment describes the plan and nothing else") {
    core::Plan p;
    p.service = core::ServiceId("www");
    p.base_generation = 42;
    p.generation = 43;
    p.active = {core::RegionId("euw1"), core::RegionId("use2")};
    p.members = {{core::RegionId("euw1"), "192.0.2.10", 3},
                 {core::RegionId("use2"), "192.0.2.20", 1}};
    p.trigger = core::Trigger::Manual;
    p.reason = "primary use1 confirmed down by obs-a,obs-b";
    auto env = exec::build_env(p, "obs-a");
    CHECK(env == std::vector<std::string>{
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "FAILOVERD_SERVICE=www",
                     "FAILOVERD_GENERATION=43",
                     "FAILOVERD_BASE_GENERATION=42",
                     "FAILOVERD_ACTIVE_REGIONS=euw1,use2",
                     "FAILOVERD_MEMBERS=192.0.2.10=3,192.0.2.20=1",
                     "FAILOVERD_TRIGGER=manual",
                     "FAILOVERD_REASON=primary use1 confirmed down by obs-a,obs-b",
                     "FAILOVERD_WRITER=obs-a",
                 });
    SUBCASE("NUL bytes cannot cut a value short") {
      p.reason = std::string("a\0b", 3);
      auto e = exec::build_env(p, "obs-a");
      CHECK(std::find(e.begin(), e.end(), "FAILOVERD_REASON=ab") != e.end());
    }
  }

  TEST_CASE("argv[0] must be an absolute path") {
    config::Service s;
    s.target.exec.argv = {"hook.sh"};
    boost::asio::any_io_executor none;
    CHECK_THROWS_AS(ExecActuator(none, s, core::ObserverId("obs-a")), std::invalid_argument);
    s.target.exec.argv = {};
    CHECK_THROWS_AS(ExecActuator(none, s, core::ObserverId("obs-a")), std::invalid_argument);
  }
}
