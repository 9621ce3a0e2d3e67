// [[notify]] in the loader: every key read, defaults, and errors naming file:line:column and key;
// secret files checked the way start-up reads them.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_ca.h"
#include "config/loader.h"
#include "config/secrets.h"

namespace fs = std::filesystem;
using namespace failoverd::config;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kBase = R"([observer]
id = "obs-a"

[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "127.0.0.1:80"

)";  // 9 lines: [[notify]] starts on line 10

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

struct Dir {
  Dir() {
    std::string pattern = (fs::temp_directory_path() / "failoverd-notify-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& text,
                   fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
    const auto p = path / name;
    std::ofstream(p) << text;
    fs::permissions(p, mode, fs::perm_options::replace);
    return p.string();
  }
  fs::path path;
};

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("notify: every key is read") {
    Dir d;
    const auto key = d.file("key", "ROUTINGKEY\n");
    const auto url = d.file("url", "https://hooks.example.com/services/T/B/X\n");
    const auto ca = d.file("ca.pem", failoverd::testing::test_pem_certificate());
    const std::string text = std::string(kBase) + R"([[notify]]
name = "pd"
url = "https://events.pagerduty.com/v2/enqueue"
format = "pagerduty"
secret_file = ")" + key + R"("
ca_file = ")" + ca + R"("
events = ["failover_applied", "alert"]
timeout = "2s"
queue_size = 10
max_retries = 5
retry_base = "100ms"
retry_cap = "5s"

[[notify]]
name = "chat"
url_file = ")" + url + R"("
format = "slack"
)";
    const LoadResult r = load_config_string(text, "n.toml");
    REQUIRE_MESSAGE(r.ok(), errors_of(r));
    REQUIRE(r.config->notify.size() == 2);
    const Notify& pd = r.config->notify[0];
    CHECK(pd.name == "pd");
    CHECK(pd.format == NotifyFormat::PagerDuty);
    CHECK(pd.secret_file == key);
    CHECK(pd.ca_file == ca);
    CHECK(pd.events == std::vector<std::string>{"failover_applied", "alert"});
    CHECK(pd.timeout == 2s);
    CHECK(pd.queue_size == 10);
    CHECK(pd.max_retries == 5);
    CHECK(pd.retry_base == 100ms);
    CHECK(pd.retry_cap == 5s);
    const Notify& chat = r.config->notify[1];
    CHECK(chat.url.empty());
    CHECK(chat.url_file == url);
    CHECK(chat.format == NotifyFormat::Slack);
    CHECK(chat.queue_size == 256);  // defaults
    CHECK(chat.max_retries == 3);
    CHECK(chat.timeout == 5s);
    CHECK(chat.events.empty());
  }

  TEST_CASE("notify: bad keys and values name file:line:column and key") {
    const std::string text = std::string(kBase) + R"([[notify]]
name = "a"
url = "ftp://x"
format = "xml"
events = ["failover", 3]
queue_size = 0
timeout = "5"
colour = "red"

[[notify]]
name = "a"
format = "pagerduty"
)";
    CHECK(errors_of(load_config_string(text, "n.toml")) ==
          "n.toml:12:7: notify[0].url: must start with \"http://\" for kind \"http\", got \"ftp://x\"\n"
          "n.toml:13:10: notify[0].format: expected one of \"json\", \"slack\" or \"pagerduty\", got \"xml\"\n"
          "n.toml:14:11: notify[0].events[0]: unknown event kind \"failover\"; expected one of "
          "\"failover_planned\", \"failover_applied\", \"plan_proposed\", \"plan_refused\", "
          "\"service_frozen\", \"service_unfrozen\", \"flip_budget_exhausted\", \"actuator_error\", "
          "\"tilt_entered\", \"tilt_left\", \"observer_impaired\", \"observer_recovered\" or \"alert\"\n"
          "n.toml:14:23: notify[0].events[1]: expected a string, got an integer\n"
          "n.toml:15:14: notify[0].queue_size: must be between 1 and 100000, got 0\n"
          "n.toml:16:11: notify[0].timeout: expected a duration such as \"250ms\" or \"10s\", got \"5\"\n"
          "n.toml:17:1: notify[0].colour: unknown key 'colour'\n"
          "n.toml:19:1: notify[1].url: missing required key 'url' (or 'url_file')\n"
          "n.toml:19:1: notify[1].secret_file: format \"pagerduty\" needs secret_file (the Events v2 "
          "routing key)\n"
          "n.toml:20:8: notify[1].name: duplicate notify name \"a\"\n");
  }

  TEST_CASE("notify: secret files must exist, be private and hold one line") {
    Dir d;
    auto load = [&](const std::string& key, const std::string& extra = "") {
      return load_config_string(std::string(kBase) + "[[notify]]\nname = \"j\"\n" +
                                    "url = \"http://127.0.0.1:9/\"\nsecret_file = \"" + key +
                                    "\"\n" + extra,
                                "n.toml");
    };
    CHECK(errors_of(load(d.path.string() + "/missing")) ==
          "n.toml:13:15: notify[0].secret_file: secret file \"" + d.path.string() +
              "/missing\" does not exist\n");
    const auto open = d.file("open", "tok\n", fs::perms::owner_read | fs::perms::owner_write |
                                                  fs::perms::others_read);
    CHECK(errors_of(load(open)).find("has mode 0604") != std::string::npos);
    const auto two = d.file("two", "tok\nmore\n");
    CHECK(errors_of(load(two)) == "n.toml:13:15: notify[0].secret_file: secret file \"" + two +
                                      "\" must hold one non-empty line\n");
    const auto good = d.file("good", "  tok \n\n");
    CHECK(load(good).ok());
    const auto badurl = d.file("badurl", "not a url\n");
    const std::string slack = std::string(kBase) + "[[notify]]\nname = \"s\"\nformat = \"slack\"\n" +
                              "url_file = \"" + badurl + "\"\n";
    const std::string e = errors_of(load_config_string(slack, "n.toml"));
    CHECK(e.find("n.toml:13:12: notify[0].url_file: secret file") == 0);
    CHECK(e.find("does not hold a usable URL") != std::string::npos);
    CHECK(e.find("not a url") == std::string::npos);  // the secret is not echoed
  }

  TEST_CASE("parse_line_secret") {
    CHECK(parse_line_secret("abc\n") == "abc");
    CHECK(parse_line_secret("  abc\r\n\n") == "abc");
    CHECK_FALSE(parse_line_secret("\n"));
    CHECK_FALSE(parse_line_secret("a\nb"));
    CHECK_FALSE(parse_line_secret(std::string("a\x01z")));
  }
}
