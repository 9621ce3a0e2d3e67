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

// One TCP connection to the primary with a deadline on every step.
class Connection {
 public:
  Connection(asio::any_io_executor ex, std::chrono::nanoseconds timeout)
      : socket_(ex), timer_(ex), resolver_(ex), timeout_(timeout) {}

  // "" on success, else an error text ("timeout", "connect: Connection refused", ...).
  asio::awaitable<std::string> connect(const config::HostPort& server) {
    timer_.expires_after(timeout_);
    auto r = co_await (resolver_.async_resolve(server.host, std::to_string(server.port), kUse) ||
                       timer_.async_wait(kUse));
    if (r.index() == 1) co_return "resolve: timeout";
    auto [rec, endpoints] = std::get<0>(std::move(r));
    if (rec) co_return "resolve: " + rec.message();
    timer_.expires_after(timeout_);
    auto c = co_await (asio::async_connect(socket_, endpoints, kUse) || timer_.async_wait(kUse));
    if (c.index() == 1) co_return "connect: timeout";
    auto [cec, ep] = std::get<0>(c);
    (void)ep;
    if (cec) co_return "connect: " + cec.message();
    co_return "";
  }

  // Sends one length-framed message and reads one framed reply (at most 65535 bytes). `update`:
  // the message is an UPDATE (the after_send failpoint sits between its write and the read).
  asio::awaitable<std::string> exchange(const std::vector<std::uint8_t>& msg,
                                        std::vector<std::uint8_t>& reply, bool update) {
    if (msg.size() > dns::kMaxMessage) co_return "message too large";
    std::array<std::uint8_t, 2> len{static_cast<std::uint8_t>(msg.size() >> 8),
                                    static_cast<std::uint8_t>(msg.size() & 0xff)};
    std::array<asio::const_buffer, 2> out{asio::buffer(len), asio::buffer(msg)};
    timer_.expires_after(timeout_);
    auto w = co_await (asio::async_write(socket_, out, kUse) || timer_.async_wait(kUse));
    if (w.index() == 1) co_return "write: timeout";
    if (auto [ec, n] = std::get<0>(w); ec) co_return "write: " + ec.message();
    if (update) failpoint::hit(failpoint::Point::AfterSend);

    std::array<std::uint8_t, 2> rlen{};
    timer_.expires_after(timeout_);
    auto h =
        co_await (asio::async_read(socket_, asio::buffer(rlen), kUse) || timer_.async_wait(kUse));
    if (h.index() == 1) co_return "read: timeout";
    if (auto [ec, n] = std::get<0>(h); ec) co_return "read: " + ec.message();
    std::size_t size = (std::size_t{rlen[0]} << 8) | rlen[1];
    reply.assign(size, 0);
    timer_.expires_after(timeout_);
    auto b =
        co_await (asio::async_read(socket_, asio::buffer(reply), kUse) || timer_.async_wait(kUse));
    if (b.index() == 1) co_return "read: timeout";
    if (auto [ec, n] = std::get<0>(b); ec) co_return "read: " + ec.message();
    co_return "";
  }

  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  std::chrono::nanoseconds timeout_;
};

// The outcome of one signed exchange: either a verified reply or why there is none.
struct SignedReply {
  enum class Kind { Ok, Network, Malformed, Tsig } kind = Kind::Network;
  dns::Message message;
  tsig::Status tsig_status = tsig::Status::Ok;
  std::string detail;
};

asio::awaitable<SignedReply> signed_exchange(Connection& conn, const dns::Message& request,
                                             const tsig::Key& key, std::uint64_t now) {
  SignedReply out;
  auto wire = dns::encode(request);
  if (!wire) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "request not encodable";
    co_return out;
  }
  auto signed_req = tsig::sign(*wire, key, now);
  if (!signed_req) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "TSIG signing failed";
    co_return out;
  }
  std::vector<std::uint8_t> reply;
  std::string err =
      co_await conn.exchange(signed_req->wire, reply, request.header.opcode == dns::Opcode::Update);
  if (!err.empty()) {
    out.detail = err;
    co_return out;
  }
  auto decoded = dns::decode(reply);
  if (!decoded.message) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "undecodable reply: " + decoded.error;
    co_return out;
  }
  const auto& m = *decoded.message;
  if (m.header.id != request.header.id || !m.header.qr ||
      m.header.opcode != request.header.opcode ||
      (!m.questions.empty() && (m.questions.size() != request.questions.size() ||
                                !dns::names_equal(m.questions[0].name, request.questions[0].name) ||
                                m.questions[0].type != request.questions[0].type))) {
    out.kind = SignedReply::Kind::Malformed;
    out.detail = "reply does not match the request";
    co_return out;
  }
  auto v = tsig::verify(reply, key, signed_req->mac, now);
  out.message = std::move(*decoded.message);
  out.tsig_status = v.status;
  if (v.status != tsig::Status::Ok) {
    out.kind = SignedReply::Kind::Tsig;
    out.detail = "TSIG " + std::string(tsig::to_string(v.status)) + ", rcode " +
                 dns::rcode_name(out.message.header.rcode);
    co_return out;
  }
  out.kind = SignedReply::Kind::Ok;
  co_return out;
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
  return "gen=" + std::to_string(fence.generation) + " writer=" + fence.writer;
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
  if (!valid_writer(text)) return std::nullopt;
  f.writer = std::string(text);
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
  auto fence_rd = dns::rdata_from_text(dns::type::kTxt,
                                       format_fence(Fence{plan.generation, std::string(observer)}));
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
      wall_clock_(wall_clock ? std::move(wall_clock) : WallClock(system_seconds)) {
  rrtype_ = dns::type_from_name(target_.type).value_or(dns::type::kA);
}

asio::awaitable<ReadResult> Rfc2136Actuator::read() {
  ReadResult res;
  auto ex = co_await asio::this_coro::executor;
  Connection conn(ex, target_.timeout);
  if (auto err = co_await conn.connect(target_.server); !err.empty()) {
    res.status = ReadStatus::Unreachable;
    res.detail = err;
    co_return res;
  }
  // Returns the RDATA of the answers for (name, type), or sets `res` to the failure.
  auto query = [&](const std::string& name, std::uint16_t t)
      -> asio::awaitable<std::optional<std::vector<std::vector<std::uint8_t>>>> {
    auto q = make_query(name, t);
    SignedReply r = co_await signed_exchange(conn, q, key_, wall_clock_());
    std::string what = dns::type_name(t) + " " + name + ": ";
    switch (r.kind) {
      case SignedReply::Kind::Network:
        res.status = ReadStatus::Unreachable;
        res.detail = what + r.detail;
        co_return std::nullopt;
      case SignedReply::Kind::Malformed:
        res.status = ReadStatus::Error;
        res.detail = what + r.detail;
        co_return std::nullopt;
      case SignedReply::Kind::Tsig:
        res.status = ReadStatus::Refused;
        res.detail = what + r.detail;
        co_return std::nullopt;
      case SignedReply::Kind::Ok:
        break;
    }
    std::uint16_t rc = r.message.header.rcode;
    if (rc == dns::rcode::kServFail) {
      res.status = ReadStatus::Unreachable;
      res.detail = what + "SERVFAIL";
      co_return std::nullopt;
    }
    if (rc == dns::rcode::kRefused || rc == dns::rcode::kNotAuth) {
      res.status = ReadStatus::Refused;
      res.detail = what + dns::rcode_name(rc);
      co_return std::nullopt;
    }
    if (rc != dns::rcode::kNoError && rc != dns::rcode::kNxDomain) {
      res.status = ReadStatus::Error;
      res.detail = what + dns::rcode_name(rc);
      co_return std::nullopt;
    }
    std::vector<std::vector<std::uint8_t>> out;
    for (const auto& rr : r.message.answers) {
      if (rr.type == t && rr.klass == dns::klass::kIn && dns::names_equal(rr.name, name)) {
        out.push_back(rr.rdata);
      }
    }
    co_return out;
  };

  auto members = co_await query(target_.name, rrtype_);
  if (!members) co_return res;
  std::string fence_name = fence_name_for(target_);
  auto fences = co_await query(fence_name, dns::type::kTxt);
  if (!fences) co_return res;
  auto soa = co_await query(target_.zone, dns::type::kSoa);
  if (!soa) co_return res;
  conn.close();

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
  Connection conn(ex, target_.timeout);
  if (auto err = co_await conn.connect(target_.server); !err.empty()) {
    // Nothing was sent either, but the caller resolves every non-answer the same way: by reading.
    res.status = WriteStatus::Unknown;
    res.detail = err;
    co_return res;
  }
  SignedReply r = co_await signed_exchange(conn, *update, key_, wall_clock_());
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
