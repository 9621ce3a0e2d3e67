#include "log/log.h"

#include <doctest/doctest.h>

using namespace failoverd::log;

TEST_SUITE("log") {
  TEST_CASE("logfmt quotes only what needs quoting") {
    auto line = format_line(Format::Logfmt, Level::Info, "T", "admin listening",
                            {{"address", "127.0.0.1:8649"}, {"count", 3}, {"ok", true}});
    CHECK(line == "ts=T level=info msg=\"admin listening\" address=127.0.0.1:8649 count=3 ok=true");
  }

  TEST_CASE("logfmt escapes quotes and newlines so one event is one line") {
    auto line = format_line(Format::Logfmt, Level::Error, "", "bad", {{"why", "a \"b\"\nc"}});
    CHECK(line == "level=error msg=bad why=\"a \\\"b\\\"\\nc\"");
  }

  TEST_CASE("json lines keep numbers unquoted") {
    auto line = format_line(Format::Json, Level::Warning, "T", "x", {{"n", 42}, {"s", "v"}});
    CHECK(line == R"({"ts":"T","level":"warning","msg":"x","n":42,"s":"v"})");
  }
}
