#include "actuate/rfc2136.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
// clang 14 with -fsanitize=function (part of "undefined", used by the fuzz preset) fails in the
// backend on these coroutine templates ("Cannot represent a difference across sections",
// llvm-project#49689); only that one check is switched off, and only for this header.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("function"))), apply_to = function)
#endif
#include <boost/asio/experimental/awaitable_operators.hpp>
#if defined(__clang__)
#pragma clang attribute pop
#endif
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actuate/failpoint.h"
#include "core/rules.h"

namespace failoverd::actuate {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

// Records are sent once each. A linear search over the few members a service has (a std::set of
// byte vectors made GCC 12 at -O3 report a false -Wstringop-overread in its comparisons).
bool first_time(std::vector<std::vector<std::uint8_t>>& seen, const std::vector<std::uint8_t>& rd) {
  if (std::find(seen.begin(), seen.end(), rd) != seen.end()) return false;
  seen.push_back(rd);
  return true;
}

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

std::uint16_t random_id() {
  std::array<unsigned char, 2> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    // RAND_bytes failing is exceptional; a time-derived id still works, ids are not security.
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    return static_cast<std::uint16_t>(t);
  }
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

std::uint64_t system_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// One TCP connection to the primary. Every step runs against one deadline the caller sets for
// the whole operation; timed_out() tells a passed deadline from other failures.
class Connection {
 public:
  explicit Connection(asio::any_io_executor ex) : socket_(ex), timer_(ex), resolver_(ex) {}

  // "" on success, else an error text ("resolve: timeout", "connect: Connection refused", ...).
  asio::awaitable<std::string> connect(const config::HostPort& server, core::TimePoint deadline) {
    timer_.expires_at(deadline);
    auto r = co_await (resolver_.async_resolve(server.host, std::to_string(server.port), kUse) ||
                       timer_.async_wait(kUse));
    if (r.index() == 1) co_return timeout("resolve");
    auto [rec, endpoints] = std::get<0>(std::move(r));
    if (rec) co_return "resolve: " + rec.message();
    timer_.expires_at(deadline);
    auto c = co_await (asio::async_connect(socket_, endpoints, kUse) || timer_.async_wait(kUse));
    if (c.index() == 1) co_return timeout("connect");
    auto [cec, ep] = std::get<0>(c);
    (void)ep;
    if (cec) co_return "connect: " + cec.message();
    co_return "";
  }

  // Sends the messages, each length-framed, in one write (pipelined: no reply is awaited
  // between them).
  asio::awaitable<std::string> send(const std::vector<const std::vector<std::uint8_t>*>& msgs,
                                    core::TimePoint deadline) {
    std::vector<std::uint8_t> out;
    for (const auto* m : msgs) {
      if (m->size() > dns::kMaxMessage) co_return "message too large";
      out.push_back(static_cast<std::uint8_t>(m->size() >> 8));
      out.push_back(static_cast<std::uint8_t>(m->size() & 0xff));
      out.insert(out.end(), m->begin(), m->end());
    }
    timer_.expires_at(deadline);
    auto w = co_await (asio::async_write(socket_, asio::buffer(out), kUse) ||
                       timer_.async_wait(kUse));
    if (w.index() == 1) co_return timeout("write");
    if (auto [ec, n] = std::get<0>(w); ec) co_return "write: " + ec.message();
    co_return "";
  }

  // Reads one framed reply (at most 65535 bytes).
  asio::awaitable<std::string> receive(std::vector<std::uint8_t>& reply, core::TimePoint deadline) {
    std::array<std::uint8_t, 2> rlen{};
    timer_.expires_at(deadline);
    auto h =
        co_await (asio::async_read(socket_, asio::buffer(rlen), kUse) || timer_.async_wait(kUse));
    if (h.index() == 1) co_return timeout("read");
    if (auto [ec, n] = std::get<0>(h); ec) co_return "read: " + ec.message();
    std::size_t size = (std::size_t{rlen[0]} << 8) | rlen[1];
    reply.assign(size, 0);
    timer_.expires_at(deadline);
    auto b =
        co_await (asio::async_read(socket_, asio::buffer(reply), kUse) || timer_.async_wait(kUse));
    if (b.index() == 1) co_return timeout("read");
    if (auto [ec, n] = std::get<0>(b); ec) co_return "read: " + ec.message();
    co_return "";
  }

  bool timed_out() const { return timed_out_; }

  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  std::string timeout(std::string_view step) {
    timed_out_ = true;
    return std::string(step) + ": timeout";
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  bool timed_out_ = false;
};

// The outcome of one signed exchange: either a verified reply or why there is none.
struct SignedReply {
  enum class Kind { Ok, Network, Malformed, Tsig } kind = Kind::Network;
  dns::Message message;
  tsig::Status tsig_status = tsig::Status::Ok;
  std::string detail;
};

// A request ready to send: the message, its signed wire form and MAC (the reply's MAC covers it).
struct SignedRequest {
  dns::Message message;
  tsig::SignResult signed_wire;
};

// "" on success, else why the request cannot be sent.
std::string sign_request(dns::Message request, const tsig::Key& key, std::uint64_t now,
                         SignedRequest& out) {
  auto wire = dns::encode(request);
  if (!wire) return "request not encodable";
  auto signed_req = tsig::sign(*wire, key, now);
  if (!signed_req) return "TSIG signing failed";
  out.message = std::move(request);
  out.signed_wire = std::move(*signed_req);
  return "";
}

// The message id of an encoded reply, if it has a header at all.
std::optional<std::uint16_t> wire_id(const std::vector<std::uint8_t>& wire) {
  if (wire.size() < 2) return std::nullopt;
  return static_cast<std::uint16_t>((wire[0] << 8) | wire[1]);
}

// Decodes and verifies `reply` as the answer to `req`.
SignedReply check_reply(const std::vector<std::uint8_t>& reply, const SignedRequest& req,
                        const tsig::Key& key, std::uint64_t now) {
  SignedReply out;
  const dns::Message& request = req.message;
  auto decoded = dns::decode(reply);
  if (!decoded.message) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "undecodable reply: " + decoded.error;
    return out;
  }
  const auto& m = *decoded.message;
  if (m.header.id != request.header.id || !m.header.qr ||
      m.header.opcode != request.header.opcode ||
      (!m.questions.empty() && (m.questions.size() != request.questions.size() ||
                                !dns::names_equal(m.questions[0].name, request.questions[0].name) ||
                                m.questions[0].type != request.questions[0].type))) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "reply does not match the request";
    return out;
  }
  auto v = tsig::verify(reply, key, req.signed_wire.mac, now);
  out.message = std::move(*decoded.message);
  out.tsig_status = v.status;
  if (v.status != tsig::Status::Ok) {
    out.kind = SignedReply::Kind::Tsig;
    out.detail = "TSIG " + std::string(tsig::to_string(v.status)) + ", rcode " +
                 dns::rcode_name(out.message.header.rcode);
    return out;
  }
  out.kind = SignedReply::Kind::Ok;
  return out;
}

std::string millis(core::Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

dns::Message make_query(std::string name, std::uint16_t t) {
  dns::Message q;
  q.header.id = random_id();
  q.header.opcode = dns::Opcode::Query;
  q.questions.push_back({std::move(name), t, dns::klass::kIn});
  return q;
}

bool valid_writer(std::string_view w) {
  if (w.empty() || w.size() > 200) return false;
  return std::all_of(w.begin(), w.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::optional<tsig::Key> load_tsig_key(const config::Rfc2136Target& target, std::string* error) {
  auto fail = [&](std::string e) -> std::optional<tsig::Key> {
    if (error) *error = std::move(e);
    return std::nullopt;
  };
  auto alg = tsig::parse_algorithm(target.tsig_algorithm);
  if (!alg) return fail("unsupported TSIG algorithm " + target.tsig_algorithm);
  if (target.tsig_key_name.empty()) return fail("tsig_key_name is empty");
  if (!dns::name_to_wire(target.tsig_key_name)) return fail("tsig_key_name is not a domain name");
  std::error_code ec;
  auto st = std::filesystem::status(target.tsig_secret_file, ec);
  if (ec) return fail("tsig_secret_file " + target.tsig_secret_file + ": " + ec.message());
  using std::filesystem::perms;
  if ((st.permissions() & (perms::group_all | perms::others_all)) != perms::none) {
    return fail("tsig_secret_file " + target.tsig_secret_file +
                " is readable by group or others (want 0600 or stricter)");
  }
  std::ifstream in(target.tsig_secret_file);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return fail("tsig_secret_file " + target.tsig_secret_file + ": cannot read");
  auto secret = tsig::base64_decode(ss.str());
  if (!secret || secret->empty()) {
    return fail("tsig_secret_file " + target.tsig_secret_file + ": not base64");
  }
  return tsig::Key{target.tsig_key_name, *alg, std::move(*secret)};
}

std::string fence_name_for(const config::Rfc2136Target& target) {
  if (!target.fence_name.empty()) return target.fence_name;
  return "_failoverd." + target.name;
}

std::string format_fence(const Fence& fence) {
  return "gen=" + std::to_string(fence.generation) + " writer=" + fence.writer +
         trigger_field(fence.trigger);
}

std::optional<Fence> parse_fence(std::string_view text) {
  constexpr std::string_view kGen = "gen=";
  constexpr std::string_view kWriter = " writer=";
  if (text.substr(0, kGen.size()) != kGen) return std::nullopt;
  text.remove_prefix(kGen.size());
  auto sp = text.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  auto digits = text.substr(0, sp);
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  Fence f;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), f.generation);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  text.remove_prefix(sp);
  if (text.substr(0, kWriter.size()) != kWriter) return std::nullopt;
  text.remove_prefix(kWriter.size());
  const auto end = text.find(' ');
  const auto writer = text.substr(0, end);
  if (!valid_writer(writer)) return std::nullopt;
  f.writer = std::string(writer);
  if (end == std::string_view::npos) return f;
  constexpr std::string_view kTrigger = " trigger=";
  text.remove_prefix(end);
  if (text.substr(0, kTrigger.size()) != kTrigger) return std::nullopt;
  const auto trigger = parse_trigger(text.substr(kTrigger.size()));
  if (!trigger) return std::nullopt;
  f.trigger = *trigger;
  return f;
}

std::optional<std::string> check_plan(const config::Rfc2136Target& target, const core::Plan& plan,
                                      const LiveState& expected) {
  if (plan.members.empty()) {
    return std::string(core::to_string(core::Rule::EmptySet)) +
           ": the plan has no members (would publish an empty answer)";
  }
  core::Generation live = expected.fence ? expected.fence->generation : 0;
  if (plan.generation <= live) {
    return std::string(core::to_string(core::Rule::StaleGeneration)) + ": plan generation " +
           std::to_string(plan.generation) +
           " is not above the live generation " + std::to_string(live);
  }
  auto t = dns::type_from_name(target.type);
  if (!t) return "unsupported record type " + target.type;
  if (*t == dns::type::kCname && plan.members.size() != 1) {
    return "a CNAME RRset holds exactly one member";
  }
  return std::nullopt;
}

std::optional<dns::Message> build_update(const config::Rfc2136Target& target,
                                         std::string_view observer, const core::Plan& plan,
                                         const LiveState& expected, std::uint16_t id,
                                         std::string* error) {
  auto fail = [&](std::string e) -> std::optional<dns::Message> {
    if (error) *error = std::move(e);
    return std::nullopt;
  };
  if (auto e = check_plan(target, plan, expected)) return fail(*e);
  if (!valid_writer(observer)) return fail("observer id is not a valid fence writer");
  auto t = *dns::type_from_name(target.type);
  std::string fence_name = fence_name_for(target);
  if (!dns::name_to_wire(target.zone) || !dns::name_to_wire(target.name) ||
      !dns::name_to_wire(fence_name)) {
    return fail("zone, name or fence_name is not a domain name");
  }
  auto rdata_of = [&](const std::string& value) { return dns::rdata_from_text(t, value); };

  dns::Message m;
  m.header.id = id;
  m.header.opcode = dns::Opcode::Update;
  m.questions.push_back({target.zone, dns::type::kSoa, dns::klass::kIn});

  // Prerequisites: the exact RRset and the exact fence the decision was based on
  // (compare-and-swap).
  if (expected.members.empty()) {
    m.answers.push_back(dns::prereq_rrset_does_not_exist(target.name, t));
  } else {
    std::vector<std::vector<std::uint8_t>> seen;
    for (const auto& member : expected.members) {
      auto rd = rdata_of(member.value);
      if (!rd) return fail("expected member not encodable as " + target.type + ": " + member.value);
      if (first_time(seen, *rd)) {
        m.answers.push_back(dns::prereq_rrset_exists_value(target.name, t, std::move(*rd)));
      }
    }
  }
  if (expected.fence) {
    auto rd = dns::rdata_from_text(dns::type::kTxt, format_fence(*expected.fence));
    m.answers.push_back(dns::prereq_rrset_exists_value(fence_name, dns::type::kTxt, *rd));
  } else {
    m.answers.push_back(dns::prereq_rrset_does_not_exist(fence_name, dns::type::kTxt));
  }

  // Updates: replace the RRset and the fence in this one message (one atomic change).
  m.authority.push_back(dns::update_delete_rrset(target.name, t));
  std::vector<std::vector<std::uint8_t>> added;
  for (const auto& member : plan.members) {
    auto rd = rdata_of(member.value);
    if (!rd) return fail("plan member not encodable as " + target.type + ": " + member.value);
    if (first_time(added, *rd)) {
      m.authority.push_back(dns::update_add_rr(target.name, t, target.ttl, std::move(*rd)));
    }
  }
  m.authority.push_back(dns::update_delete_rrset(fence_name, dns::type::kTxt));
  const Fence written{plan.generation, std::string(observer), plan.trigger};
  auto fence_rd = dns::rdata_from_text(dns::type::kTxt, format_fence(written));
  m.authority.push_back(dns::update_add_rr(fence_name, dns::type::kTxt, target.ttl, *fence_rd));
  if (auto e = dns::validate_update(m)) return fail("invalid update: " + *e);
  if (!dns::encode(m)) return fail("update not encodable");
  return m;
}

WriteStatus classify_update_rcode(std::uint16_t rcode) {
  switch (rcode) {
    case dns::rcode::kNoError:
      return WriteStatus::Applied;
    case dns::rcode::kNxRrset:
    case dns::rcode::kYxRrset:
    case dns::rcode::kYxDomain:
    case dns::rcode::kNxDomain:
      return WriteStatus::Conflict;
    case dns::rcode::kServFail:
      return WriteStatus::Unknown;
    case dns::rcode::kRefused:
    case dns::rcode::kNotAuth:
    case dns::rcode::kNotZone:
    case dns::rcode::kBadSig:
    case dns::rcode::kBadKey:
    case dns::rcode::kBadTime:
      return WriteStatus::Refused;
    case dns::rcode::kFormErr:
    default:
      return WriteStatus::Invalid;
  }
}

std::optional<WriteStatus> classify_tsig(tsig::Status status) {
  switch (status) {
    case tsig::Status::Ok:
      return std::nullopt;
    case tsig::Status::Unsigned:
    case tsig::Status::Malformed:
    case tsig::Status::BadKey:
    case tsig::Status::BadSig:
    case tsig::Status::BadTime:
      return WriteStatus::Refused;
  }
  return WriteStatus::Refused;
}

Rfc2136Actuator::Rfc2136Actuator(config::Rfc2136Target target, tsig::Key key, std::string observer,
                                 WallClock wall_clock)
    : target_(std::move(target)),
      key_(std::move(key)),
      observer_(std::move(observer)),
      wall_clock_(wall_clock ? std::move(wall_clock) : WallClock(system_seconds)),
      rtt_(target_.timeout) {
  rrtype_ = dns::type_from_name(target_.type).value_or(dns::type::kA);
}

asio::awaitable<ReadResult> Rfc2136Actuator::read() {
  ReadResult res;
  auto ex = co_await asio::this_coro::executor;
  const core::Duration rto = rtt_.timeout();
  const core::TimePoint deadline = core::Clock::now() + 2 * rto;
  Connection conn(ex);
  if (auto err = co_await conn.connect(target_.server, deadline); !err.empty()) {
    if (conn.timed_out()) rtt_.timed_out();
    res.status = ReadStatus::Unreachable;
    res.detail = err;
    co_return res;
  }

  // The three queries, with distinct ids, sent together; the replies are matched by id.
  const std::string fence_name = fence_name_for(target_);
  std::vector<std::pair<std::string, std::uint16_t>> asked;
  asked.emplace_back(target_.name, rrtype_);
  asked.emplace_back(fence_name, dns::type::kTxt);
  asked.emplace_back(target_.zone, dns::type::kSoa);
  std::vector<SignedRequest> requests(asked.size());
  std::vector<std::optional<std::vector<std::vector<std::uint8_t>>>> answers(asked.size());
  const std::uint64_t now = wall_clock_();
  std::vector<const std::vector<std::uint8_t>*> wires;
  for (std::size_t i = 0; i < asked.size(); ++i) {
    auto q = make_query(asked[i].first, asked[i].second);
    auto taken = [&](std::uint16_t id) {
      for (std::size_t j = 0; j < i; ++j) {
        if (requests[j].message.header.id == id) return true;
      }
      return false;
    };
    // At most two ids are taken, so at most two steps.
    while (taken(q.header.id)) q.header.id = static_cast<std::uint16_t>(q.header.id + 1);
    if (auto err = sign_request(std::move(q), key_, now, requests[i]); !err.empty()) {
      res.status = ReadStatus::Error;
      res.detail = dns::type_name(asked[i].second) + " " + asked[i].first + ": " + err;
      co_return res;
    }
    wires.push_back(&requests[i].signed_wire.wire);
  }
  const core::TimePoint sent_at = core::Clock::now();
  if (auto err = co_await conn.send(wires, deadline); !err.empty()) {
    if (conn.timed_out()) rtt_.timed_out();
    res.status = ReadStatus::Unreachable;
    res.detail = err;
    co_return res;
  }

  // Sets `res` to the failure of answer i, or stores its RDATA. False on failure.
  auto take = [&](std::size_t i, SignedReply r) -> bool {
    const auto& [name, t] = asked[i];
    std::string what = dns::type_name(t) + " " + name + ": ";
    switch (r.kind) {
      case SignedReply::Kind::Network:
        res.status = ReadStatus::Unreachable;
        res.detail = what + r.detail;
        return false;
      case SignedReply::Kind::Malformed:
        res.status = ReadStatus::Error;
        res.detail = what + r.detail;
        return false;
      case SignedReply::Kind::Tsig:
        res.status = ReadStatus::Refused;
        res.detail = what + r.detail;
        return false;
      case SignedReply::Kind::Ok:
        break;
    }
    std::uint16_t rc = r.message.header.rcode;
    if (rc == dns::rcode::kServFail) {
      res.status = ReadStatus::Unreachable;
      res.detail = what + "SERVFAIL";
      return false;
    }
    if (rc == dns::rcode::kRefused || rc == dns::rcode::kNotAuth) {
      res.status = ReadStatus::Refused;
      res.detail = what + dns::rcode_name(rc);
      return false;
    }
    if (rc != dns::rcode::kNoError && rc != dns::rcode::kNxDomain) {
      res.status = ReadStatus::Error;
      res.detail = what + dns::rcode_name(rc);
      return false;
    }
    std::vector<std::vector<std::uint8_t>> out;
    for (const auto& rr : r.message.answers) {
      if (rr.type == t && rr.klass == dns::klass::kIn && dns::names_equal(rr.name, name)) {
        out.push_back(rr.rdata);
      }
    }
    answers[i] = std::move(out);
    return true;
  };

  // One reply per iteration, so at most three.
  std::size_t answered = 0;
  while (answered < asked.size()) {
    std::vector<std::uint8_t> reply;
    if (auto err = co_await conn.receive(reply, deadline); !err.empty()) {
      res.status = ReadStatus::Unreachable;
      if (conn.timed_out()) {
        rtt_.timed_out();
        // Some answers came: the server is slow, not down (the caller retries without backoff).
        res.answered = answered > 0;
        res.detail = "timeout after " + millis(2 * rto) + " with " + std::to_string(answered) +
                     " of 3 answers (next timeout " + millis(rtt_.timeout()) + ")";
      } else {
        res.detail = err + " after " + std::to_string(answered) + " of 3 answers";
      }
      co_return res;
    }
    auto id = wire_id(reply);
    std::size_t i = 0;
    while (i < asked.size() && !(id && !answers[i] && requests[i].message.header.id == *id)) ++i;
    if (i == asked.size()) {
      res.status = ReadStatus::Error;
      res.detail = "a reply matches none of the outstanding queries";
      co_return res;
    }
    if (!take(i, check_reply(reply, requests[i], key_, wall_clock_()))) co_return res;
    ++answered;
  }
  rtt_.sample(core::Clock::now() - sent_at);
  conn.close();
  auto& members = answers[0];
  auto& fences = answers[1];
  auto& soa = answers[2];

  LiveState state;
  for (const auto& rd : *members) {
    auto text = dns::rdata_to_text(rrtype_, rd);
    if (!text) {
      res.status = ReadStatus::Error;
      res.detail = "undecodable " + target_.type + " RDATA at " + target_.name;
      co_return res;
    }
    state.members.push_back(LiveMember{*text, 1});
  }
  std::sort(state.members.begin(), state.members.end(),
            [](const LiveMember& a, const LiveMember& b) { return a.value < b.value; });
  state.members.erase(std::unique(state.members.begin(), state.members.end()), state.members.end());
  if (fences->size() > 1) {
    res.status = ReadStatus::Error;
    res.detail =
        "corrupt fence: " + std::to_string(fences->size()) + " TXT records at " + fence_name;
    co_return res;
  }
  if (fences->size() == 1) {
    auto text = dns::rdata_to_text(dns::type::kTxt, fences->front());
    auto fence = text ? parse_fence(*text) : std::nullopt;
    if (!fence) {
      res.status = ReadStatus::Error;
      res.detail = "corrupt fence at " + fence_name;
      co_return res;
    }
    state.fence = std::move(fence);
  }
  if (!soa->empty()) state.serial = dns::soa_serial(soa->front());
  res.status = ReadStatus::Ok;
  res.state = std::move(state);
  co_return res;
}

asio::awaitable<WriteResult> Rfc2136Actuator::write(const core::Plan& plan,
                                                    const LiveState& expected) {
  WriteResult res;
  std::string error;
  auto update = build_update(target_, observer_, plan, expected, random_id(), &error);
  if (!update) {
    // Nothing was sent.
    res.status = WriteStatus::Invalid;
    res.detail = error;
    co_return res;
  }
  auto ex = co_await asio::this_coro::executor;
  const core::TimePoint deadline = core::Clock::now() + 2 * rtt_.timeout();
  Connection conn(ex);
  if (auto err = co_await conn.connect(target_.server, deadline); !err.empty()) {
    // Nothing was sent either, but the caller resolves every non-answer the same way: by reading.
    if (conn.timed_out()) rtt_.timed_out();
    res.status = WriteStatus::Unknown;
    res.detail = err;
    co_return res;
  }
  SignedRequest req;
  if (auto err = sign_request(std::move(*update), key_, wall_clock_(), req); !err.empty()) {
    res.status = WriteStatus::Unknown;  // nothing was sent; settled by reading, as before
    res.detail = err;
    co_return res;
  }
  const core::TimePoint sent_at = core::Clock::now();
  SignedReply r;
  // (A named vector: GCC 12 rejects a braced list as a coroutine's argument.)
  const std::vector<const std::vector<std::uint8_t>*> wires{&req.signed_wire.wire};
  std::string err = co_await conn.send(wires, deadline);
  if (err.empty()) {
    failpoint::hit(failpoint::Point::AfterSend);
    std::vector<std::uint8_t> reply;
    err = co_await conn.receive(reply, deadline);
    if (err.empty()) {
      rtt_.sample(core::Clock::now() - sent_at);
      r = check_reply(reply, req, key_, wall_clock_());
    }
  }
  if (!err.empty()) {
    if (conn.timed_out()) rtt_.timed_out();
    r.kind = SignedReply::Kind::Network;
    r.detail = err;
  }
  conn.close();
  switch (r.kind) {
    case SignedReply::Kind::Network:
    case SignedReply::Kind::Malformed:
      res.status = WriteStatus::Unknown;
      res.detail = r.detail;
      co_return res;
    case SignedReply::Kind::Tsig:
      res.status = classify_tsig(r.tsig_status).value_or(WriteStatus::Refused);
      res.detail = r.detail;
      res.rcode = dns::rcode_name(r.message.header.rcode);
      co_return res;
    case SignedReply::Kind::Ok:
      break;
  }
  res.rcode = dns::rcode_name(r.message.header.rcode);
  res.status = classify_update_rcode(r.message.header.rcode);
  res.detail = res.rcode;
  co_return res;
}

}  // namespace failoverd::actuate
