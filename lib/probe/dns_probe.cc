#include "probe/dns_probe.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <unordered_map>

#include "probe/ares_channel.h"
#include "probe/resolver.h"

namespace failoverd::probe {

namespace {

namespace asio = boost::asio;
using core::ProbeReason;

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeNs = 2;
constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeSoa = 6;
constexpr std::uint16_t kTypeMx = 15;
constexpr std::uint16_t kTypeTxt = 16;
constexpr std::uint16_t kTypeAaaa = 28;

struct TypeName {
  std::uint16_t type;
  std::string_view name;
};
constexpr std::array<TypeName, 7> kTypes{{{kTypeA, "A"},
                                          {kTypeAaaa, "AAAA"},
                                          {kTypeTxt, "TXT"},
                                          {kTypeCname, "CNAME"},
                                          {kTypeSoa, "SOA"},
                                          {kTypeNs, "NS"},
                                          {kTypeMx, "MX"}}};

constexpr std::array<std::string_view, 11> kRcodes{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                   "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                   "NXRRSET", "NOTAUTH", "NOTZONE"};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// ---- wire reading, every access bounds-checked ----

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> msg) : msg_(msg) {}

  bool u16(std::size_t& at, std::uint16_t& out) const {
    if (at + 2 > msg_.size()) return false;
    out = static_cast<std::uint16_t>((msg_[at] << 8) | msg_[at + 1]);
    at += 2;
    return true;
  }
  bool u32(std::size_t& at, std::uint32_t& out) const {
    if (at + 4 > msg_.size()) return false;
    out = (std::uint32_t{msg_[at]} << 24) | (std::uint32_t{msg_[at + 1]} << 16) |
          (std::uint32_t{msg_[at + 2]} << 8) | std::uint32_t{msg_[at + 3]};
    at += 4;
    return true;
  }

  // Reads a possibly compressed name at `at` into presentation form ("www.example." or ".");
  // `at` moves past the name as stored there.
  bool name(std::size_t& at, std::string& out) const {
    out.clear();
    std::size_t pos = at;
    bool jumped = false;
    std::size_t wire_length = 0;
    for (int hops = 0; hops < 128; ++hops) {
      if (pos >= msg_.size()) return false;
      const std::uint8_t len = msg_[pos];
      if ((len & 0xC0) == 0xC0) {
        if (pos + 1 >= msg_.size()) return false;
        const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | msg_[pos + 1];
        if (!jumped) at = pos + 2;
        jumped = true;
        if (target >= pos) return false;  // pointers must go backwards: no loops
        pos = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // obsolete label types
      if (len == 0) {
        if (!jumped) at = pos + 1;
        if (out.empty()) out = ".";
        return true;
      }
      wire_length += len + 1u;
      if (wire_length > 255 || pos + 1 + len > msg_.size()) return false;
      for (std::size_t i = pos + 1; i < pos + 1 + len; ++i) {
        const auto c = static_cast<char>(msg_[i]);
        if (c == '.' || c == '\\' || msg_[i] < 0x21 || msg_[i] > 0x7E) {
          out += '\\';
          const unsigned v = msg_[i];
          out += static_cast<char>('0' + v / 100);
          out += static_cast<char>('0' + (v / 10) % 10);
          out += static_cast<char>('0' + v % 10);
        } else {
          out += c;
        }
      }
      out += '.';
      pos += 1 + len;
    }
    return false;
  }

  std::span<const std::uint8_t> bytes(std::size_t at, std::size_t n) const {
    return msg_.subspan(at, n);
  }
  std::size_t size() const { return msg_.size(); }

 private:
  std::span<const std::uint8_t> msg_;
};

bool decode_rdata(const Reader& r, std::uint16_t type, std::size_t at, std::size_t len,
                  std::string& value, std::string& error) {
  const std::size_t end = at + len;
  auto bad = [&](const char* what) {
    error = std::string("bad ") + what + " record";
    return false;
  };
  switch (type) {
    case kTypeA:
    case kTypeAaaa: {
      const bool v4 = type == kTypeA;
      if (len != (v4 ? 4u : 16u)) return bad(v4 ? "A" : "AAAA");
      std::array<char, INET6_ADDRSTRLEN> text{};
      const auto raw = r.bytes(at, len);
      if (inet_ntop(v4 ? AF_INET : AF_INET6, raw.data(), text.data(),
                    static_cast<socklen_t>(text.size())) == nullptr) {
        return bad("address");
      }
      value = text.data();
      return true;
    }
    case kTypeCname:
    case kTypeNs: {
      std::size_t pos = at;
      if (!r.name(pos, value) || pos != end) return bad(type == kTypeNs ? "NS" : "CNAME");
      return true;
    }
    case kTypeMx: {
      std::size_t pos = at;
      std::uint16_t pref = 0;
      std::string host;
      if (!r.u16(pos, pref) || !r.name(pos, host) || pos != end) return bad("MX");
      value = std::to_string(pref) + " " + host;
      return true;
    }
    case kTypeTxt: {
      value.clear();
      std::size_t pos = at;
      if (len == 0) return bad("TXT");
      while (pos < end) {
        const std::size_t n = r.bytes(pos, 1)[0];
        if (pos + 1 + n > end) return bad("TXT");
        const auto s = r.bytes(pos + 1, n);
        value.append(s.begin(), s.end());
        pos += 1 + n;
      }
      return true;
    }
    case kTypeSoa: {
      std::size_t pos = at;
      std::string mname;
      std::string rname;
      std::array<std::uint32_t, 5> nums{};
      if (!r.name(pos, mname) || !r.name(pos, rname)) return bad("SOA");
      for (auto& n : nums) {
        if (!r.u32(pos, n)) return bad("SOA");
      }
      if (pos != end) return bad("SOA");
      value = mname + " " + rname;
      for (auto n : nums) value += " " + std::to_string(n);
      return true;
    }
    default:
      value = "\\# " + std::to_string(len);
      return true;
  }
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() > 1 && a.back() == '.') a.remove_suffix(1);
  if (b.size() > 1 && b.back() == '.') b.remove_suffix(1);
  return iequals(a, b);
}

bool same_address(int family, std::string_view a, std::string_view b) {
  std::array<unsigned char, 16> x{};
  std::array<unsigned char, 16> y{};
  const std::string sa(a);
  const std::string sb(b);
  return inet_pton(family, sa.c_str(), x.data()) == 1 &&
         inet_pton(family, sb.c_str(), y.data()) == 1 && x == y;
}

bool value_matches(std::uint16_t type, std::string_view value, std::string_view expected) {
  switch (type) {
    case kTypeA:
      return same_address(AF_INET, value, expected);
    case kTypeAaaa:
      return same_address(AF_INET6, value, expected);
    case kTypeCname:
    case kTypeNs:
      return same_name(value, expected);
    case kTypeMx: {
      const auto got = split_spaces(value);
      const auto want = split_spaces(expected);
      if (got.size() != 2) return false;
      if (want.size() == 1) return same_name(got[1], want[0]);
      return want.size() == 2 && got[0] == want[0] && same_name(got[1], want[1]);
    }
    case kTypeSoa: {
      const auto got = split_spaces(value);
      const auto want = split_spaces(expected);
      if (want.empty() || want.size() > got.size()) return false;
      for (std::size_t i = 0; i < want.size(); ++i) {
        const bool ok = i < 2 ? same_name(got[i], want[i]) : got[i] == want[i];
        if (!ok) return false;
      }
      return true;
    }
    case kTypeTxt:
      return value == expected;
    default:
      return false;
  }
}

std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure pieces

std::optional<std::uint16_t> dns_type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (iequals(t.name, name)) return t.type;
  }
  return std::nullopt;
}

std::string dns_type_name(std::uint16_t type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return std::string(t.name);
  }
  return "TYPE" + std::to_string(type);
}

std::optional<int> dns_rcode_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kRcodes.size(); ++i) {
    if (iequals(kRcodes[i], name)) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::string dns_rcode_name(int rcode) {
  if (rcode >= 0 && static_cast<std::size_t>(rcode) < kRcodes.size()) {
    return std::string(kRcodes[static_cast<std::size_t>(rcode)]);
  }
  return "RCODE" + std::to_string(rcode);
}

std::optional<DnsReply> parse_dns_reply(std::span<const std::uint8_t> message, std::string* error) {
  std::string why;
  auto fail = [&](std::string text) -> std::optional<DnsReply> {
    if (error != nullptr) *error = std::move(text);
    return std::nullopt;
  };
  const Reader r(message);
  std::size_t at = 0;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;
  if (!r.u16(at, id) || !r.u16(at, flags) || !r.u16(at, qdcount) || !r.u16(at, ancount) ||
      !r.u16(at, nscount) || !r.u16(at, arcount)) {
    return fail("short header");
  }
  if ((flags & 0x8000u) == 0) return fail("not a response (QR clear)");
  DnsReply reply;
  reply.id = id;
  reply.rcode = flags & 0x000F;
  reply.authoritative = (flags & 0x0400u) != 0;
  reply.truncated = (flags & 0x0200u) != 0;
  std::string name;
  for (unsigned i = 0; i < qdcount; ++i) {
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    if (!r.name(at, name) || !r.u16(at, qtype) || !r.u16(at, qclass)) {
      return fail("bad question section");
    }
  }
  reply.answers.reserve(std::min<std::size_t>(ancount, 64));
  for (unsigned i = 0; i < ancount; ++i) {
    DnsRecord rec;
    std::uint16_t rclass = 0;
    std::uint16_t rdlength = 0;
    if (!r.name(at, rec.owner) || !r.u16(at, rec.type) || !r.u16(at, rclass) ||
        !r.u32(at, rec.ttl) || !r.u16(at, rdlength)) {
      return fail("bad answer record " + std::to_string(i + 1));
    }
    if (at + rdlength > r.size()) return fail("answer record " + std::to_string(i + 1) + " cut");
    if (!decode_rdata(r, rec.type, at, rdlength, rec.value, why)) return fail(why);
    at += rdlength;
    reply.answers.push_back(std::move(rec));
  }
  return reply;
}

bool dns_answer_contains(const DnsReply& reply, std::uint16_t type, std::string_view expected) {
  return std::any_of(reply.answers.begin(), reply.answers.end(), [&](const DnsRecord& rec) {
    return rec.type == type && value_matches(type, rec.value, expected);
  });
}

DnsVerdict classify_dns_reply(std::span<const std::uint8_t> message,
                              const config::DnsCheck& check) {
  const auto type = dns_type_from_name(check.query_type);
  if (!type) return {ProbeReason::Internal, "unsupported query_type " + check.query_type};
  const auto want_rcode = dns_rcode_from_name(check.expect_rcode);
  if (!want_rcode) return {ProbeReason::Internal, "unsupported expect_rcode " + check.expect_rcode};
  std::string why;
  const auto reply = parse_dns_reply(message, &why);
  if (!reply) return {ProbeReason::ProtocolError, "malformed reply: " + why};
  if (reply->rcode != *want_rcode) {
    return {ProbeReason::DnsRcode,
            "rcode " + dns_rcode_name(reply->rcode) + ", expected " + dns_rcode_name(*want_rcode)};
  }
  for (const auto& expected : check.expect_answer) {
    if (dns_answer_contains(*reply, *type, expected)) continue;
    std::string got;
    int shown = 0;
    for (const auto& rec : reply->answers) {
      if (rec.type != *type) continue;
      if (shown == 3) {
        got += ", ...";
        break;
      }
      got += (shown++ == 0 ? "" : ", ") + rec.value;
    }
    return {ProbeReason::DnsAnswerMismatch,
            dns_type_name(*type) + " \"" + expected +
                "\" not in answer (got: " + (got.empty() ? "none" : got) + ")"};
  }
  const auto n = reply->answers.size();
  return {ProbeReason::Ok, dns_rcode_name(reply->rcode) + ", " + std::to_string(n) +
                               (n == 1 ? " answer" : " answers")};
}

DnsVerdict classify_ares_status(int status, const config::DnsCheck& check,
                                std::chrono::milliseconds timeout) {
  // The rcodes c-ares reports as statuses (only when it checks responses itself).
  auto rcode_status = [&](int rcode) -> DnsVerdict {
    const auto want = dns_rcode_from_name(check.expect_rcode);
    if (!want) return {ProbeReason::Internal, "unsupported expect_rcode " + check.expect_rcode};
    if (rcode != *want) {
      return {ProbeReason::DnsRcode,
              "rcode " + dns_rcode_name(rcode) + ", expected " + dns_rcode_name(*want)};
    }
    if (!check.expect_answer.empty()) {
      return {ProbeReason::DnsAnswerMismatch,
              "empty answer, expected \"" + check.expect_answer.front() + "\""};
    }
    return {ProbeReason::Ok, dns_rcode_name(rcode) + ", 0 answers"};
  };
  switch (status) {
    case ares_status::kTimeout:
      return {ProbeReason::Timeout, "no reply within " + ms_text(timeout)};
    case ares_status::kConnRefused:
      return {ProbeReason::Refused, "connection refused"};
    case ares_status::kNoData:
      return rcode_status(0);
    case ares_status::kFormErr:
      return rcode_status(1);
    case ares_status::kServFail:
      return rcode_status(2);
    case ares_status::kNotFound:
      return rcode_status(3);
    case ares_status::kNotImp:
      return rcode_status(4);
    case ares_status::kRefused:
      return rcode_status(5);
    case ares_status::kBadResp:
      return {ProbeReason::ProtocolError, "malformed reply"};
    case ares_status::kDestruction:
    case ares_status::kCancelled:
      return {ProbeReason::Internal, "probe cancelled"};
    default:
      return {ProbeReason::Internal, "c-ares: " + ares_status_text(status)};
  }
}

// ---------------------------------------------------------------------------------------------
// The prober

struct DnsProber::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& context, Resolver* r, Options o) : io(context), resolver(r), options(o) {}

  // What one probe needs after start() returned.
  struct Probe {
    core::EndpointId endpoint;
    config::DnsCheck check;
    core::TimePoint started;
    std::chrono::milliseconds timeout{};
    std::vector<std::uint8_t> query;
    Callback done;
  };

  asio::io_context& io;
  Resolver* resolver;
  Options options;
  std::unordered_map<std::string, std::unique_ptr<AresChannel>> channels;
  std::size_t in_flight = 0;

  // Completes a probe through the io_context, never inline.
  void finish(std::shared_ptr<Probe> p, DnsVerdict verdict) {
    ProbeResult result;
    result.endpoint = p->endpoint;
    result.started = p->started;
    result.outcome.reason = verdict.reason;
    result.outcome.latency = core::Clock::now() - p->started;
    result.detail = std::move(verdict.detail);
    asio::post(io,
               [weak = weak_from_this(), p = std::move(p), result = std::move(result)]() mutable {
                 auto self = weak.lock();
                 if (!self) return;
                 --self->in_flight;
                 auto done = std::move(p->done);
                 done(std::move(result));
               });
  }

  AresChannel& channel_for(const asio::ip::address& address, std::uint16_t port, bool tcp,
                           std::chrono::milliseconds timeout) {
    std::string server = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    server += ":" + std::to_string(port);
    std::string key = server + (tcp ? "/tcp/" : "/udp/") + std::to_string(timeout.count());
    auto it = channels.find(key);
    if (it != channels.end()) return *it->second;
    if (channels.size() >= options.max_channels) {
      // Safe here: start() never runs inside c-ares processing of our own channels, because every
      // completion is posted.
      std::erase_if(channels, [](const auto& kv) { return kv.second->in_flight() == 0; });
    }
    AresChannelOptions o;
    o.servers = server;
    o.tcp = tcp;
    o.timeout = timeout;
    o.tries = 1;
    o.raw_replies = true;
    return *channels.emplace(std::move(key), std::make_unique<AresChannel>(io, o)).first->second;
  }

  void send(std::shared_ptr<Probe> p, const asio::ip::address& address) {
    const auto port = p->check.server.port == 0 ? std::uint16_t{53} : p->check.server.port;
    AresChannel* channel = nullptr;
    try {
      channel = &channel_for(address, port, p->check.tcp, p->timeout);
    } catch (const std::exception& e) {
      finish(std::move(p), {ProbeReason::Internal, e.what()});
      return;
    }
    const auto query = std::span<const std::uint8_t>(p->query);
    channel->send(query, [weak = weak_from_this(), p](int status,
                                                      std::span<const std::uint8_t> reply) mutable {
      auto self = weak.lock();
      if (!self) return;  // the prober is going away: abandon
      DnsVerdict verdict = status == ares_status::kSuccess
                               ? classify_dns_reply(reply, p->check)
                               : classify_ares_status(status, p->check, p->timeout);
      self->finish(std::move(p), std::move(verdict));
    });
  }

  void start(const config::Endpoint& endpoint, Callback done) {
    auto p = std::make_shared<Probe>();
    p->endpoint = endpoint.name;
    p->check = endpoint.dns;
    p->started = core::Clock::now();
    p->done = std::move(done);
    ++in_flight;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(endpoint.timeout);
    p->timeout = std::max(ms, std::chrono::milliseconds(1));

    const auto type = dns_type_from_name(p->check.query_type);
    if (!type) {
      finish(std::move(p),
             {ProbeReason::Internal, "unsupported query_type " + endpoint.dns.query_type});
      return;
    }
    if (!dns_rcode_from_name(p->check.expect_rcode)) {
      finish(std::move(p),
             {ProbeReason::Internal, "unsupported expect_rcode " + endpoint.dns.expect_rcode});
      return;
    }
    p->query = make_query(p->check.query_name, *type, options.recursion_desired);
    if (p->query.empty()) {
      finish(std::move(p),
             {ProbeReason::Internal, "invalid query_name " + endpoint.dns.query_name});
      return;
    }
    std::string host = p->check.server.host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      send(std::move(p), address);
      return;
    }
    if (resolver == nullptr) {
      finish(std::move(p), {ProbeReason::ResolveError, "server " + host + " is not an IP address"});
      return;
    }
    resolver->resolve(host, [weak = weak_from_this(), p, host](const Resolution& r) mutable {
      auto self = weak.lock();
      if (!self) return;
      if (r.status != ResolveStatus::Ok || r.addresses.empty()) {
        self->finish(std::move(p),
                     {ProbeReason::ResolveError, "resolve " + host + ": " + r.detail});
        return;
      }
      // The query gets the channel's full timeout; a lookup that already used it all ends here.
      if (core::Clock::now() - p->started >= p->timeout) {
        self->finish(std::move(p),
                     {ProbeReason::Timeout, "resolving " + host + " took longer than " +
                                                std::to_string(p->timeout.count()) + "ms"});
        return;
      }
      self->send(std::move(p), r.addresses.front());
    });
  }
};

DnsProber::DnsProber(asio::io_context& io, Resolver* resolver)
    : DnsProber(io, resolver, Options{}) {}

DnsProber::DnsProber(asio::io_context& io, Resolver* resolver, Options options)
    : impl_(std::make_shared<Impl>(io, resolver, options)) {}

DnsProber::~DnsProber() = default;

void DnsProber::start(const config::Endpoint& endpoint, Callback done) {
  impl_->start(endpoint, std::move(done));
}

std::size_t DnsProber::in_flight() const {
  return impl_->in_flight;
}

std::size_t DnsProber::channels() const {
  return impl_->channels.size();
}

void start_dns_probe(DnsProber& prober, const config::Endpoint& endpoint,
                     std::function<void(ProbeResult)> done) {
  prober.start(endpoint, std::move(done));
}

}  // namespace failoverd::probe
