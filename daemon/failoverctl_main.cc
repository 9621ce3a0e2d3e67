// failoverctl: the operator's CLI for failoverd's admin API.
//
// Exit codes: 0 done; 1 the daemon refused (409 conflict, 422 safety rule, 404 unknown);
// 2 usage error; 3 cannot reach the daemon; 4 not authorised (401).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admin/client.h"
#include "config/loader.h"
#include "log/log.h"

namespace {

using namespace failoverd;
namespace json = boost::json;

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitUnauthorised = 4;

void usage(FILE* to) {
  std::fprintf(to,
      "usage: failoverctl [options] COMMAND [args]\n"
      "\n"
      "commands:\n"
      "  status                                   every service: active region, generation, mode\n"
      "  why SERVICE                              per-region verdicts of every observer, evidence\n"
      "  failover SERVICE --to REGION --reason T [--force]\n"
      "  failback SERVICE [--reason T]\n"
      "  freeze SERVICE --reason T                stop automated writes for SERVICE on every\n"
      "                                           observer (see failoverctl(1) for the window)\n"
      "  unfreeze SERVICE [--reason T]\n"
      "  approve SERVICE [--reason T]             carry out a proposed plan (mode = \"propose\")\n"
      "  restore SERVICE [--reason T]             put back the last known good set by CAS\n"
      "  pin SERVICE --to REGION --reason T [--force]\n"
      "                                           fail over and hold: no automatic change until unpin\n"
      "                                           (freeze and pin bind every observer)\n"
      "  unpin SERVICE [--reason T]\n"
      "  events [--limit N] [--follow]            the decision journal, newest first\n"
      "\n"
      "options:\n"
      "  --config FILE       read the admin address and token file from a failoverd config\n"
      "  --admin [https://]HOST:PORT\n"
      "                      admin address (default 127.0.0.1:8649); https:// for a TLS listener\n"
      "  --cacert FILE       CA that signed the admin listener's certificate (implies https;\n"
      "                      default with https: the system store)\n"
      "  --cert FILE         client certificate, for a listener that requires one (mTLS)\n"
      "  --key FILE          its private key (default: in --cert)\n"
      "  --token-file FILE   file of name:token lines; the first (or --token-name) is used\n"
      "  --token-name NAME   which token of the file to use\n"
      "  --json              print the daemon's JSON answer as is\n"
      "  --timeout DURATION  per request (default 5s)\n"
      "\n"
      "The token can also be given in FAILOVERD_TOKEN.\n"
      "exit: 0 done, 1 refused by the daemon, 2 usage, 3 unreachable, 4 not authorised\n");
}

struct Options {
  config::HostPort admin{"127.0.0.1", 8649};
  std::optional<admin::ClientTls> tls;
  std::string token;
  bool json_output = false;
  std::chrono::milliseconds timeout{5000};
  std::string command;
  std::vector<std::string> positional;
  std::string to, reason;
  bool force = false, follow = false;
  unsigned limit = 20;
};

[[noreturn]] void die(int code, const std::string& message) {
  std::fprintf(stderr, "failoverctl: %s\n", message.c_str());
  std::exit(code);
}

std::string read_token(const std::string& file, const std::string& name) {
  std::ifstream in(file);
  if (!in) die(kExitUsage, "cannot read token file " + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (name.empty() || line.substr(0, colon) == name) return line.substr(colon + 1);
  }
  die(kExitUsage, name.empty() ? "no token in " + file : "no token named '" + name + "' in " + file);
}

Options parse(int argc, char** argv) {
  Options o;
  std::string config_file, token_file, token_name;
  bool https = false;
  admin::ClientTls tls;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) die(kExitUsage, a + " needs a value (see --help)");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("failoverctl %s\n", FAILOVERD_VERSION);
      std::exit(0);
    } else if (a == "--config") {
      config_file = value();
    } else if (a == "--admin") {
      std::string v = value();
      if (v.starts_with("https://")) {
        https = true;
        v.erase(0, 8);
      } else if (v.starts_with("http://")) {
        v.erase(0, 7);
      }
      auto hp = config::parse_host_port(v);
      if (!hp) die(kExitUsage, "--admin takes [https://]HOST:PORT");
      o.admin = *hp;
    } else if (a == "--cacert") {
      tls.ca_file = value();
      https = true;
    } else if (a == "--cert") {
      tls.cert_file = value();
      https = true;
    } else if (a == "--key") {
      tls.key_file = value();
    } else if (a == "--token-file") {
      token_file = value();
    } else if (a == "--token-name") {
      token_name = value();
    } else if (a == "--json") {
      o.json_output = true;
    } else if (a == "--timeout") {
      auto d = config::parse_duration(value());
      if (!d) die(kExitUsage, "--timeout takes a duration such as 5s");
      o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    } else if (a == "--to") {
      o.to = value();
    } else if (a == "--reason") {
      o.reason = value();
    } else if (a == "--force") {
      o.force = true;
    } else if (a == "--follow" || a == "-f") {
      o.follow = true;
    } else if (a == "--limit") {
      o.limit = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
      if (o.limit == 0 || o.limit > 1000) die(kExitUsage, "--limit takes 1 to 1000");
    } else if (!a.empty() && a[0] == '-') {
      die(kExitUsage, "unknown option '" + a + "' (see --help)");
    } else if (o.command.empty()) {
      o.command = a;
    } else {
      o.positional.push_back(a);
    }
  }
  if (!config_file.empty()) {
    auto loaded = config::load_config_file(config_file);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      die(kExitUsage, "cannot use config " + config_file);
    }
    o.admin = loaded.config->admin.listen;
    if (token_file.empty()) token_file = loaded.config->admin.token_file;
    if (!loaded.config->admin.tls_cert_file.empty()) https = true;
  }
  if (!tls.key_file.empty() && tls.cert_file.empty()) die(kExitUsage, "--key needs --cert");
  if (https) o.tls = tls;
  if (!token_file.empty()) {
    o.token = read_token(token_file, token_name);
  } else if (const char* env = std::getenv("FAILOVERD_TOKEN")) {
    o.token = env;
  }
  if (o.command.empty()) {
    usage(stderr);
    std::exit(kExitUsage);
  }
  return o;
}

// Sends a request; maps transport and HTTP failures to exit codes with a clear message.
json::value call(const Options& o, const std::string& method, const std::string& target,
                 const std::string& body = {}) {
  auto r = admin::http_request(o.admin, method, target, o.token, body, o.timeout, o.tls);
  if (!r.response) die(kExitUnreachable, "cannot reach failoverd: " + r.error);
  boost::system::error_code ec;
  json::value v = json::parse(r.response->body, ec);
  if (r.response->status >= 400) {
    std::string message = !ec && v.is_object() && v.as_object().contains("error")
                              ? std::string(v.at("error").as_string())
                              : r.response->body;
    if (!ec && v.is_object() && v.as_object().contains("rule")) {
      message += " (rule " + std::string(v.at("rule").as_string()) + ")";
    }
    int code = r.response->status == 401 ? kExitUnauthorised
               : r.response->status == 400 ? kExitUsage
                                           : kExitRefused;
    if (o.json_output && !ec) std::printf("%s\n", json::serialize(v).c_str());
    die(code, "HTTP " + std::to_string(r.response->status) + ": " + log::printable(message));
  }
  if (ec) die(kExitRefused, "the daemon sent a reply that is not JSON");
  return v;
}

// Every string the daemon sends back may hold operator-supplied text (reasons, details): shown
// escaped, so newlines and terminal escape sequences cannot forge lines or drive the terminal.
std::string text(const json::value& v) {
  if (v.is_string()) return log::printable(v.as_string());
  if (v.is_null()) return "-";
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v.as_array()) {
      if (!out.empty()) out += ',';
      out += text(e);
    }
    return out.empty() ? "-" : out;
  }
  return json::serialize(v);
}

std::string field(const json::value& obj, const char* key) {
  if (!obj.is_object()) return "-";
  auto* p = obj.as_object().if_contains(key);
  return p ? text(*p) : "-";
}

// Prints rows as a left-aligned table; the first row is the header.
void table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

void print_status(const json::value& v) {
  std::vector<std::vector<std::string>> rows{
      {"SERVICE", "ACTIVE", "GENERATION", "MODE", "FROZEN", "NOTE"}};
  for (const auto& s : v.at("services").as_array()) {
    rows.push_back({field(s, "name"), field(s, "active"), field(s, "generation"), field(s, "mode"),
                    field(s, "frozen"), field(s, "note")});
  }
  if (v.is_object() && v.as_object().contains("observer")) {
    std::printf("observer %s\n", field(v, "observer").c_str());
  }
  table(rows);
}

void print_service(const json::value& v) {
  std::printf("service %s: active %s, generation %s, mode %s, frozen %s\n",
              field(v, "name").c_str(), field(v, "active").c_str(), field(v, "generation").c_str(),
              field(v, "mode").c_str(), field(v, "frozen").c_str());
  if (field(v, "note") != "-") std::printf("note: %s\n", field(v, "note").c_str());
  // Who holds what, on which observer, since when and why: the same on every observer once
  // the peer exchange has carried an operator's freeze or pin.
  if (auto* holds = v.as_object().if_contains("holds"); holds != nullptr && holds->is_array()) {
    for (const auto& h : holds->as_array()) {
      std::string line = "hold: " + field(h, "kind");
      if (field(h, "region") != "-") line += " to " + field(h, "region");
      line += " by " + field(h, "by");
      if (field(h, "observer") != "-") line += " on " + field(h, "observer");
      line += " since " + field(h, "since") + ": " + field(h, "reason");
      std::printf("%s\n", line.c_str());
    }
  }
  std::vector<std::vector<std::string>> rows{{"REGION", "CONFIRMED", "OBSERVER", "VERDICT", "AGE"}};
  if (auto* regions = v.as_object().if_contains("regions")) {
    for (const auto& r : regions->as_array()) {
      bool first = true;
      for (const auto& vote : r.at("votes").as_array()) {
        rows.push_back({first ? field(r, "name") : "", first ? field(r, "confirmed") : "",
                        field(vote, "observer"), field(vote, "verdict"), field(vote, "age")});
        first = false;
      }
      if (first) rows.push_back({field(r, "name"), field(r, "confirmed"), "-", "-", "-"});
    }
  }
  table(rows);
}

std::uint64_t print_events(const json::value& v, bool header) {
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back({"ID", "TIME", "SERVICE", "KIND", "WHO", "DETAIL"});
  std::uint64_t newest = 0;
  for (const auto& e : v.at("events").as_array()) {
    rows.push_back({field(e, "id"), field(e, "time"), field(e, "service"), field(e, "kind"),
                    field(e, "who"), field(e, "detail")});
    if (e.as_object().contains("id") && e.at("id").is_number()) {
      newest = std::max(newest, e.at("id").to_number<std::uint64_t>());
    }
  }
  if (!rows.empty()) table(rows);
  return newest;
}

int run(const Options& o) {
  auto need_service = [&]() -> const std::string& {
    if (o.positional.size() != 1) die(kExitUsage, o.command + " takes exactly one SERVICE");
    return o.positional[0];
  };
  auto out = [&](const json::value& v, void (*human)(const json::value&)) {
    if (o.json_output) {
      std::printf("%s\n", json::serialize(v).c_str());
    } else {
      human(v);
    }
    return 0;
  };
  if (o.command == "status") return out(call(o, "GET", "/v1/status"), print_status);
  if (o.command == "why") return out(call(o, "GET", "/v1/services/" + need_service()), print_service);
  if (o.command == "events") {
    auto v = call(o, "GET", "/v1/events?limit=" + std::to_string(o.limit));
    if (o.json_output) {
      std::printf("%s\n", json::serialize(v).c_str());
    }
    std::uint64_t newest = o.json_output ? 0 : print_events(v, true);
    // --follow: poll for newer entries, bounded by the caller (Ctrl-C) — one request per second.
    while (o.follow) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto next = call(o, "GET", "/v1/events?limit=" + std::to_string(o.limit));
      json::array fresh;
      for (const auto& e : next.at("events").as_array()) {
        if (e.at("id").to_number<std::uint64_t>() > newest) fresh.push_back(e);
      }
      if (fresh.empty()) continue;
      json::value chunk = json::object{{"events", fresh}};
      if (o.json_output) {
        std::printf("%s\n", json::serialize(chunk).c_str());
        for (const auto& e : fresh) newest = std::max(newest, e.at("id").to_number<std::uint64_t>());
      } else {
        newest = std::max(newest, print_events(chunk, false));
      }
      std::fflush(stdout);
    }
    return 0;
  }
  static const std::vector<std::string> kActions{"failover", "failback", "freeze", "unfreeze",
                                                 "approve",  "restore",  "pin",    "unpin"};
  if (std::find(kActions.begin(), kActions.end(), o.command) != kActions.end()) {
    const std::string& service = need_service();
    json::object body;
    if (o.command == "failover" || o.command == "pin") {
      if (o.to.empty()) die(kExitUsage, o.command + " needs --to REGION");
      body["region"] = o.to;
      if (o.force) body["force"] = true;
    }
    if ((o.command == "failover" || o.command == "freeze" || o.command == "pin") &&
        o.reason.empty()) {
      die(kExitUsage, o.command + " needs --reason TEXT (it is journaled)");
    }
    if (!o.reason.empty()) body["reason"] = o.reason;
    auto v = call(o, "POST", "/v1/services/" + service + "/" + o.command, json::serialize(body));
    if (o.json_output) {
      std::printf("%s\n", json::serialize(v).c_str());
    } else {
      std::printf("%s %s: %s\n", o.command.c_str(), service.c_str(),
                  v.is_object() && v.as_object().contains("message")
                      ? log::printable(v.at("message").as_string()).c_str()
                      : "done");
    }
    return 0;
  }
  die(kExitUsage, "unknown command '" + o.command + "' (see --help)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    // A reply of an unexpected shape (e.g. a field of another type) lands here.
    std::fprintf(stderr, "failoverctl: unexpected reply: %s\n", e.what());
    return kExitRefused;
  }
}
