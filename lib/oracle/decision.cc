#include "oracle/decision.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

namespace failoverd::oracle {

std::string path_secret(std::string_view secret, std::string_view service) {
  const std::string message = "failoverd-oracle/" + std::string(service);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < kPathSecretHexDigits; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xF];
  }
  return out;
}

std::optional<Route> parse_route(std::string_view target) {
  target = target.substr(0, target.find('?'));
  constexpr std::string_view kPrefix = "/v1/oracle/";
  if (!target.starts_with(kPrefix)) return std::nullopt;
  target.remove_prefix(kPrefix.size());
  std::vector<std::string_view> parts;
  while (parts.size() < 4) {
    const auto slash = target.find('/');
    parts.push_back(target.substr(0, slash));
    if (slash == std::string_view::npos) break;
    target.remove_prefix(slash + 1);
  }
  if (parts.size() != 3) return std::nullopt;
  for (auto p : parts) {
    if (p.empty()) return std::nullopt;
  }
  return Route{std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
}

std::string redact(std::string_view target) {
  auto printable = [](std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) {
      out += (c > 0x20 && c < 0x7F) ? c : '?';
    }
    return out;
  };
  constexpr std::string_view kPrefix = "/v1/oracle/";
  const std::string_view path = target.substr(0, target.find('?'));
  if (path.starts_with(kPrefix)) {
    std::string_view rest = path.substr(kPrefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return printable(path, 64);
    std::string out = std::string(kPrefix) + printable(rest.substr(0, slash), 64) + "/<redacted>";
    rest.remove_prefix(slash + 1);
    if (const auto next = rest.find('/'); next != std::string_view::npos) {
      out += '/';  // appended in two steps: GCC 12 at -O3 warns (-Wrestrict) on "/" + string
      out += printable(rest.substr(next + 1), 64);
    }
    return out;
  }
  return printable(path, 64);
}

bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Answer answer(const ServiceDecision& d, std::string_view region, Clock::time_point now) {
  Answer a;
  if (std::find(d.regions.begin(), d.regions.end(), region) == d.regions.end()) {
    a.status = 404;
    a.body = "not found\n";
    return a;
  }
  const bool serve =
      d.live_known && std::find(d.active.begin(), d.active.end(), region) != d.active.end();
  std::string state;
  if (!d.live_known) {
    state = "starting";
  } else if (d.static_reason) {
    state = "static reason=" + *d.static_reason;
  } else if (!d.last_read_ok || now - *d.last_read_ok > d.stale_after) {
    state = "static reason=live_read_stale";
  } else {
    state = "live";
  }
  a.status = serve ? 200 : 503;
  a.body = "failoverd oracle service=" + d.service + " region=" + std::string(region) +
           " serve=" + (serve ? "yes" : "no") + " active=" + join(d.active) +
           " generation=" + std::to_string(d.generation) + " state=" + state + "\n";
  return a;
}

ServiceDecision merge(const ServiceDecision* previous, ServiceDecision next) {
  if (next.live_known && next.active.empty()) {
    if (previous != nullptr && !previous->active.empty()) {
      next.active = previous->active;
      next.generation = previous->generation;
    }
    next.static_reason = "live_empty";
  }
  return next;
}

}  // namespace failoverd::oracle
