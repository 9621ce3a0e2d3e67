#include "log/log.h"

#include <doctest/doctest.h>

using namespace failoverd::log;

TEST_SUITE("log") {
  TEST_CASE("printable() leaves no control character for a terminal to act on") {
    CHECK(printable("plain text, caf\xC3\xA9") == "plain text, caf\xC3\xA9");
    CHECK(printable("two\nlines\r\tx") == "two\\nlines\\r\\tx");
    CHECK(printable("\x1b[31mred\x1b[0m") == "\\u001b[31mred\\u001b[0m");
    CHECK(printable("del\x7f") == "del\\u007f");
    CHECK(printable("csi\xC2\x9B" "2J") == "csi\\u009b2J");  // C1 CSI in UTF-8
    CHECK(printable("bad\xFF\xC3") == "bad\\xff\\xc3");    // not UTF-8
    CHECK(printable("back\\slash") == "back\\\\slash");
    CHECK(printable("abc\xE2\x80\xAE" "def") == "abc\\u202e" "def");  // right-to-left override
    CHECK(printable("\xE2\x81\xA6x\xE2\x80\x8F") == "\\u2066x\\u200f");
    CHECK(printable("\xE2\x80\x94") == "\xE2\x80\x94");  // an em dash stays
    for (int c = 0; c < 256; ++c) {
      const std::string out = printable(std::string(1, static_cast<char>(c)) + "\xC2\x85");
      for (char o : out) {
        const auto u = static_cast<unsigned char>(o);
        CHECK((u >= 0x20 && u != 0x7f));
      }
    }
  }

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
