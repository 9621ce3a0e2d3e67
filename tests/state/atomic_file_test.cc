#include "state/atomic_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

using namespace failoverd::state;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/failoverd-state-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_SUITE("state.atomic_file") {
  TEST_CASE("a write replaces the whole file and leaves no temp file behind") {
    TempDir d;
    auto p = d.path + "/state.json";
    REQUIRE_FALSE(write_file_atomic(p, "first").has_value());
    REQUIRE_FALSE(write_file_atomic(p, "second, longer").has_value());
    auto r = read_file(p, 1024);
    REQUIRE(r.contents.has_value());
    CHECK(*r.contents == "second, longer");
    CHECK(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}) == 1);
  }

  TEST_CASE("the file gets the requested mode") {
    TempDir d;
    auto p = d.path + "/state.json";
    REQUIRE_FALSE(write_file_atomic(p, "x", 0600).has_value());
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }

  TEST_CASE("a failed write reports why and keeps the old contents") {
    TempDir d;
    auto p = d.path + "/state.json";
    REQUIRE_FALSE(write_file_atomic(p, "old").has_value());
    // The target is a directory now: rename(2) fails after the temp file was written.
    fs::remove(p);
    fs::create_directory(p);
    fs::create_directory(p + "/keep");
    auto err = write_file_atomic(p, "new");
    REQUIRE(err.has_value());
    CHECK(err->rfind("rename ", 0) == 0);
    for (const auto& entry : fs::directory_iterator(d.path)) {
      CHECK(entry.path().filename().string().rfind(".state.json.tmp", 0) != 0);
    }
  }

  TEST_CASE("a link planted at the temporary name is never written through") {
    TempDir d;
    const auto p = d.path + "/state.json";
    const auto victim = d.path + "/victim";
    REQUIRE_FALSE(write_file_atomic(victim, "precious").has_value());
    // The names a writer might use for its temporary file, as another user with write access
    // to the directory would guess them (the fixed name of old, and the one with our pid).
    const auto tmp = d.path + "/.state.json.tmp." + std::to_string(::getpid());
    fs::create_symlink(victim, tmp);
    fs::create_symlink(victim, d.path + "/.state.json.tmp");
    REQUIRE_FALSE(write_file_atomic(p, "state").has_value());
    CHECK(*read_file(victim, 100).contents == "precious");
    CHECK(*read_file(p, 100).contents == "state");
    CHECK_FALSE(fs::is_symlink(p));
    // A dangling link (to a file that does not exist yet) is not followed either.
    const auto target = d.path + "/created-through-link";
    fs::create_symlink(target, tmp);
    REQUIRE_FALSE(write_file_atomic(p, "again").has_value());
    CHECK_FALSE(fs::exists(target));
    CHECK(*read_file(p, 100).contents == "again");
  }

  TEST_CASE("reading a FIFO is an error, not a hang") {
    TempDir d;
    const auto fifo = d.path + "/tokens";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto r = read_file(fifo, 100);  // a blocking open would wait here for a writer forever
    CHECK_FALSE(r.contents.has_value());
    CHECK(r.error == fifo + ": not a regular file");
  }

  TEST_CASE("reading tells a missing file from an unreadable or oversized one") {
    TempDir d;
    auto missing = read_file(d.path + "/nope", 10);
    CHECK(missing.missing);
    CHECK_FALSE(missing.contents.has_value());
    REQUIRE_FALSE(write_file_atomic(d.path + "/big", std::string(100, 'x')).has_value());
    auto big = read_file(d.path + "/big", 10);
    CHECK_FALSE(big.contents.has_value());
    CHECK(big.error.find("larger than 10 bytes") != std::string::npos);
  }
}
