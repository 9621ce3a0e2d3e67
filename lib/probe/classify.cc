#include "probe/classify.h"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <cstring>
#include <string>

namespace failoverd::probe {

using core::ProbeReason;

namespace {

bool is_ssl_category(const boost::system::error_code& ec) {
  // "asio.ssl" (OpenSSL errors) and "asio.ssl.stream" (truncation): compared by name so this
  // pure file needs no OpenSSL header.
  return std::strncmp(ec.category().name(), "asio.ssl", 8) == 0;
}

ProbeReason classify_errno(int value, Stage stage) {
  switch (value) {
    case ECONNREFUSED:
      return ProbeReason::Refused;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
      return ProbeReason::Reset;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
      return ProbeReason::Unreachable;
    case ETIMEDOUT:
      return ProbeReason::Timeout;
    default:
      break;
  }
  return stage == Stage::TlsHandshake ? ProbeReason::TlsError : ProbeReason::Internal;
}

}  // namespace

ProbeReason classify_error(Stage stage, const boost::system::error_code& ec, bool timed_out) {
  if (timed_out) return ProbeReason::Timeout;
  if (!ec) return ProbeReason::Ok;
  if (is_ssl_category(ec)) return ProbeReason::TlsError;
  if (ec == boost::beast::http::error::header_limit || ec == boost::beast::http::error::body_limit ||
      ec == boost::beast::http::error::buffer_overflow) {
    return ProbeReason::TooLarge;
  }
  if (ec.category() == boost::beast::http::make_error_code(boost::beast::http::error::bad_version)
                           .category()) {
    return ProbeReason::ProtocolError;
  }
  if (ec == boost::asio::error::eof) {
    // The peer closed cleanly before we had what we needed.
    return stage == Stage::TlsHandshake ? ProbeReason::TlsError : ProbeReason::ProtocolError;
  }
  if (ec == boost::asio::error::operation_aborted) return ProbeReason::Timeout;
  if (ec.category() == boost::system::system_category() ||
      ec.category() == boost::system::generic_category()) {
    return classify_errno(ec.value(), stage);
  }
  return stage == Stage::TlsHandshake ? ProbeReason::TlsError : ProbeReason::Internal;
}

bool status_expected(int status, const std::vector<config::StatusRange>& ranges) {
  if (ranges.empty()) return status >= 200 && status <= 399;
  for (const auto& r : ranges) {
    if (status >= r.low && status <= r.high) return true;
  }
  return false;
}

ProbeReason classify_response(const ResponseFacts& facts,
                              const std::vector<config::StatusRange>& expected) {
  if (facts.header_too_large) return ProbeReason::TooLarge;
  if (facts.status == 0) return ProbeReason::ProtocolError;
  if (!status_expected(facts.status, expected)) return ProbeReason::BadStatus;
  if (!facts.body_checked || facts.body_matched) return ProbeReason::Ok;
  return facts.body_truncated ? ProbeReason::TooLarge : ProbeReason::BodyMismatch;
}

int parse_status_line(std::string_view head) {
  // "HTTP/1.x SSS" then " reason\r\n" or "\r\n".
  if (head.size() < 14 || !head.starts_with("HTTP/1.") || (head[7] != '0' && head[7] != '1') ||
      head[8] != ' ') {
    return -1;
  }
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    char c = head[static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return -1;
    status = status * 10 + (c - '0');
  }
  if (status < 100) return -1;
  std::size_t eol = head.find("\r\n", 12);
  if (eol == std::string_view::npos || (eol > 12 && head[12] != ' ')) return -1;
  for (std::size_t i = 12; i < eol; ++i) {
    char c = head[i];
    if ((c < ' ' && c != '\t') || c == 127) return -1;
  }
  return status;
}

std::string unescape_tcp_payload(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\' || i + 1 == in.size()) {
      out.push_back(c);
      continue;
    }
    char e = in[++i];
    switch (e) {
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        auto hex = [](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        int hi = i + 2 < in.size() ? hex(in[i + 1]) : -1;
        int lo = i + 2 < in.size() ? hex(in[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
          out.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
        } else {
          out.append("\\x");
        }
        break;
      }
      default:
        out.push_back('\\');
        out.push_back(e);
        break;
    }
  }
  return out;
}

}  // namespace failoverd::probe
