#include "actuate/dns_wire.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace failoverd::actuate::dns {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

// A bounds-checked reader over the whole message (names may point anywhere before them).
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> wire) : wire_(wire) {}
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return wire_.size() - pos_; }
  bool u8(std::uint8_t& v) {
    if (remaining() < 1) return false;
    v = wire_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<std::uint16_t>((wire_[pos_] << 8) | wire_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint16_t hi = 0;
    std::uint16_t lo = 0;
    if (remaining() < 4) return false;
    u16(hi);
    u16(lo);
    v = (static_cast<std::uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool bytes(std::size_t n, std::vector<std::uint8_t>& out) {
    if (remaining() < n) return false;
    out.assign(wire_.begin() + static_cast<std::ptrdiff_t>(pos_),
               wire_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return true;
  }

  // Reads a possibly compressed name at the current position into uncompressed wire labels.
  // Each pointer must point strictly before the label that holds it, so a loop is impossible;
  // kMaxPointers and kMaxName bound the work anyway.
  bool name_wire(std::vector<std::uint8_t>& out) {
    out.clear();
    std::size_t p = pos_;
    std::size_t end_here = 0;  // where the reader continues: after the first pointer or the root
    bool jumped = false;
    int pointers = 0;
    while (true) {
      if (p >= wire_.size()) return false;
      std::uint8_t len = wire_[p];
      if ((len & 0xc0) == 0xc0) {
        if (p + 1 >= wire_.size()) return false;
        std::size_t target = (static_cast<std::size_t>(len & 0x3f) << 8) | wire_[p + 1];
        if (target >= p) return false;
        if (++pointers > kMaxPointers) return false;
        if (!jumped) end_here = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xc0) != 0) return false;  // 0x40/0x80: extended label types, unsupported
      if (len == 0) {
        out.push_back(0);
        if (out.size() > kMaxName) return false;
        if (!jumped) end_here = p + 1;
        break;
      }
      if (p + 1 + len > wire_.size()) return false;
      if (out.size() + 1 + len + 1 > kMaxName) return false;
      out.insert(out.end(), wire_.begin() + static_cast<std::ptrdiff_t>(p),
                 wire_.begin() + static_cast<std::ptrdiff_t>(p + 1 + len));
      p += 1 + len;
    }
    pos_ = end_here;
    return true;
  }

 private:
  std::span<const std::uint8_t> wire_;
  std::size_t pos_ = 0;
};

// Uncompressed wire labels (known valid) -> presentation text.
std::string wire_to_name(std::span<const std::uint8_t> w) {
  std::string out;
  std::size_t p = 0;
  while (p < w.size() && w[p] != 0) {
    std::size_t len = w[p];
    for (std::size_t i = 1; i <= len && p + i < w.size(); ++i) {
      auto c = static_cast<unsigned char>(w[p + i]);
      if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7e) {
        std::array<char, 5> buf{};
        buf[0] = '\\';
        buf[1] = static_cast<char>('0' + c / 100);
        buf[2] = static_cast<char>('0' + (c / 10) % 10);
        buf[3] = static_cast<char>('0' + c % 10);
        out.append(buf.data(), 4);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
    p += 1 + len;
  }
  // Appending, not assigning or prepending a literal: GCC 12 at -O3 reports a false -Wrestrict
  // overlap for `s = "."` and `" " + std::string`; these forms are equivalent.
  if (out.empty()) out.push_back('.');
  return out;
}

bool read_name(Reader& r, std::string& name) {
  std::vector<std::uint8_t> w;
  if (!r.name_wire(w)) return false;
  name = wire_to_name(w);
  return true;
}

// Decodes RDATA of `t` at the reader's position (length rdlength), expanding names in CNAME/SOA.
bool read_rdata(Reader& r, std::uint16_t t, std::uint16_t rdlength,
                std::vector<std::uint8_t>& out) {
  if (r.remaining() < rdlength) return false;
  std::size_t end = r.pos() + rdlength;
  if (t == type::kCname || t == type::kNs) {
    if (!r.name_wire(out)) return false;
  } else if (t == type::kSoa) {
    std::vector<std::uint8_t> mname;
    std::vector<std::uint8_t> rname;
    std::vector<std::uint8_t> fixed;
    if (!r.name_wire(mname) || !r.name_wire(rname)) return false;
    if (r.pos() > end || end - r.pos() != 20) return false;
    if (!r.bytes(20, fixed)) return false;
    out = std::move(mname);
    out.insert(out.end(), rname.begin(), rname.end());
    out.insert(out.end(), fixed.begin(), fixed.end());
  } else {
    return r.bytes(rdlength, out);
  }
  return r.pos() == end;
}

bool read_rr(Reader& r, Rr& rr) {
  rr.offset = r.pos();
  std::uint16_t rdlength = 0;
  if (!read_name(r, rr.name)) return false;
  if (!r.u16(rr.type) || !r.u16(rr.klass) || !r.u32(rr.ttl) || !r.u16(rdlength)) return false;
  return read_rdata(r, rr.type, rdlength, rr.rdata);
}

bool put_name(std::vector<std::uint8_t>& out, std::string_view name) {
  auto w = name_to_wire(name);
  if (!w) return false;
  out.insert(out.end(), w->begin(), w->end());
  return true;
}

bool put_rr(std::vector<std::uint8_t>& out, const Rr& rr) {
  if (!put_name(out, rr.name)) return false;
  if (rr.rdata.size() > 0xffff) return false;
  put16(out, rr.type);
  put16(out, rr.klass);
  put32(out, rr.ttl);
  put16(out, static_cast<std::uint16_t>(rr.rdata.size()));
  out.insert(out.end(), rr.rdata.begin(), rr.rdata.end());
  return true;
}

bool parse_u32(std::string_view s, std::uint32_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Is `name` at or below `zone`?
bool in_zone(std::string_view name, std::string_view zone) {
  auto n = name_to_canonical_wire(name);
  auto z = name_to_canonical_wire(zone);
  if (!n || !z) return false;
  if (z->size() > n->size()) return false;
  // The zone must be a suffix that starts on a label boundary.
  std::size_t start = n->size() - z->size();
  if (!std::equal(z->begin(), z->end(), n->begin() + static_cast<std::ptrdiff_t>(start))) {
    return false;
  }
  std::size_t p = 0;
  while (p < start) p += 1 + (*n)[p];
  return p == start;
}

}  // namespace

std::string rcode_name(std::uint16_t rc) {
  switch (rc) {
    case rcode::kNoError:
      return "NOERROR";
    case rcode::kFormErr:
      return "FORMERR";
    case rcode::kServFail:
      return "SERVFAIL";
    case rcode::kNxDomain:
      return "NXDOMAIN";
    case rcode::kNotImp:
      return "NOTIMP";
    case rcode::kRefused:
      return "REFUSED";
    case rcode::kYxDomain:
      return "YXDOMAIN";
    case rcode::kYxRrset:
      return "YXRRSET";
    case rcode::kNxRrset:
      return "NXRRSET";
    case rcode::kNotAuth:
      return "NOTAUTH";
    case rcode::kNotZone:
      return "NOTZONE";
    case rcode::kBadSig:
      return "BADSIG";
    case rcode::kBadKey:
      return "BADKEY";
    case rcode::kBadTime:
      return "BADTIME";
    default:
      return "RCODE" + std::to_string(rc);
  }
}

namespace {
struct TypeNameEntry {
  std::uint16_t value;
  std::string_view name;
};
constexpr std::array<TypeNameEntry, 8> kTypeNames{{{type::kA, "A"},
                                                   {type::kNs, "NS"},
                                                   {type::kCname, "CNAME"},
                                                   {type::kSoa, "SOA"},
                                                   {type::kTxt, "TXT"},
                                                   {type::kAaaa, "AAAA"},
                                                   {type::kTsig, "TSIG"},
                                                   {type::kAny, "ANY"}}};
}  // namespace

std::string type_name(std::uint16_t t) {
  for (const auto& e : kTypeNames) {
    if (e.value == t) return std::string(e.name);
  }
  return "TYPE" + std::to_string(t);
}

std::optional<std::uint16_t> type_from_name(std::string_view name) {
  for (const auto& e : kTypeNames) {
    if (iequals(e.name, name)) return e.value;
  }
  return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> name_to_wire(std::string_view name) {
  std::vector<std::uint8_t> out;
  if (name == "." || name.empty()) return std::vector<std::uint8_t>{0};
  std::vector<std::uint8_t> label;
  std::size_t i = 0;
  auto flush = [&]() -> bool {
    if (label.empty() || label.size() > 63) return false;
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    label.clear();
    return true;
  };
  while (i < name.size()) {
    char c = name[i];
    if (c == '.') {
      if (!flush()) return std::nullopt;
      ++i;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= name.size()) return std::nullopt;
      char d = name[i + 1];
      if (d >= '0' && d <= '9') {
        if (i + 3 >= name.size()) return std::nullopt;
        unsigned v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          char e = name[i + k];
          if (e < '0' || e > '9') return std::nullopt;
          v = v * 10 + static_cast<unsigned>(e - '0');
        }
        if (v > 255) return std::nullopt;
        label.push_back(static_cast<std::uint8_t>(v));
        i += 4;
      } else {
        label.push_back(static_cast<std::uint8_t>(d));
        i += 2;
      }
      continue;
    }
    label.push_back(static_cast<std::uint8_t>(c));
    ++i;
  }
  if (!label.empty() && !flush()) return std::nullopt;
  out.push_back(0);
  if (out.size() > kMaxName) return std::nullopt;
  return out;
}

std::optional<std::vector<std::uint8_t>> name_to_canonical_wire(std::string_view name) {
  auto w = name_to_wire(name);
  if (!w) return std::nullopt;
  // Lower-case label bytes only, not the length octets.
  std::size_t p = 0;
  while (p < w->size() && (*w)[p] != 0) {
    std::size_t len = (*w)[p];
    for (std::size_t k = 1; k <= len; ++k) {
      auto& b = (*w)[p + k];
      if (b >= 'A' && b <= 'Z') b = static_cast<std::uint8_t>(b - 'A' + 'a');
    }
    p += 1 + len;
  }
  return w;
}

bool names_equal(std::string_view a, std::string_view b) {
  auto wa = name_to_canonical_wire(a);
  auto wb = name_to_canonical_wire(b);
  return wa && wb && *wa == *wb;
}

std::optional<std::vector<std::uint8_t>> encode(const Message& m) {
  if (m.questions.size() > 0xffff || m.answers.size() > 0xffff || m.authority.size() > 0xffff ||
      m.additional.size() > 0xffff) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> out;
  out.reserve(512);
  const Header& h = m.header;
  put16(out, h.id);
  std::uint16_t flags = 0;
  if (h.qr) flags |= 0x8000;
  flags |= static_cast<std::uint16_t>((static_cast<unsigned>(h.opcode) & 0xf) << 11);
  if (h.aa) flags |= 0x0400;
  if (h.tc) flags |= 0x0200;
  if (h.rd) flags |= 0x0100;
  if (h.ra) flags |= 0x0080;
  flags |= static_cast<std::uint16_t>(h.rcode & 0xf);
  put16(out, flags);
  put16(out, static_cast<std::uint16_t>(m.questions.size()));
  put16(out, static_cast<std::uint16_t>(m.answers.size()));
  put16(out, static_cast<std::uint16_t>(m.authority.size()));
  put16(out, static_cast<std::uint16_t>(m.additional.size()));
  for (const auto& q : m.questions) {
    if (!put_name(out, q.name)) return std::nullopt;
    put16(out, q.type);
    put16(out, q.klass);
  }
  for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
    for (const auto& rr : *section) {
      if (!put_rr(out, rr)) return std::nullopt;
    }
  }
  if (out.size() > kMaxMessage) return std::nullopt;
  return out;
}

DecodeResult decode(std::span<const std::uint8_t> wire) {
  DecodeResult res;
  if (wire.size() > kMaxMessage) {
    res.error = "message too large";
    return res;
  }
  Reader r(wire);
  Message m;
  std::uint16_t flags = 0;
  std::array<std::uint16_t, 4> counts{};
  if (!r.u16(m.header.id) || !r.u16(flags)) {
    res.error = "short header";
    return res;
  }
  for (auto& c : counts) {
    if (!r.u16(c)) {
      res.error = "short header";
      return res;
    }
  }
  m.header.qr = (flags & 0x8000) != 0;
  m.header.opcode = static_cast<Opcode>((flags >> 11) & 0xf);
  m.header.aa = (flags & 0x0400) != 0;
  m.header.tc = (flags & 0x0200) != 0;
  m.header.rd = (flags & 0x0100) != 0;
  m.header.ra = (flags & 0x0080) != 0;
  m.header.rcode = static_cast<std::uint8_t>(flags & 0xf);
  // Each question takes at least 5 octets and each RR at least 11: counts that cannot fit in the
  // remaining bytes are rejected before anything is allocated.
  std::size_t min_bytes =
      std::size_t{counts[0]} * 5 + (std::size_t{counts[1]} + counts[2] + counts[3]) * 11;
  if (min_bytes > r.remaining()) {
    res.error = "section counts exceed message";
    return res;
  }
  for (auto c : counts) {
    if (c > kMaxRecords) {
      res.error = "too many records";
      return res;
    }
  }
  m.questions.reserve(counts[0]);
  for (std::uint16_t i = 0; i < counts[0]; ++i) {
    Question q;
    if (!read_name(r, q.name) || !r.u16(q.type) || !r.u16(q.klass)) {
      res.error = "bad question";
      return res;
    }
    m.questions.push_back(std::move(q));
  }
  std::array<std::vector<Rr>*, 3> sections{&m.answers, &m.authority, &m.additional};
  for (std::size_t s = 0; s < sections.size(); ++s) {
    sections[s]->reserve(counts[s + 1]);
    for (std::uint16_t i = 0; i < counts[s + 1]; ++i) {
      Rr rr;
      if (!read_rr(r, rr)) {
        res.error = "bad resource record";
        return res;
      }
      sections[s]->push_back(std::move(rr));
    }
  }
  if (r.remaining() != 0) {
    res.error = "trailing bytes";
    return res;
  }
  res.message = std::move(m);
  return res;
}

std::optional<std::vector<std::uint8_t>> rdata_from_text(std::uint16_t t, std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would silently cut the value short.
  if ((t == type::kA || t == type::kAaaa) && text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  if (t == type::kA) {
    std::array<unsigned char, 4> buf{};
    std::string s(text);
    if (inet_pton(AF_INET, s.c_str(), buf.data()) != 1) return std::nullopt;
    return std::vector<std::uint8_t>(buf.begin(), buf.end());
  }
  if (t == type::kAaaa) {
    std::array<unsigned char, 16> buf{};
    std::string s(text);
    if (inet_pton(AF_INET6, s.c_str(), buf.data()) != 1) return std::nullopt;
    return std::vector<std::uint8_t>(buf.begin(), buf.end());
  }
  if (t == type::kTxt) {
    std::vector<std::uint8_t> out;
    if (text.empty()) return std::vector<std::uint8_t>{0};
    for (std::size_t i = 0; i < text.size(); i += 255) {
      auto chunk = text.substr(i, 255);
      out.push_back(static_cast<std::uint8_t>(chunk.size()));
      out.insert(out.end(), chunk.begin(), chunk.end());
    }
    if (out.size() > 0xffff) return std::nullopt;
    return out;
  }
  if (t == type::kCname || t == type::kNs) return name_to_wire(text);
  if (t == type::kSoa) {
    auto f = split_ws(text);
    if (f.size() != 7) return std::nullopt;
    auto out = name_to_wire(f[0]);
    auto rname = name_to_wire(f[1]);
    if (!out || !rname) return std::nullopt;
    out->insert(out->end(), rname->begin(), rname->end());
    for (std::size_t i = 2; i < 7; ++i) {
      std::uint32_t v = 0;
      if (!parse_u32(f[i], v)) return std::nullopt;
      put32(*out, v);
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::string> rdata_to_text(std::uint16_t t, std::span<const std::uint8_t> rdata) {
  if (t == type::kA || t == type::kAaaa) {
    std::size_t want = t == type::kA ? 4 : 16;
    if (rdata.size() != want) return std::nullopt;
    std::array<char, 64> buf{};
    if (inet_ntop(t == type::kA ? AF_INET : AF_INET6, rdata.data(), buf.data(),
                  static_cast<socklen_t>(buf.size())) == nullptr) {
      return std::nullopt;
    }
    return std::string(buf.data());
  }
  if (t == type::kTxt) {
    std::string out;
    std::size_t p = 0;
    if (rdata.empty()) return std::nullopt;
    while (p < rdata.size()) {
      std::size_t len = rdata[p];
      if (p + 1 + len > rdata.size()) return std::nullopt;
      out.append(reinterpret_cast<const char*>(rdata.data() + p + 1), len);
      p += 1 + len;
    }
    return out;
  }
  if (t == type::kCname || t == type::kNs || t == type::kSoa) {
    // RDATA here is uncompressed (the decoder expanded it); re-read its names with a Reader.
    Reader r(rdata);
    std::vector<std::uint8_t> w;
    if (!r.name_wire(w)) return std::nullopt;
    std::string out = wire_to_name(w);
    if (t != type::kSoa) {
      if (r.remaining() != 0) return std::nullopt;
      return out;
    }
    if (!r.name_wire(w)) return std::nullopt;
    out.push_back(' ');
    out += wire_to_name(w);
    if (r.remaining() != 20) return std::nullopt;
    for (int i = 0; i < 5; ++i) {
      std::uint32_t v = 0;
      r.u32(v);
      out.push_back(' ');
      out += std::to_string(v);
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> soa_serial(std::span<const std::uint8_t> rdata) {
  Reader r(rdata);
  std::vector<std::uint8_t> w;
  std::uint32_t serial = 0;
  if (!r.name_wire(w) || !r.name_wire(w) || r.remaining() != 20 || !r.u32(serial)) {
    return std::nullopt;
  }
  return serial;
}

Rr prereq_rrset_exists_value(std::string name, std::uint16_t t, std::vector<std::uint8_t> rdata) {
  return Rr{std::move(name), t, klass::kIn, 0, std::move(rdata), 0};
}
Rr prereq_rrset_exists(std::string name, std::uint16_t t) {
  return Rr{std::move(name), t, klass::kAny, 0, {}, 0};
}
Rr prereq_rrset_does_not_exist(std::string name, std::uint16_t t) {
  return Rr{std::move(name), t, klass::kNone, 0, {}, 0};
}
Rr update_delete_rrset(std::string name, std::uint16_t t) {
  return Rr{std::move(name), t, klass::kAny, 0, {}, 0};
}
Rr update_delete_rr(std::string name, std::uint16_t t, std::vector<std::uint8_t> rdata) {
  return Rr{std::move(name), t, klass::kNone, 0, std::move(rdata), 0};
}
Rr update_add_rr(std::string name, std::uint16_t t, std::uint32_t ttl,
                 std::vector<std::uint8_t> rdata) {
  return Rr{std::move(name), t, klass::kIn, ttl, std::move(rdata), 0};
}

std::optional<std::string> validate_update(const Message& m) {
  if (m.header.opcode != Opcode::Update) return "opcode is not UPDATE";
  if (m.questions.size() != 1) return "zone section must hold exactly one zone";
  const Question& zone = m.questions[0];
  if (zone.type != type::kSoa) return "zone type must be SOA";
  for (const auto& rr : m.answers) {
    if (!in_zone(rr.name, zone.name)) return "prerequisite name outside zone: " + rr.name;
    if (rr.ttl != 0) return "prerequisite TTL must be 0";
    if (rr.klass == klass::kAny || rr.klass == klass::kNone) {
      if (!rr.rdata.empty()) return "prerequisite of class ANY/NONE must have no RDATA";
    } else if (rr.klass != zone.klass) {
      return "prerequisite class must be ANY, NONE or the zone class";
    } else if (rr.type == type::kAny) {
      return "value-dependent prerequisite cannot have type ANY";
    }
  }
  for (const auto& rr : m.authority) {
    if (!in_zone(rr.name, zone.name)) return "update name outside zone: " + rr.name;
    if (rr.klass == klass::kAny) {
      if (rr.ttl != 0 || !rr.rdata.empty()) return "delete-RRset must have TTL 0 and no RDATA";
    } else if (rr.klass == klass::kNone) {
      if (rr.ttl != 0) return "delete-RR must have TTL 0";
      if (rr.type == type::kAny) return "delete-RR cannot have type ANY";
    } else if (rr.klass != zone.klass) {
      return "update class must be ANY, NONE or the zone class";
    } else if (rr.type == type::kAny) {
      return "add cannot have type ANY";
    }
  }
  return std::nullopt;
}

}  // namespace failoverd::actuate::dns
