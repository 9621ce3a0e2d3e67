#include "core/types.h"

namespace failoverd::core {

std::string_view to_string(ProbeReason r) {
  switch (r) {
    case ProbeReason::Ok: return "ok";
    case ProbeReason::Timeout: return "timeout";
    case ProbeReason::Refused: return "refused";
    case ProbeReason::Reset: return "reset";
    case ProbeReason::Unreachable: return "unreachable";
    case ProbeReason::ResolveError: return "resolve_error";
    case ProbeReason::TlsError: return "tls_error";
    case ProbeReason::BadStatus: return "bad_status";
    case ProbeReason::BodyMismatch: return "body_mismatch";
    case ProbeReason::TooLarge: return "too_large";
    case ProbeReason::ProtocolError: return "protocol_error";
    case ProbeReason::DnsRcode: return "dns_rcode";
    case ProbeReason::DnsAnswerMismatch: return "dns_answer_mismatch";
    case ProbeReason::CertExpiring: return "cert_expiring";
    case ProbeReason::Internal: return "internal";
  }
  return "internal";
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::Unknown: return "unknown";
    case Verdict::Up: return "up";
    case Verdict::Degraded: return "degraded";
    case Verdict::Down: return "down";
  }
  return "unknown";
}

}  // namespace failoverd::core

