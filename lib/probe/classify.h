// Pure outcome classification for probes: error codes and HTTP response facts to
// core::ProbeReason. No sockets, no clock: unit-tested in tests/probe/classify_test.cc.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/types.h"

namespace failoverd::probe {

// The step of a probe an error happened in; the same error means different things per step
// (an EOF during the TLS handshake is a TLS failure, during the response a protocol error).
enum class Stage { Connect, TlsHandshake, Send, Receive };

// Maps an I/O error to a reason. `timed_out` is true when our own deadline cancelled the
// operation (the error is then usually operation_aborted): that is always Timeout.
core::ProbeReason classify_error(Stage stage, const boost::system::error_code& ec,
                                 bool timed_out = false);

// True when `status` falls in one of the inclusive ranges. An empty list accepts 200-399.
bool status_expected(int status, const std::vector<config::StatusRange>& ranges);

// What the HTTP probe saw of the response, in the order it judges it.
struct ResponseFacts {
  int status = 0;                 // 0: no complete status line/header
  bool header_too_large = false;  // header exceeded the header limit
  bool body_checked = false;      // a body substring or regex is configured
  bool body_matched = false;      // ... and it was found in the window
  bool body_truncated = false;    // the body went past body_limit before a match
};

// Status first (a 503 is BadStatus whatever its body), then the body: matched -> Ok; not found in
// a complete body -> BodyMismatch; not found within body_limit of a longer body -> TooLarge.
core::ProbeReason classify_response(const ResponseFacts& facts,
                                    const std::vector<config::StatusRange>& expected);

// Parses an HTTP/1.x status line at the start of `head` ("HTTP/1.1 200 OK\r\n..."): the status
// code, or -1 when it is not a well-formed HTTP/1.0 or 1.1 status line ending in CRLF.
int parse_status_line(std::string_view head);

// Decodes the escapes allowed in TcpCheck::send/expect: \r \n \t \\ and \xHH.
std::string unescape_tcp_payload(std::string_view in);

}  // namespace failoverd::probe
