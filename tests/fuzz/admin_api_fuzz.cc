// libFuzzer target: the admin API's request handling (routing, bearer-token check, JSON body
// parsing, query parsing, error model) on arbitrary method, target, headers and body.
// Build: cmake --preset fuzz && cmake --build build/fuzz --target admin_api_fuzz
// Run:   build/fuzz/tests/admin_api_fuzz -max_total_time=600 <corpus dir>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "admin/api.h"

namespace {

using namespace failoverd::admin;
namespace json = boost::json;

struct FakeControl : Control {
  json::value status() override { return json::object{{"services", json::array{}}}; }
  std::optional<json::value> service(std::string_view name) override {
    if (name != "www") return std::nullopt;
    return json::object{{"name", "www"}};
  }
  ActionResult act(const ActionRequest& r) override {
    // Cycle through every result kind so each status mapping is exercised.
    auto kind = static_cast<ActionResult::Kind>(r.reason.size() % 5);
    return {kind, "m", "rule", json::object{{"ok", true}}};
  }
  json::value events(std::optional<std::uint64_t>, std::size_t limit) override {
    return json::object{{"events", json::array{}}, {"limit", limit}};
  }
};

// Splits the input at NUL bytes into method, target, authorization, body.
std::string take(const std::uint8_t*& p, const std::uint8_t* end) {
  const std::uint8_t* start = p;
  while (p < end && *p != 0) ++p;
  std::string out(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p - start));
  if (p < end) ++p;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FakeControl control;
  static TokenSet tokens = [] {
    TokenSet t;
    TokenSet::parse("fuzz:fuzz-token-0123456789abcdef\n", t);
    return t;
  }();
  static Api api(control, tokens, ApiOptions{0});

  const std::uint8_t* p = data;
  const std::uint8_t* end = data + size;
  Request r;
  r.method = take(p, end);
  r.target = take(p, end);
  std::string auth = take(p, end);
  if (!auth.empty()) r.headers["authorization"] = auth == "T" ? "Bearer fuzz-token-0123456789abcdef" : auth;
  r.body = std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p));
  r.peer = "127.0.0.1:1";
  Response res = api.handle(r, std::chrono::steady_clock::time_point{});
  if (res.status < 200 || res.status > 599) __builtin_trap();
  if (res.status >= 400) {
    // Every error is JSON with an "error" string.
    boost::system::error_code ec;
    json::value v = json::parse(res.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) __builtin_trap();
  }
  // Token files: arbitrary text never crashes the parser.
  TokenSet scratch;
  TokenSet::parse(std::string_view(reinterpret_cast<const char*>(data), size), scratch);
  return 0;
}
