#include "state/state_file.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "state/atomic_file.h"
#include "state/state_writer.h"

using namespace failoverd::state;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/failoverd-statefile-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

PersistedState sample() {
  PersistedState st;
  st.observer = "obs-a";
  PersistedService www;
  www.name = "www";
  www.frozen = true;
  www.frozen_reason = "maintenance";
  www.pinned = std::string("east");
  www.last_known_good = {{"192.0.2.1", 1}, {"192.0.2.2", 3}};
  www.hold_version = 9;
  www.hold_author = "obs-c";
  www.hold_action = "pin";
  www.hold_who = "bob";
  www.freeze_hold = PersistedHold{"alice", "maintenance", 1795000000000, "obs-a", ""};
  www.pin_hold = PersistedHold{"bob", "r1 flaky", 1795000000500, "obs-c", "east"};
  www.generation = 9;
  www.last_flip_unix_ms = 1795000000123;
  www.automatic_flips_unix_ms = {1794999999000, 1795000000123};
  st.services.push_back(www);
  PersistedService api;
  api.name = "api";
  st.services.push_back(api);
  st.journal.push_back({7, "2026-12-02T10:00:00Z", "www", "admin_freeze", "alice", "freeze"});
  st.journal.push_back({6, "2026-12-02T09:00:00Z", "www", "plan", "core", "to east"});
  st.next_journal_id = 8;
  return st;
}

}  // namespace

TEST_SUITE("state.state_file") {
  TEST_CASE("what is written is read back") {
    const PersistedState st = sample();
    Parsed p = parse(serialize(st), "obs-a");
    REQUIRE(p.kind == Parsed::Kind::Ok);
    // Services come back keyed by name (order by name), everything else as written.
    CHECK(p.state.observer == "obs-a");
    REQUIRE(p.state.services.size() == 2);
    for (const auto& s : st.services) {
      auto it = std::find_if(p.state.services.begin(), p.state.services.end(),
                             [&](const PersistedService& x) { return x.name == s.name; });
      REQUIRE(it != p.state.services.end());
      CHECK(*it == s);
    }
    CHECK(p.state.journal == st.journal);
    CHECK(p.state.next_journal_id == 8);
  }

  TEST_CASE("the flip history is optional (older files) and bounded") {
    Parsed old = parse(R"({"version":1,"observer":"obs-a","services":{"www":{"frozen":false,)"
                       R"("frozen_reason":"","last_known_good":[]}}})",
                       "obs-a");
    REQUIRE(old.kind == Parsed::Kind::Ok);
    REQUIRE(old.state.services.size() == 1);
    CHECK(old.state.services[0].generation == 0);
    CHECK_FALSE(old.state.services[0].last_flip_unix_ms);

    PersistedState st = sample();
    st.services[0].automatic_flips_unix_ms.assign(kMaxPersistedFlips + 5, 1795000000000);
    st.services[0].automatic_flips_unix_ms.back() = 1795000009999;
    Parsed p = parse(serialize(st), "obs-a");  // serialize keeps the newest kMaxPersistedFlips
    REQUIRE(p.kind == Parsed::Kind::Ok);
    auto www = std::find_if(p.state.services.begin(), p.state.services.end(),
                            [](const PersistedService& x) { return x.name == "www"; });
    REQUIRE(www != p.state.services.end());
    const auto& flips = www->automatic_flips_unix_ms;
    CHECK(flips.size() == kMaxPersistedFlips);
    CHECK(flips.back() == 1795000009999);

    std::string many = R"({"version":1,"observer":"obs-a","services":{"www":{"frozen":false,)"
                       R"("frozen_reason":"","last_known_good":[],"generation":3,)"
                       R"("automatic_flips_unix_ms":[)";
    for (std::size_t i = 0; i <= kMaxPersistedFlips; ++i) many += (i ? ",1" : "1");
    many += "]}}}";
    CHECK(parse(many, "obs-a").kind == Parsed::Kind::Malformed);
    CHECK(parse(R"({"version":1,"observer":"obs-a","services":{"www":{"frozen":false,)"
                R"("frozen_reason":"","last_known_good":[],"generation":"3"}}})",
                "obs-a")
              .kind == Parsed::Kind::Malformed);
  }

  TEST_CASE("the hold version survives, and a file without one reads as version 0") {
    Parsed p = parse(serialize(sample()), "obs-a");
    REQUIRE(p.kind == Parsed::Kind::Ok);
    auto www = std::find_if(p.state.services.begin(), p.state.services.end(),
                            [](const PersistedService& x) { return x.name == "www"; });
    REQUIRE(www != p.state.services.end());
    CHECK(www->hold_version == 9);
    CHECK(www->hold_author == "obs-c");
    REQUIRE(www->pin_hold.has_value());
    CHECK(www->pin_hold->region == "east");
    const std::string old_file =
        R"({"version":1,"observer":"obs-a","services":{"www":{"frozen":true,)"
        R"("frozen_reason":"x","last_known_good":[]}},"journal":[],"next_journal_id":1})";
    Parsed q = parse(old_file, "obs-a");
    REQUIRE(q.kind == Parsed::Kind::Ok);
    CHECK(q.state.services.at(0).hold_version == 0);
    std::string zero = serialize(sample());
    auto at = zero.find(R"("version":9)");
    REQUIRE(at != std::string::npos);
    zero.replace(at, 11, R"("version":0)");
    CHECK(parse(zero, "obs-a").kind == Parsed::Kind::Malformed);
  }

  TEST_CASE("another observer's file or an unknown version is never applied") {
    auto wrong = parse(serialize(sample()), "obs-b");
    CHECK(wrong.kind == Parsed::Kind::WrongObserver);
    CHECK(wrong.error ==
          "state file was written by observer \"obs-a\", not by this observer (\"obs-b\")");
    CHECK(wrong.state.services.empty());
    std::string text = serialize(sample());
    const auto at = text.find("\"version\":1");
    REQUIRE(at != std::string::npos);
    text.replace(at, 11, "\"version\":2");
    auto newer = parse(text, "obs-a");
    CHECK(newer.kind == Parsed::Kind::UnknownVersion);
    CHECK(newer.error == "state file version 2 is not one this failoverd reads (1)");
    CHECK(parse("{\"observer\":\"obs-a\"}", "obs-a").kind == Parsed::Kind::Corrupt);
    CHECK(parse("[1,2]", "obs-a").kind == Parsed::Kind::Corrupt);
    // Ours, with one field off: its holds may be in it, so it is not set aside but refused.
    auto off = parse("{\"version\":1,\"observer\":\"obs-a\",\"services\":{\"www\":{\"frozen\":1}}}",
                     "obs-a");
    CHECK(off.kind == Parsed::Kind::Malformed);
    CHECK(off.error.rfind("state file is this observer's but has an unexpected shape", 0) == 0);
  }

  TEST_CASE("the file is small by construction: reasons, details and the journal are bounded") {
    PersistedState st = sample();
    st.services[0].frozen_reason = std::string(9 * 1024 * 1024, 'r');
    st.journal.clear();
    for (std::uint64_t i = 0; i < 1000; ++i) {
      st.journal.push_back(
          {1000 - i, "t", "www", "admin_freeze", "alice", std::string(65536, 'd')});
    }
    const std::string text = serialize(st);
    // 200 entries of at most 2 KiB of detail, one reason of at most 1 KiB, and the rest.
    CHECK(text.size() < kPersistedJournal * (kMaxDetailBytes + 200) + kMaxReasonBytes + 1024);
    Parsed p = parse(text, "obs-a");
    REQUIRE(p.kind == Parsed::Kind::Ok);
    CHECK(p.state.journal.size() == kPersistedJournal);
    CHECK(p.state.journal.front().id == 1000);
    auto it = std::find_if(p.state.services.begin(), p.state.services.end(),
                           [](const PersistedService& x) { return x.name == "www"; });
    REQUIRE(it != p.state.services.end());
    CHECK(it->frozen);
    CHECK(it->frozen_reason.size() == kMaxReasonBytes);
  }

  TEST_CASE("bounded() never splits a UTF-8 sequence") {
    const std::string e_acute = "\xC3\xA9";  // two bytes
    CHECK(bounded("ab" + e_acute, 3) == "ab");
    CHECK(bounded("ab" + e_acute, 4) == "ab" + e_acute);
    CHECK(bounded("abc", 10) == "abc");
  }

  TEST_CASE("loading: missing, fine, corrupt, and the kinds that refuse start-up") {
    TempDir d;
    const std::string path = d.path + "/state.json";
    CHECK(load_state_file(path, "obs-a").kind == Loaded::Kind::Missing);

    REQUIRE_FALSE(write_file_atomic(path, serialize(sample())).has_value());
    auto ok = load_state_file(path, "obs-a");
    REQUIRE(ok.kind == Loaded::Kind::Ok);
    CHECK(ok.state.next_journal_id == 8);

    auto foreign = load_state_file(path, "obs-b");
    CHECK(foreign.kind == Loaded::Kind::Refused);
    CHECK(foreign.error.find("written by observer \"obs-a\"") != std::string::npos);

    REQUIRE_FALSE(write_file_atomic(path, "{not json").has_value());
    CHECK(load_state_file(path, "obs-a").kind == Loaded::Kind::Corrupt);

    SUBCASE("a FIFO is refused at once (a blocking open would hang start-up)") {
      fs::remove(path);
      REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
      auto r = load_state_file(path, "obs-a");
      CHECK(r.kind == Loaded::Kind::Refused);
      CHECK(r.error == path + " is not a regular file; move it away");
    }
    SUBCASE("a symbolic link is refused, not followed") {
      fs::remove(path);
      const std::string elsewhere = d.path + "/elsewhere.json";
      REQUIRE_FALSE(write_file_atomic(elsewhere, serialize(sample())).has_value());
      fs::create_symlink(elsewhere, path);
      auto r = load_state_file(path, "obs-a");
      CHECK(r.kind == Loaded::Kind::Refused);
      CHECK(r.error == path + " is a symbolic link; move it away");
    }
    SUBCASE("a file too big to be ours is refused, never dropped with the holds in it") {
      const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
      REQUIRE(fd >= 0);
      REQUIRE(::ftruncate(fd, static_cast<off_t>(kMaxStateFileBytes + 1)) == 0);  // sparse
      ::close(fd);
      auto r = load_state_file(path, "obs-a");
      CHECK(r.kind == Loaded::Kind::Refused);
      CHECK(r.error.find("is larger than") != std::string::npos);
      CHECK(fs::exists(path));
    }
  }
}

TEST_SUITE("state.state_writer") {
  TEST_CASE("the newest text handed over is on disk after flush, and texts may be coalesced") {
    TempDir d;
    const std::string path = d.path + "/state.json";
    std::uint64_t writes = 0;
    {
      StateWriter w(path);
      for (int i = 0; i < 200; ++i) w.submit("text " + std::to_string(i));
      w.flush();
      CHECK(*read_file(path, 100).contents == "text 199");
      writes = w.writes();
      CHECK(writes >= 1);
      CHECK(writes <= 200);
      w.submit("last");
    }  // the destructor writes what is pending
    CHECK(*read_file(path, 100).contents == "last");
  }

  TEST_CASE("a failed write is tried again until it lands") {
    TempDir d;
    const std::string dir = d.path + "/later";
    StateWriter w(dir + "/state.json");
    w.submit("held");
    w.flush();
    REQUIRE(w.take_error().has_value());
    fs::create_directory(dir);  // the cause goes away (space freed, file system writable again)
    // The retry comes after 1 s by itself, with nothing new submitted; bounded wait.
    bool landed = false;
    for (int i = 0; i < 100 && !landed; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      landed = fs::exists(dir + "/state.json");
    }
    REQUIRE(landed);
    CHECK(*read_file(dir + "/state.json", 100).contents == "held");
  }

  TEST_CASE("a write error is kept for the loop to log") {
    TempDir d;
    StateWriter w(d.path + "/no-such-dir/state.json");
    w.submit("x");
    w.flush();
    auto err = w.take_error();
    REQUIRE(err.has_value());
    CHECK(err->rfind("open ", 0) == 0);
    CHECK_FALSE(w.take_error().has_value());
  }
}
