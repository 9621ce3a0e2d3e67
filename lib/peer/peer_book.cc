#include "peer/peer_book.h"

#include <algorithm>
#include <cstdio>

namespace failoverd::peer {

namespace {

// Enough to refuse messages from any recent earlier life of a sender; a sender restarting more
// often than this between two of our polls is broken anyway.
constexpr std::size_t kRetiredBootsKept = 16;

std::string boot_hex(std::uint64_t boot) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(boot));
  return buf;
}

}  // namespace

std::vector<std::string> presented_names(const CertIdentity& identity) {
  // RFC 6125 section 6.4.4: with a DNS-ID present, the CN is not consulted. So a certificate
  // with CN=obs-c and SAN obs-b is obs-b's alone and can never vote as obs-c as well.
  if (!identity.dns_names.empty()) return identity.dns_names;
  if (identity.common_name.empty()) return {};
  return {identity.common_name};
}

bool names_observer(const CertIdentity& identity, const core::ObserverId& id) {
  if (id.empty()) return false;
  const auto names = presented_names(identity);
  return std::find(names.begin(), names.end(), id.str()) != names.end();
}

NamedObserver named_observer(const CertIdentity& identity,
                             const std::vector<core::ObserverId>& observers) {
  std::vector<core::ObserverId> named;
  for (const auto& id : observers) {
    if (names_observer(identity, id) && std::find(named.begin(), named.end(), id) == named.end()) {
      named.push_back(id);
    }
  }
  NamedObserver out;
  if (named.size() == 1) {
    out.id = named.front();
  } else if (named.empty()) {
    out.error = "certificate " + describe(identity) + " names no configured observer";
  } else {
    out.error = "certificate " + describe(identity) + " names more than one configured observer (";
    out.ambiguous = true;
    for (std::size_t i = 0; i < named.size(); ++i) {
      out.error += (i > 0 ? ", " : "") + named[i].str();
    }
    out.error += ")";
  }
  return out;
}

std::string describe(const CertIdentity& identity) {
  std::string out = "CN=" + (identity.common_name.empty() ? "(none)" : identity.common_name);
  out += " DNS=";
  if (identity.dns_names.empty()) out += "(none)";
  for (std::size_t i = 0; i < identity.dns_names.size(); ++i) {
    if (i > 0) out += ",";
    out += identity.dns_names[i];
  }
  return out;
}

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::Ok:
      return "ok";
    case Reason::IdentityMismatch:
      return "identity_mismatch";
    case Reason::UnknownObserver:
      return "unknown_observer";
    case Reason::Replay:
      return "replay";
    case Reason::ConfigMismatch:
      return "config_mismatch";
    case Reason::AmbiguousIdentity:
      return "ambiguous_identity";
  }
  return "unknown";
}

PeerBook::PeerBook(std::vector<core::ObserverId> peers, std::string local_fingerprint,
                   core::Duration verdict_ttl, core::ObserverId self)
    : observers_(peers),
      local_fingerprint_(std::move(local_fingerprint)),
      verdict_ttl_(verdict_ttl) {
  if (!self.empty()) observers_.push_back(std::move(self));
  for (auto& id : peers) {
    PeerRecord r;
    r.id = std::move(id);
    records_.push_back(std::move(r));
  }
}

PeerRecord* PeerBook::find_mutable(const core::ObserverId& id) {
  auto it =
      std::find_if(records_.begin(), records_.end(), [&](const auto& r) { return r.id == id; });
  return it == records_.end() ? nullptr : &*it;
}

const PeerRecord* PeerBook::find(const core::ObserverId& id) const {
  auto it =
      std::find_if(records_.begin(), records_.end(), [&](const auto& r) { return r.id == id; });
  return it == records_.end() ? nullptr : &*it;
}

Acceptance PeerBook::accept(const PeerMessage& m, const CertIdentity& sender,
                            core::TimePoint received) {
  if (!names_observer(sender, m.observer)) {
    return {Outcome::Rejected, Reason::IdentityMismatch,
            "message claims observer '" + m.observer.str() + "' but the certificate names " +
                describe(sender)};
  }
  if (auto named = named_observer(sender, observers_); named.ambiguous) {
    return {Outcome::Rejected, Reason::AmbiguousIdentity, std::move(named.error)};
  }
  PeerRecord* r = find_mutable(m.observer);
  if (r == nullptr) {
    return {Outcome::Rejected, Reason::UnknownObserver,
            "observer '" + m.observer.str() + "' is not a configured peer"};
  }
  if (r->seen) {
    if (m.boot_id == r->boot_id && m.sequence <= r->sequence) {
      return {Outcome::Rejected, Reason::Replay,
              "sequence " + std::to_string(m.sequence) + " <= last accepted " +
                  std::to_string(r->sequence) + " (boot " + boot_hex(m.boot_id) + ")"};
    }
    if (std::find(r->retired_boots.begin(), r->retired_boots.end(), m.boot_id) !=
        r->retired_boots.end()) {
      return {Outcome::Rejected, Reason::Replay,
              "boot " + boot_hex(m.boot_id) + " is from before the sender's restart"};
    }
    if (m.boot_id != r->boot_id) {
      r->retired_boots.push_back(r->boot_id);
      if (r->retired_boots.size() > kRetiredBootsKept)
        r->retired_boots.erase(r->retired_boots.begin());
    }
  }
  r->seen = true;
  r->boot_id = m.boot_id;
  r->sequence = m.sequence;
  r->last_received = received;
  r->sent_unix_ms = m.sent_unix_ms;
  r->fingerprint = m.config_fingerprint;

  if (m.config_fingerprint != local_fingerprint_) {
    r->config_mismatch = true;
    r->verdicts.clear();
    r->holds.clear();
    r->verdicts_received.reset();
    return {Outcome::NoVote, Reason::ConfigMismatch,
            "peer running a different config (fingerprint " + m.config_fingerprint.substr(0, 12) +
                "..., ours " + local_fingerprint_.substr(0, 12) + "...)"};
  }
  r->config_mismatch = false;
  r->verdicts = m.verdicts;
  r->holds = m.holds;
  r->verdicts_received = received;
  return {Outcome::Accepted, Reason::Ok, {}};
}

std::vector<core::Vote> PeerBook::votes(core::TimePoint now) const {
  std::vector<core::Vote> out;
  for (const auto& r : records_) {
    if (!r.verdicts_received || r.config_mismatch) continue;
    // A receive time in the future cannot happen with one steady clock; treat it as fresh.
    if (now - *r.verdicts_received > verdict_ttl_) continue;
    for (const auto& v : r.verdicts) {
      out.push_back(core::Vote{r.id, v.region, v.verdict, *r.verdicts_received});
    }
  }
  return out;
}

}  // namespace failoverd::peer
