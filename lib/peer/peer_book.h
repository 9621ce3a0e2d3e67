// Acceptance rules for peer messages, and the latest accepted verdicts of every peer.
//
// Pure (no sockets, no clock reads): the transport passes each decoded message, the identity
// from the sender's TLS certificate and the LOCAL steady-clock receive time; PeerBook answers
// whether it was accepted and, from what it kept, which votes are fresh at a given time.
//
// Identity (one rule, RFC 6125's): a certificate names its SAN DNS names when it has any, and
// then its CN names no one; only a certificate without SAN DNS names is named by its CN.
//
// Rules, in order (the first that fails decides):
//   1. identity: the certificate names the message's observer id; otherwise
//      Rejected/IdentityMismatch. A certificate that names more than one configured observer
//      (the peers and this observer) is Rejected/AmbiguousIdentity whatever it claims.
//   2. membership: the observer id is one of the configured peers; else Rejected/UnknownObserver.
//   3. replay: for the same boot id, the sequence must exceed the last accepted one; a boot id
//      the sender has since replaced (it restarted) is refused too. Else Rejected/Replay.
//   4. config: a different config fingerprint is NoVote/ConfigMismatch: the message is
//      authentic (rule 3 advances) but its verdicts and holds are dropped and the peer is
//      flagged.
//   5. otherwise Accepted; the verdicts and holds replace the peer's previous ones,
//      received = now. (Holds do not expire: they are versioned, see core/holds.h.)
// Freshness (Redis Sentinel's rule): a peer's verdicts count while now - received <= verdict_ttl.
//
// Worked example (ttl 5 s): message from obs-b (boot 7, seq 3) accepted at t=10 s: votes(14 s)
// has obs-b's verdicts, votes(15 s) too, votes(15.001 s) none. Seq 3 again at t=11 s: Replay.
// Boot 9, seq 1 at t=12 s: accepted (obs-b restarted); boot 7, seq 4 later: Replay.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"
#include "core/types.h"
#include "peer/message.h"

namespace failoverd::peer {

// What a TLS certificate holds that could name an observer: its subject CN and its SAN DNS
// names.
struct CertIdentity {
  std::string common_name;
  std::vector<std::string> dns_names;
};

// The names the certificate vouches for under the identity rule above: its SAN DNS names when
// it has any, else its CN (nothing when that is empty too).
std::vector<std::string> presented_names(const CertIdentity& identity);

// True when one of presented_names() equals `id` exactly (no wildcards, case-sensitive).
bool names_observer(const CertIdentity& identity, const core::ObserverId& id);

// Which one of `observers` a certificate names: `id` when it names exactly one of them; else no
// id and `error` says why ("... names no configured observer", "... names more than one
// configured observer (obs-b, obs-c)").
struct NamedObserver {
  std::optional<core::ObserverId> id;
  bool ambiguous = false;  // it names more than one
  std::string error;
};
NamedObserver named_observer(const CertIdentity& identity,
                             const std::vector<core::ObserverId>& observers);

// "CN=obs-a DNS=obs-a,obs-a.example" for log lines and errors.
std::string describe(const CertIdentity& identity);

enum class Outcome { Accepted, NoVote, Rejected };
enum class Reason {
  Ok,
  IdentityMismatch,
  UnknownObserver,
  Replay,
  ConfigMismatch,
  AmbiguousIdentity
};
// Stable strings for logs and metric labels: "ok", "identity_mismatch", "unknown_observer",
// "replay", "config_mismatch", "ambiguous_identity".
std::string_view to_string(Reason reason);

struct Acceptance {
  Outcome outcome = Outcome::Rejected;
  Reason reason = Reason::Ok;
  std::string detail;  // human text: "sequence 3 <= last accepted 5 (boot 00000000000000a7)"
};

// What the book keeps per configured peer.
struct PeerRecord {
  core::ObserverId id;
  bool seen = false;          // a message passed rules 1-3 at least once
  std::uint64_t boot_id = 0;  // of the last message that passed rules 1-3
  std::uint64_t sequence = 0;
  std::vector<std::uint64_t> retired_boots;      // earlier boot ids, newest last, bounded
  std::optional<core::TimePoint> last_received;  // of the last message that passed rules 1-3
  std::int64_t sent_unix_ms = 0;                 // its wall-clock stamp, display only
  std::string fingerprint;                       // its config fingerprint
  bool config_mismatch = false;                  // rule 4 applied to the last such message
  std::vector<RegionVerdict> verdicts;           // accepted verdicts (empty on mismatch)
  std::vector<ServiceHolds> holds;               // accepted holds (empty on mismatch)
  std::optional<core::TimePoint> verdicts_received;
};

class PeerBook {
 public:
  // `peers`: the configured peer ids (not this observer). `local_fingerprint`: this observer's
  // config_fingerprint(). `verdict_ttl`: how long an accepted verdict counts. `self`: this
  // observer's id, so that a certificate naming it and a peer is refused too (empty: unknown).
  PeerBook(std::vector<core::ObserverId> peers, std::string local_fingerprint,
           core::Duration verdict_ttl, core::ObserverId self = {});

  // Applies the rules to one message received at `received` (local steady clock).
  Acceptance accept(const PeerMessage& message, const CertIdentity& sender,
                    core::TimePoint received);

  // Every fresh verdict of every peer as a vote (received = local receive time), in peer order.
  // Stale peers and peers running a different config give nothing.
  std::vector<core::Vote> votes(core::TimePoint now) const;

  // The record of a configured peer; nullptr for an unknown id.
  const PeerRecord* find(const core::ObserverId& id) const;
  const std::vector<PeerRecord>& records() const { return records_; }
  const std::string& local_fingerprint() const { return local_fingerprint_; }

 private:
  PeerRecord* find_mutable(const core::ObserverId& id);

  std::vector<PeerRecord> records_;
  std::vector<core::ObserverId> observers_;  // the peers and, when known, this observer
  std::string local_fingerprint_;
  core::Duration verdict_ttl_;
};

}  // namespace failoverd::peer
