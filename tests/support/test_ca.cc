#include "support/test_ca.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace failoverd::testing {

namespace {

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string("TestCa: ") + what); }

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (k == nullptr) fail("EVP_EC_gen");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) fail("X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "w"), &BIO_free);
  if (!bio) fail("BIO_new_file");
  if (cert != nullptr && PEM_write_bio_X509(bio.get(), cert) != 1) fail("PEM_write_bio_X509");
  if (key != nullptr &&
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("PEM_write_bio_PrivateKey");
  }
}

X509* new_cert(EVP_PKEY* key, const std::string& cn, long serial, long from_s, long to_s) {
  X509* c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), from_s);
  X509_gmtime_adj(X509_getm_notAfter(c), to_s);
  X509_set_pubkey(c, key);
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return c;
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base != nullptr ? base : "/tmp") + "/" + std::string(prefix) +
                      "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestCa::TestCa(std::string dir, std::string common_name, std::string stem)
    : dir_(std::move(dir)),
      cert_file_(dir_ + "/" + stem + ".crt"),
      key_file_(dir_ + "/" + stem + ".key") {
  key_ = new_key();
  cert_ = new_cert(key_, common_name, serial_++, -3600, 3650L * 86400);
  X509_set_issuer_name(cert_, X509_get_subject_name(cert_));
  add_ext(cert_, cert_, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert_, cert_, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert_, cert_, NID_subject_key_identifier, "hash");
  if (X509_sign(cert_, key_, EVP_sha256()) == 0) fail("X509_sign");
  write_pem(cert_file_, cert_, nullptr);
  write_pem(key_file_, nullptr, key_);
}

TestCa::~TestCa() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

CertFiles TestCa::issue(std::string_view stem, const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ips, int valid_days, bool client) {
  EVP_PKEY* key = new_key();
  std::string cn = dns_names.empty() ? (ips.empty() ? std::string(stem) : ips.front())
                                     : dns_names.front();
  long to = static_cast<long>(valid_days) * 86400;
  X509* c = new_cert(key, cn, serial_++, valid_days > 0 ? -3600 : to - 7200, to);
  X509_set_issuer_name(c, X509_get_subject_name(cert_));
  add_ext(c, cert_, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c, cert_, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(c, cert_, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) add_ext(c, cert_, NID_subject_alt_name, san);
  if (X509_sign(c, key_, EVP_sha256()) == 0) fail("X509_sign");
  CertFiles out{dir_ + "/" + std::string(stem) + ".crt", dir_ + "/" + std::string(stem) + ".key"};
  write_pem(out.cert, c, nullptr);
  write_pem(out.key, nullptr, key);
  X509_free(c);
  EVP_PKEY_free(key);
  return out;
}

namespace {

struct PemPair {
  std::string cert;
  std::string key;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const PemPair& pem_pair() {
  static const PemPair pair = [] {
    TempDir dir("pem");
    TestCa ca(dir.path());
    auto leaf = ca.issue("leaf", {"localhost"}, {"127.0.0.1"});
    return PemPair{slurp(leaf.cert), slurp(leaf.key)};
  }();
  return pair;
}

}  // namespace

const std::string& test_pem_certificate() { return pem_pair().cert; }
const std::string& test_pem_private_key() { return pem_pair().key; }

}  // namespace failoverd::testing
