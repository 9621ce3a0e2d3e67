// Configurations the loader used to accept although the daemon could not do what they say. Each
// is now a load error naming file:line:column and the key, or a message that says what to fix.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "config/loader.h"
#include "peer/message.h"

namespace fs = std::filesystem;
using namespace failoverd::config;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "failoverd-combo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    REQUIRE_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, std::string_view content, fs::perms mode) {
  fs::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(path, mode, fs::perm_options::replace);
}

constexpr fs::perms kPrivate = fs::perms::owner_read | fs::perms::owner_write;

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.to_string() + "\n";
  return out;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Two regions, lines 1-14; services are appended from line 15 on.
constexpr std::string_view kRegions = R"([observer]
id = "obs-a"

[regions.east]
[[regions.east.endpoints]]
name = "e1"
kind = "tcp"
address = "127.0.0.1:80"

[regions.west]
[[regions.west.endpoints]]
name = "w1"
kind = "tcp"
address = "127.0.0.1:81"
)";

// A secret file for targets that need one; @KEY@ in a config is its path.
class Secrets {
 public:
  Secrets() { write_file(path(), "c2VjcmV0\n", kPrivate); }
  std::string path() const { return (dir_.path() / "secret.key").string(); }
  LoadResult load(std::string text) const {
    replace_all(text, "@KEY@", path());
    return load_config_string(text, "t.toml");
  }

 private:
  TempDir dir_;
};

// A priority or weighted service named `name`, publishing `east`/`west`, with `target` lines.
std::string service(std::string_view name, std::string_view policy, std::string_view east,
                    std::string_view west, std::string_view target) {
  std::string out = "\n[services." + std::string(name) + "]\n";
  if (policy == "weighted") {
    out += "policy = \"weighted\"\nweights = { east = 3, west = 1 }\n";
  } else {
    out += "regions = [\"east\", \"west\"]\n";
  }
  out += "[services." + std::string(name) + ".publish]\n";
  out += "east = [\"" + std::string(east) + "\"]\nwest = [\"" + std::string(west) + "\"]\n";
  out += "[services." + std::string(name) + ".target]\n" + std::string(target);
  return out;
}

std::string rfc2136(std::string_view name, std::string_view type, std::string_view extra = "") {
  return "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\nzone = \"example.com.\"\nname = \"" +
         std::string(name) + "\"\ntype = \"" + std::string(type) + "\"\n" + std::string(extra) +
         "tsig_key_name = \"k.\"\ntsig_secret_file = \"@KEY@\"\n";
}

std::string powerdns(std::string_view name, std::string_view type, std::string_view extra = "") {
  return "kind = \"powerdns\"\napi_url = \"http://127.0.0.1:8081\"\nzone = \"example.com.\"\nname "
         "= \"" +
         std::string(name) + "\"\ntype = \"" + std::string(type) + "\"\n" + std::string(extra) +
         "api_key_file = \"@KEY@\"\n";
}

constexpr std::string_view kHaProxy =
    "kind = \"haproxy\"\nsocket = \"/run/haproxy.sock\"\nbackend = \"www\"\n";
constexpr std::string_view kExec = "kind = \"exec\"\nargv = [\"/usr/local/bin/route\"]\n";

}  // namespace

TEST_SUITE("config") {
  TEST_CASE(
      "weighted policy: refused on a target that cannot hold weights, accepted where it can") {
    const Secrets secrets;
    SUBCASE("rfc2136 publishes plain records: every weight would read back as 1, a write loop") {
      const LoadResult r =
          secrets.load(std::string(kRegions) + service("www", "weighted", "192.0.2.1", "192.0.2.2",
                                                       rfc2136("www.example.com.", "A")));
      CHECK(errors_of(r) ==
            "t.toml:17:10: services.www.policy: \"weighted\" cannot be used with target kind "
            "\"rfc2136\": plain A/AAAA records hold no weight, so every member would read back at "
            "weight 1 and the service would write again at every step; use policy \"priority\", or "
            "a target that holds weights (powerdns, haproxy, exec)\n");
    }
    SUBCASE("powerdns holds weights in a LUA record, which serves A and AAAA only") {
      const LoadResult r =
          secrets.load(std::string(kRegions) + service("www", "weighted", "east.example.com.",
                                                       "west.example.com.",
                                                       powerdns("www.example.com.", "CNAME")));
      CHECK(errors_of(r) ==
            "t.toml:27:8: services.www.target.type: policy \"weighted\" publishes a LUA "
            "pickwrandom record, which PowerDNS serves for type \"A\" or \"AAAA\" only, got "
            "\"CNAME\"\n");
    }
    SUBCASE("powerdns A and AAAA, haproxy and exec hold weights and load") {
      for (const std::string& target :
           {powerdns("www.example.com.", "A"), std::string(kHaProxy), std::string(kExec)}) {
        CAPTURE(target);
        const bool v4 = target.find("powerdns") != std::string::npos;
        const LoadResult r =
            secrets.load(std::string(kRegions) + service("www", "weighted", v4 ? "192.0.2.1" : "a",
                                                         v4 ? "192.0.2.2" : "b", target));
        CHECK(errors_of(r) == "");
      }
      const LoadResult r6 = secrets.load(std::string(kRegions) +
                                         service("www", "weighted", "2001:db8::1", "2001:db8::2",
                                                 powerdns("www.example.com.", "AAAA")));
      CHECK(errors_of(r6) == "");
    }
  }

  TEST_CASE("keys a kind or policy would ignore are load errors naming the key") {
    const Secrets secrets;
    SUBCASE(
        "send, expect and reset_after_connect apply to tcp, not tls (it stops at the handshake)") {
      std::string text(kRegions);
      replace_all(text, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
                  "kind = \"tls\"\naddress = \"127.0.0.1:443\"\nsend = \"PING\"\nexpect = "
                  "\"PONG\"\nreset_after_connect = false\n");
      CHECK(errors_of(secrets.load(text)) ==
            "t.toml:9:1: regions.east.endpoints[0].send: 'send' does not apply to kind "
            "\"tls\"\nt.toml:10:1: regions.east.endpoints[0].expect: 'expect' does not apply to "
            "kind \"tls\"\nt.toml:11:1: regions.east.endpoints[0].reset_after_connect: "
            "'reset_after_connect' does not apply to kind \"tls\"\n");
      std::string tcp(kRegions);
      replace_all(tcp, "address = \"127.0.0.1:80\"\n",
                  "address = \"127.0.0.1:80\"\nsend = \"PING\"\nexpect = "
                  "\"PONG\"\nreset_after_connect = false\n");
      const LoadResult r = secrets.load(tcp);
      REQUIRE(errors_of(r) == "");
      CHECK(r.config->regions[0].endpoints[0].tcp.expect == "PONG");
    }
    SUBCASE("a dns endpoint has one deadline: connect_timeout on it is an error") {
      std::string text(kRegions);
      replace_all(text, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
                  "kind = \"dns\"\nserver = \"127.0.0.1:53\"\nquery_name = "
                  "\"example.com.\"\nconnect_timeout = \"200ms\"\n");
      CHECK(errors_of(secrets.load(text)) ==
            "t.toml:10:1: regions.east.endpoints[0].connect_timeout: 'connect_timeout' does not "
            "apply to kind \"dns\"\n");
    }
    SUBCASE("[probe_defaults] connect_timeout stays a default for the endpoints that connect") {
      std::string text(kRegions);
      replace_all(text, "kind = \"tcp\"\naddress = \"127.0.0.1:80\"\n",
                  "kind = \"dns\"\nserver = \"127.0.0.1:53\"\nquery_name = "
                  "\"example.com.\"\ntimeout = \"200ms\"\n");
      text += "[probe_defaults]\nconnect_timeout = \"300ms\"\n";
      const LoadResult r = secrets.load(text);
      REQUIRE(errors_of(r) == "");
      CHECK(r.config->regions[1].endpoints[0].connect_timeout ==
            Duration(std::chrono::milliseconds(300)));
    }
    SUBCASE("degraded_weight_factor applies to the weighted policy only") {
      std::string text = std::string(kRegions) + service("www", "priority", "a", "b", kHaProxy);
      replace_all(text, "regions = [\"east\", \"west\"]\n",
                  "regions = [\"east\", \"west\"]\ndegraded_weight_factor = 0.3\n");
      CHECK(errors_of(secrets.load(text)) ==
            "t.toml:18:26: services.www.degraded_weight_factor: applies only to policy "
            "\"weighted\" (under policy \"priority\" a degraded region keeps serving as it is)\n");
      const LoadResult w =
          secrets.load(std::string(kRegions) + service("www", "weighted", "a", "b", kHaProxy));
      CHECK(errors_of(w) == "");
    }
    SUBCASE("scope \"shared\" needs a fence stored in the target: not haproxy, not exec") {
      for (const auto& [kind, target] :
           {std::pair{"haproxy", kHaProxy}, std::pair{"exec", kExec}}) {
        CAPTURE(kind);
        const LoadResult r = secrets.load(
            std::string(kRegions) +
            service("www", "priority", "a", "b", std::string(target) + "scope = \"shared\"\n"));
        const std::string at = kind == std::string_view("haproxy") ? "25" : "24";
        CHECK(errors_of(r) == "t.toml:" + at + ":9: services.www.target.scope: kind \"" + kind +
                                  "\" cannot be shared: it stores no fence, so nothing would stop "
                                  "two observers writing it at once; each observer drives its own "
                                  "(scope \"local\", the default), or use a DNS target (rfc2136, "
                                  "powerdns) for one target shared by the cluster\n");
        const LoadResult local =
            secrets.load(std::string(kRegions) + service("www", "priority", "a", "b", target));
        REQUIRE(errors_of(local) == "");
        CHECK(local.config->services[0].target.scope == TargetScope::Local);
      }
    }
  }

  TEST_CASE("services on one name need their own fence and RRset, or the config is refused") {
    const Secrets secrets;
    const std::string a =
        service("www4", "priority", "192.0.2.1", "192.0.2.2", rfc2136("www.example.com.", "A"));
    SUBCASE("A and AAAA on one name share the default fence: refused where the second is") {
      const std::string aaaa = service("www6", "priority", "2001:db8::1", "2001:db8::2",
                                       rfc2136("www.example.com.", "AAAA"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + a + aaaa)) ==
            "t.toml:35:1: services.www6.target.fence_name: the default fence "
            "\"_failoverd.www.example.com.\" (\"_failoverd.\" + name) is also the fence of service "
            "\"www4\" (line 25): two services on one fence freeze each other (each reads a "
            "generation it never wrote); give this one its own fence_name, e.g. "
            "\"_failoverd-aaaa.www.example.com.\"\n");
    }
    SUBCASE("with its own fence_name the AAAA service loads; the A service's fence is unchanged") {
      const std::string aaaa =
          service("www6", "priority", "2001:db8::1", "2001:db8::2",
                  rfc2136("www.example.com.", "AAAA",
                          "fence_name = \"_failoverd-aaaa.www.example.com.\"\n"));
      const LoadResult r = secrets.load(std::string(kRegions) + a + aaaa);
      REQUIRE(errors_of(r) == "");
      CHECK(r.config->services[0].target.rfc2136.fence_name.empty());  // "_failoverd." + name
    }
    SUBCASE("an explicit fence_name written twice, in any case, is refused at the second") {
      const std::string a2 =
          service("www4", "priority", "192.0.2.1", "192.0.2.2",
                  rfc2136("www.example.com.", "A", "fence_name = \"_fence.www.example.com.\"\n"));
      const std::string aaaa = service(
          "www6", "priority", "2001:db8::1", "2001:db8::2",
          rfc2136("www.example.com.", "AAAA", "fence_name = \"_FENCE.www.example.com.\"\n"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + a2 + aaaa)) ==
            "t.toml:42:14: services.www6.target.fence_name: fence \"_fence.www.example.com.\" is "
            "also the fence of service \"www4\" (line 25): two services on one fence freeze each "
            "other (each reads a generation it never wrote); give this one its own fence_name, "
            "e.g. \"_failoverd-aaaa.www.example.com.\"\n");
    }
    SUBCASE("an explicit fence_name equal to another service's default is refused too") {
      const std::string api = service(
          "api", "priority", "192.0.2.3", "192.0.2.4",
          rfc2136("api.example.com.", "A", "fence_name = \"_failoverd.www.example.com.\"\n"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + a + api)) ==
            "t.toml:41:14: services.api.target.fence_name: fence \"_failoverd.www.example.com.\" "
            "is also the fence of service \"www4\" (line 25): two services on one fence freeze "
            "each other (each reads a generation it never wrote); give this one its own "
            "fence_name, e.g. \"_failoverd-a.api.example.com.\"\n");
    }
    SUBCASE("one RRset written by two services, or a CNAME beside other data, is refused") {
      const std::string again =
          service("www-again", "priority", "192.0.2.1", "192.0.2.2",
                  rfc2136("WWW.example.com.", "A", "fence_name = \"_other.www.example.com.\"\n"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + a + again)) ==
            "t.toml:39:8: services.www-again.target.name: \"www.example.com.\" type \"A\" is also "
            "written by service \"www4\" (line 25): two services would overwrite each other's "
            "answer\n");
      const std::string cname = service(
          "alias", "priority", "east.example.com.", "west.example.com.",
          rfc2136("www.example.com.", "CNAME", "fence_name = \"_other.www.example.com.\"\n"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + a + cname)) ==
            "t.toml:39:8: services.alias.target.name: \"www.example.com.\" is also written by "
            "service \"www4\" (line 25) with type \"A\": a CNAME cannot share its name with other "
            "records\n");
    }
    SUBCASE("a weighted powerdns service owns the LUA record at its name") {
      const std::string lua =
          service("www4", "weighted", "192.0.2.1", "192.0.2.2", powerdns("www.example.com.", "A"));
      const std::string aaaa =
          service("www6", "priority", "2001:db8::1", "2001:db8::2",
                  powerdns("www.example.com.", "AAAA",
                           "fence_name = \"_failoverd-aaaa.www.example.com.\"\n"));
      CHECK(errors_of(secrets.load(std::string(kRegions) + lua + aaaa)) ==
            "t.toml:39:8: services.www6.target.name: \"www.example.com.\" is also written by "
            "service \"www4\" (line 26), and a weighted powerdns service keeps its answer in the "
            "one LUA record at that name, which every powerdns write of the other replaces or "
            "deletes\n");
    }
  }

  TEST_CASE("the loader refuses more regions than observers can exchange verdicts for") {
    const auto regions = [](std::size_t n) {
      std::string text = "[observer]\nid = \"obs-a\"\n";
      for (std::size_t i = 1; i <= n; ++i) {
        const std::string r = "r" + std::to_string(i);
        text += "[regions." + r + "]\n[[regions." + r + ".endpoints]]\nname = \"" + r +
                "\"\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n";
      }
      return text;
    };
    const std::size_t limit = failoverd::peer::kMaxRegions;
    CHECK(errors_of(load_config_string(regions(limit), "t.toml")) == "");
    const std::size_t line = 3 + 5 * limit;  // [regions.r257]
    CHECK(errors_of(load_config_string(regions(limit + 1), "t.toml")) ==
          "t.toml:" + std::to_string(line) + ":10: regions.r" + std::to_string(limit + 1) +
              ": more than " + std::to_string(limit) + " regions (this is region " +
              std::to_string(limit + 1) + " of " + std::to_string(limit + 1) +
              "): observers exchange one verdict per region and refuse a message with more, so no "
              "quorum could form\n");

    SUBCASE("and a message for the largest config that loads is one the decoder takes") {
      failoverd::peer::PeerMessage m;
      m.observer = failoverd::core::ObserverId(std::string(64, 'o'));
      m.boot_id = 0xffffffffffffffffULL;
      m.sequence = 0xffffffffffffffffULL;
      m.config_fingerprint = std::string(64, 'f');
      m.sent_unix_ms = 4102444800000;
      for (std::size_t i = 0; i < limit; ++i) {
        std::string name = std::to_string(i);
        name.insert(0, 64 - name.size(), 'r');
        // The longest reason an observer sends is its impairment, under 40 characters.
        m.verdicts.push_back({failoverd::core::RegionId(name), failoverd::core::Verdict::Degraded,
                              std::string(64, 'x')});
      }
      const std::string wire = failoverd::peer::encode(m);
      CAPTURE(wire.size());
      const auto decoded = failoverd::peer::decode(wire);
      CHECK(decoded.error == "");
    }
  }

  TEST_CASE("an unclosed array or inline table is reported with the place it opened") {
    SUBCASE("toml++ gives up at the next table header; the message says where the array began") {
      const std::string text =
          "[observer]\nid = \"a\"\n[regions.east]\n[[regions.east.endpoints]]\nname = \"e1\"\nkind "
          "= \"http\"\nurl = \"http://127.0.0.1/\"\nexpect_status = [200,\n  "
          "201\n\n[regions.west]\nmin_up = 1\n";
      CHECK(errors_of(load_config_string(text, "t.toml")) ==
            "t.toml:11:1: Error while parsing array: expected comma or closing ']', saw '[' (the "
            "array opened at line 8, column 17 is still open here)\n");
    }
    SUBCASE("brackets in strings, comments and table headers are not arrays") {
      const std::string text =
          "# a comment with [ and {\n[observer]\nid = \"a[\" # ]\nnote = "
          "'''\n[\n'''\n[regions.\"e[ast\"]\nlist = [\"]\", 'x]', \"\"\"\n]\"\"\", [1, 2],\n  # "
          "]\n  3\nb = 1\n";
      CHECK(errors_of(load_config_string(text, "t.toml")) ==
            "t.toml:12:1: Error while parsing array: expected comma or closing ']', saw 'b' (the "
            "array opened at line 8, column 8 is still open here)\n");
    }
    SUBCASE("the innermost open array, up to the end of the file") {
      CHECK(errors_of(load_config_string("a = [[1, 2], [3,\n  4,\n", "t.toml")) ==
            "t.toml:2:6: Error while parsing array: encountered end-of-file (the array opened at "
            "line 1, column 14 is still open here)\n");
    }
    SUBCASE("an inline table") {
      CHECK(errors_of(load_config_string("x = { a = 1\ny = 2\n", "t.toml")) ==
            "t.toml:1:12: Error while parsing inline table: expected key or closing '}', saw '\\n' "
            "(the inline table opened at line 1, column 5 is still open here)\n");
    }
  }

  TEST_CASE("the demo config says how to make it load in a fresh clone") {
    // A checkout gives config/demo-tsig.key and config/demo-admin.token mode 0644, which the
    // loader refuses for secrets. The header of config/demo.toml must name, before it says how to
    // run failoverd on it, the chmod that makes every refused file private.
    // What a checkout gives files under the usual umask 022: git keeps no other mode bits.
    constexpr fs::perms kCheckedOut = kPrivate | fs::perms::group_read | fs::perms::others_read;
    TempDir dir;
    const fs::path source = fs::path(FAILOVERD_SOURCE_DIR) / "config";
    const fs::path config = dir.path() / "config";
    fs::create_directories(config);
    for (const char* file : {"demo.toml", "demo-tsig.key", "demo-admin.token"}) {
      fs::copy_file(source / file, config / file);
      fs::permissions(config / file, kCheckedOut, fs::perm_options::replace);
    }
    const LoadResult fresh = load_config_file((config / "demo.toml").string());
    REQUIRE_FALSE(fresh.ok());

    std::ifstream in(source / "demo.toml");
    std::vector<std::string> header;
    for (std::string line; std::getline(in, line) && line.starts_with("#");) header.push_back(line);
    std::size_t run_line = header.size();
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i].find("failoverd --config config/demo.toml") != std::string::npos) {
        run_line = std::min(run_line, i);
      }
    }
    REQUIRE(run_line < header.size());
    for (const ConfigError& e : fresh.errors) {
      CAPTURE(e.to_string());
      const std::size_t fix = e.message.find("run: chmod 600 ");
      REQUIRE(fix != std::string::npos);  // nothing else stands in the way
      const std::string file = fs::path(e.message.substr(fix + 15)).filename().string();
      bool named = false;
      for (std::size_t i = 0; i < run_line; ++i) {
        named = named || (header[i].find("chmod 600") != std::string::npos &&
                          header[i].find("config/" + file) != std::string::npos);
      }
      CHECK_MESSAGE(named, "the header of config/demo.toml does not chmod config/"
                               << file << " before it says to run failoverd");
      fs::permissions(config / file, kPrivate, fs::perm_options::replace);
    }
    CHECK(errors_of(load_config_file((config / "demo.toml").string())) == "");
  }
}
