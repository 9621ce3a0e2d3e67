#include "probe/classify.h"

#include <doctest/doctest.h>

// GCC 12 -O2: false "potential null pointer dereference" inside Asio's executor ==.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#pragma GCC diagnostic pop
#include <boost/beast/http/error.hpp>
#include <cerrno>

using namespace failoverd;
using namespace failoverd::probe;
using core::ProbeReason;

namespace {
boost::system::error_code sys(int e) { return {e, boost::system::system_category()}; }
}  // namespace

TEST_SUITE("probe.classify") {
  TEST_CASE("socket errors map to the reason an operator expects") {
    CHECK(classify_error(Stage::Connect, sys(ECONNREFUSED)) == ProbeReason::Refused);
    CHECK(classify_error(Stage::Receive, sys(ECONNRESET)) == ProbeReason::Reset);
    CHECK(classify_error(Stage::Send, sys(EPIPE)) == ProbeReason::Reset);
    CHECK(classify_error(Stage::Connect, sys(ENETUNREACH)) == ProbeReason::Unreachable);
    CHECK(classify_error(Stage::Connect, sys(EHOSTUNREACH)) == ProbeReason::Unreachable);
    CHECK(classify_error(Stage::Connect, sys(EAFNOSUPPORT)) == ProbeReason::Unreachable);
    CHECK(classify_error(Stage::Connect, sys(ETIMEDOUT)) == ProbeReason::Timeout);
    CHECK(classify_error(Stage::Connect, {}) == ProbeReason::Ok);
  }

  TEST_CASE("our own deadline always reads as a timeout") {
    CHECK(classify_error(Stage::Receive, boost::asio::error::operation_aborted) ==
          ProbeReason::Timeout);
    CHECK(classify_error(Stage::Connect, sys(ECONNREFUSED), /*timed_out=*/true) ==
          ProbeReason::Timeout);
  }

  TEST_CASE("an early close is a TLS error in the handshake and a protocol error later") {
    CHECK(classify_error(Stage::TlsHandshake, boost::asio::error::eof) == ProbeReason::TlsError);
    CHECK(classify_error(Stage::Receive, boost::asio::error::eof) == ProbeReason::ProtocolError);
    CHECK(classify_error(Stage::Receive, boost::asio::ssl::error::stream_truncated) ==
          ProbeReason::TlsError);
  }

  TEST_CASE("parser errors: oversized header is too large, the rest protocol errors") {
    namespace he = boost::beast::http;
    CHECK(classify_error(Stage::Receive, he::error::header_limit) == ProbeReason::TooLarge);
    CHECK(classify_error(Stage::Receive, he::error::bad_version) == ProbeReason::ProtocolError);
    CHECK(classify_error(Stage::Receive, he::error::bad_status) == ProbeReason::ProtocolError);
  }

  TEST_CASE("status ranges are inclusive and default to 200-399") {
    CHECK(status_expected(200, {}));
    CHECK(status_expected(399, {}));
    CHECK_FALSE(status_expected(404, {}));
    std::vector<config::StatusRange> r{{200, 200}, {500, 503}};
    CHECK(status_expected(200, r));
    CHECK_FALSE(status_expected(201, r));
    CHECK(status_expected(503, r));
    CHECK_FALSE(status_expected(504, r));
  }

  TEST_CASE("a response is judged by status first, then body") {
    std::vector<config::StatusRange> ok{{200, 299}};
    ResponseFacts f;
    f.status = 200;
    CHECK(classify_response(f, ok) == ProbeReason::Ok);
    f.status = 503;
    f.body_checked = true;
    f.body_matched = true;
    CHECK(classify_response(f, ok) == ProbeReason::BadStatus);
    f.status = 200;
    f.body_matched = false;
    CHECK(classify_response(f, ok) == ProbeReason::BodyMismatch);
    f.body_truncated = true;
    CHECK(classify_response(f, ok) == ProbeReason::TooLarge);
    f.body_matched = true;
    CHECK(classify_response(f, ok) == ProbeReason::Ok);
    ResponseFacts none;
    CHECK(classify_response(none, ok) == ProbeReason::ProtocolError);
    none.header_too_large = true;
    CHECK(classify_response(none, ok) == ProbeReason::TooLarge);
  }

  TEST_CASE("status lines are parsed strictly") {
    CHECK(parse_status_line("HTTP/1.1 200 OK\r\n") == 200);
    CHECK(parse_status_line("HTTP/1.0 503 Service Unavailable\r\nX: y\r\n") == 503);
    CHECK(parse_status_line("HTTP/1.1 204\r\n") == 204);
    CHECK(parse_status_line("HTTP/1.1 200 OK") == -1);      // no CRLF
    CHECK(parse_status_line("HTTP/2 200 OK\r\n") == -1);
    CHECK(parse_status_line("HTTP/1.1 20x OK\r\n") == -1);
    CHECK(parse_status_line("HTTP/1.1 099 OK\r\n") == -1);
    CHECK(parse_status_line("HTTP/1.1 2000 OK\r\n") == -1);
    CHECK(parse_status_line("SSH-2.0-OpenSSH\r\n") == -1);
    CHECK(parse_status_line(std::string_view("HTTP/1.1 200 O\0K\r\n", 18)) == -1);
  }

  TEST_CASE("tcp payload escapes") {
    CHECK(unescape_tcp_payload("PING\\r\\n") == "PING\r\n");
    CHECK(unescape_tcp_payload("a\\tb\\\\c") == "a\tb\\c");
    CHECK(unescape_tcp_payload("\\x41\\x7a") == "Az");
    CHECK(unescape_tcp_payload("\\xZZ") == "\\xZZ");
    CHECK(unescape_tcp_payload("end\\") == "end\\");
  }
}
