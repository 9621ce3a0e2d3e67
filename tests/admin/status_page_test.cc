#include "admin/status_page.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <string>

using namespace failoverd::admin;

namespace {

std::string header(const Response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

// The text between the only `open` and its `close` tag.
std::string between(const std::string& body, std::string_view open, std::string_view close) {
  auto a = body.find(open);
  REQUIRE(a != std::string::npos);
  REQUIRE(body.find(open, a + 1) == std::string::npos);
  a += open.size();
  auto b = body.find(close, a);
  REQUIRE(b != std::string::npos);
  return body.substr(a, b - a);
}

std::string sha256_source(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr);
  unsigned char b64[64];
  int m = EVP_EncodeBlock(b64, digest, static_cast<int>(n));
  return "'sha256-" + std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(m)) + "'";
}

}  // namespace

TEST_SUITE("admin.status_page") {
  TEST_CASE("the policy allows exactly the page's own script and style, nothing inline else") {
    const Response r = status_page();
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    const std::string csp = header(r, "Content-Security-Policy");
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("script-src " + sha256_source(between(r.body, "<script>", "</script>")) + ";") !=
          std::string::npos);
    CHECK(csp.find("style-src " + sha256_source(between(r.body, "<style>", "</style>")) + ";") !=
          std::string::npos);
    CHECK(csp.find("connect-src 'self'") != std::string::npos);
    CHECK(csp.find("form-action 'none'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);
    CHECK(header(r, "X-Content-Type-Options") == "nosniff");
    CHECK(header(r, "Cache-Control") == "no-store");
    CHECK(header(r, "Referrer-Policy") == "no-referrer");
  }

  TEST_CASE("the page loads nothing from elsewhere and never parses data as markup") {
    const std::string body = status_page().body;
    for (std::string_view banned : {"http://", "https://", "//cdn", " src=", " href=", "innerHTML",
                                    "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                                    "localStorage", "?token", "onclick="}) {
      INFO(banned);
      CHECK(body.find(banned) == std::string::npos);
    }
    // The token is typed by the user and kept in the tab's sessionStorage, sent as a header.
    CHECK(body.find("sessionStorage") != std::string::npos);
    CHECK(body.find("'Authorization': 'Bearer '") != std::string::npos);
  }
}
