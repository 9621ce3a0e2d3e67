#include "actuate/tsig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>

#include "actuate/dns_wire.h"
#include "config/secrets.h"

namespace failoverd::actuate::tsig {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

const char* digest_name(Algorithm a) {
  switch (a) {
    case Algorithm::HmacSha1:
      return "SHA1";
    case Algorithm::HmacSha256:
      return "SHA256";
    case Algorithm::HmacSha512:
      return "SHA512";
  }
  return "SHA256";
}

std::optional<std::vector<std::uint8_t>> hmac(const Key& key, std::span<const std::uint8_t> data) {
  struct MacDeleter {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
  };
  struct CtxDeleter {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
  };
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return std::nullopt;
  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return std::nullopt;
  std::string digest = digest_name(key.algorithm);
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end()};
  // An empty secret is legal HMAC but OpenSSL wants a non-null pointer.
  static const std::uint8_t kEmpty = 0;
  const std::uint8_t* secret = key.secret.empty() ? &kEmpty : key.secret.data();
  if (EVP_MAC_init(ctx.get(), secret, key.secret.size(), params.data()) != 1) return std::nullopt;
  if (EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) return std::nullopt;
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  std::size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) return std::nullopt;
  out.resize(len);
  return out;
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put48(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 40; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>((v >> shift) & 0xff));
  }
}

// The fields of a TSIG RR's RDATA.
struct Fields {
  std::string algorithm;
  std::uint64_t time_signed = 0;
  std::uint16_t fudge = 0;
  std::vector<std::uint8_t> mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::vector<std::uint8_t> other;
};

std::optional<Fields> parse_rdata(std::span<const std::uint8_t> r) {
  // The algorithm name is never compressed (RFC 8945 4.2), so plain labels suffice.
  Fields f;
  std::size_t p = 0;
  std::vector<std::uint8_t> alg;
  while (true) {
    if (p >= r.size()) return std::nullopt;
    std::size_t len = r[p];
    if (len > 63) return std::nullopt;
    if (p + 1 + len > r.size()) return std::nullopt;
    alg.insert(alg.end(), r.begin() + static_cast<std::ptrdiff_t>(p),
               r.begin() + static_cast<std::ptrdiff_t>(p + 1 + len));
    p += 1 + len;
    if (len == 0) break;
    if (alg.size() > dns::kMaxName) return std::nullopt;
  }
  // Presentation form via the text helper for names.
  auto text = dns::rdata_to_text(dns::type::kCname, alg);
  if (!text) return std::nullopt;
  f.algorithm = *text;
  auto need = [&](std::size_t n) { return p + n <= r.size(); };
  auto u16 = [&]() {
    auto v = static_cast<std::uint16_t>((r[p] << 8) | r[p + 1]);
    p += 2;
    return v;
  };
  if (!need(10)) return std::nullopt;
  for (int i = 0; i < 6; ++i) f.time_signed = (f.time_signed << 8) | r[p++];
  f.fudge = u16();
  std::uint16_t mac_len = u16();
  if (!need(mac_len)) return std::nullopt;
  f.mac.assign(r.begin() + static_cast<std::ptrdiff_t>(p),
               r.begin() + static_cast<std::ptrdiff_t>(p + mac_len));
  p += mac_len;
  if (!need(6)) return std::nullopt;
  f.original_id = u16();
  f.error = u16();
  std::uint16_t other_len = u16();
  if (!need(other_len)) return std::nullopt;
  f.other.assign(r.begin() + static_cast<std::ptrdiff_t>(p),
                 r.begin() + static_cast<std::ptrdiff_t>(p + other_len));
  p += other_len;
  if (p != r.size()) return std::nullopt;
  return f;
}

// The bytes the MAC covers (RFC 8945 4.3.3): [request MAC], the message without its TSIG RR and
// with its original id, then the TSIG variables.
std::optional<std::vector<std::uint8_t>> digest_input(
    std::span<const std::uint8_t> unsigned_msg, std::uint16_t original_id,
    std::string_view key_name, std::string_view algorithm, std::uint64_t time_signed,
    std::uint16_t fudge, std::uint16_t error, std::span<const std::uint8_t> other,
    std::span<const std::uint8_t> request_mac) {
  auto kname = dns::name_to_canonical_wire(key_name);
  auto aname = dns::name_to_canonical_wire(algorithm);
  if (!kname || !aname || unsigned_msg.size() < 12 || request_mac.size() > 0xffff) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> d;
  d.reserve(unsigned_msg.size() + request_mac.size() + 128);
  if (!request_mac.empty()) {
    put16(d, static_cast<std::uint16_t>(request_mac.size()));
    d.insert(d.end(), request_mac.begin(), request_mac.end());
  }
  put16(d, original_id);
  d.insert(d.end(), unsigned_msg.begin() + 2, unsigned_msg.end());
  d.insert(d.end(), kname->begin(), kname->end());
  put16(d, dns::klass::kAny);
  put16(d, 0);  // TTL, 32 bits
  put16(d, 0);
  d.insert(d.end(), aname->begin(), aname->end());
  put48(d, time_signed);
  put16(d, fudge);
  put16(d, error);
  put16(d, static_cast<std::uint16_t>(other.size()));
  d.insert(d.end(), other.begin(), other.end());
  return d;
}

}  // namespace

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  std::string n;
  for (char c : name) n.push_back(lower(c));
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n == "hmac-sha1") return Algorithm::HmacSha1;
  if (n == "hmac-sha256") return Algorithm::HmacSha256;
  if (n == "hmac-sha512") return Algorithm::HmacSha512;
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::HmacSha1:
      return "hmac-sha1.";
    case Algorithm::HmacSha256:
      return "hmac-sha256.";
    case Algorithm::HmacSha512:
      return "hmac-sha512.";
  }
  return "hmac-sha256.";
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::Unsigned:
      return "unsigned";
    case Status::Malformed:
      return "malformed";
    case Status::BadKey:
      return "BADKEY";
    case Status::BadSig:
      return "BADSIG";
    case Status::BadTime:
      return "BADTIME";
  }
  return "malformed";
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  return config::base64_decode(text);
}

std::optional<SignResult> sign(std::span<const std::uint8_t> wire, const Key& key,
                               std::uint64_t time_signed, std::uint16_t fudge,
                               std::span<const std::uint8_t> request_mac, std::uint16_t error) {
  if (wire.size() < 12) return std::nullopt;
  std::uint16_t id = static_cast<std::uint16_t>((wire[0] << 8) | wire[1]);
  std::string_view alg = algorithm_name(key.algorithm);
  auto input = digest_input(wire, id, key.name, alg, time_signed, fudge, error, {}, request_mac);
  if (!input) return std::nullopt;
  auto mac = hmac(key, *input);
  if (!mac) return std::nullopt;

  std::vector<std::uint8_t> rdata = *dns::name_to_canonical_wire(alg);
  put48(rdata, time_signed);
  put16(rdata, fudge);
  put16(rdata, static_cast<std::uint16_t>(mac->size()));
  rdata.insert(rdata.end(), mac->begin(), mac->end());
  put16(rdata, id);
  put16(rdata, error);
  put16(rdata, 0);  // other len
  auto kname = dns::name_to_wire(key.name);
  if (!kname) return std::nullopt;

  SignResult res;
  res.wire.assign(wire.begin(), wire.end());
  res.wire.insert(res.wire.end(), kname->begin(), kname->end());
  put16(res.wire, dns::type::kTsig);
  put16(res.wire, dns::klass::kAny);
  put16(res.wire, 0);
  put16(res.wire, 0);
  put16(res.wire, static_cast<std::uint16_t>(rdata.size()));
  res.wire.insert(res.wire.end(), rdata.begin(), rdata.end());
  std::uint16_t arcount = static_cast<std::uint16_t>((wire[10] << 8) | wire[11]);
  if (arcount == 0xffff || res.wire.size() > dns::kMaxMessage) return std::nullopt;
  ++arcount;
  res.wire[10] = static_cast<std::uint8_t>(arcount >> 8);
  res.wire[11] = static_cast<std::uint8_t>(arcount & 0xff);
  res.mac = std::move(*mac);
  return res;
}

VerifyResult verify(std::span<const std::uint8_t> wire, const Key& key,
                    std::span<const std::uint8_t> request_mac, std::uint64_t now) {
  VerifyResult res;
  auto decoded = dns::decode(wire);
  if (!decoded.message) return res;  // Malformed
  const auto& m = *decoded.message;
  // TSIG must be the last additional record and there must be only one.
  std::size_t tsig_count = 0;
  for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
    for (const auto& rr : *section) tsig_count += rr.type == dns::type::kTsig ? 1 : 0;
  }
  if (tsig_count == 0) {
    res.status = Status::Unsigned;
    return res;
  }
  if (tsig_count != 1 || m.additional.empty() || m.additional.back().type != dns::type::kTsig) {
    return res;
  }
  const dns::Rr& rr = m.additional.back();
  if (rr.klass != dns::klass::kAny || rr.ttl != 0) return res;
  auto fields = parse_rdata(rr.rdata);
  if (!fields) return res;
  res.peer_error = fields->error;
  res.time_signed = fields->time_signed;

  if (!dns::names_equal(rr.name, key.name) ||
      parse_algorithm(fields->algorithm) != std::optional<Algorithm>(key.algorithm)) {
    res.status = Status::BadKey;
    return res;
  }
  // BADKEY and BADSIG replies carry no MAC (RFC 8945 5.3.2): report them as such.
  if (fields->error == dns::rcode::kBadKey) {
    res.status = Status::BadKey;
    return res;
  }
  if (fields->error == dns::rcode::kBadSig) {
    res.status = Status::BadSig;
    return res;
  }

  // The message as it was before signing: cut the TSIG RR, ARCOUNT - 1, original id.
  std::vector<std::uint8_t> unsigned_msg(wire.begin(),
                                         wire.begin() + static_cast<std::ptrdiff_t>(rr.offset));
  std::uint16_t arcount = static_cast<std::uint16_t>((unsigned_msg[10] << 8) | unsigned_msg[11]);
  --arcount;
  unsigned_msg[10] = static_cast<std::uint8_t>(arcount >> 8);
  unsigned_msg[11] = static_cast<std::uint8_t>(arcount & 0xff);
  auto input =
      digest_input(unsigned_msg, fields->original_id, rr.name, fields->algorithm,
                   fields->time_signed, fields->fudge, fields->error, fields->other, request_mac);
  if (!input) return res;
  auto expected = hmac(key, *input);
  if (!expected) return res;
  if (fields->mac.size() != expected->size() ||
      CRYPTO_memcmp(fields->mac.data(), expected->data(), expected->size()) != 0) {
    res.status = Status::BadSig;
    return res;
  }
  // Signed, so the error field is authentic: a signed BADTIME is still BADTIME.
  std::uint64_t skew =
      now > fields->time_signed ? now - fields->time_signed : fields->time_signed - now;
  if (fields->error == dns::rcode::kBadTime || skew > fields->fudge) {
    res.status = Status::BadTime;
    return res;
  }
  res.status = Status::Ok;
  res.mac = std::move(fields->mac);
  return res;
}

}  // namespace failoverd::actuate::tsig
