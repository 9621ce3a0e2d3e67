// A throwaway certificate authority for tests: makes a CA, then server and client certificates
// signed by it, as PEM files in a temporary directory (removed by TempDir's destructor).
// OpenSSL API only (no `openssl` CLI needed). Keys are P-256. Not thread-safe; test use only.
//
//   TempDir dir("probe-tls");
//   TestCa ca(dir.path());
//   auto server = ca.issue("server", {"localhost"}, {"127.0.0.1", "::1"});
//   auto client = ca.issue("client", {"observer-1"}, {}, 30, /*client=*/true);
//   // ca.cert_file(), server.cert, server.key ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;
struct x509_st;

namespace failoverd::testing {

// mkdtemp under $TMPDIR (or /tmp); removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

struct CertFiles {
  std::string cert;  // PEM certificate (leaf only)
  std::string key;   // PEM private key
};

class TestCa {
 public:
  // Writes <stem>.crt/.key for the CA into `dir`. Throws std::runtime_error on OpenSSL failure.
  explicit TestCa(std::string dir, std::string common_name = "failoverd test CA",
                  std::string stem = "ca");
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

  // A leaf certificate valid from one hour ago for `valid_days` days (may be 0 or negative for
  // an expired one), with the given DNS and IP subject alternative names. `client` sets
  // extendedKeyUsage clientAuth instead of serverAuth.
  CertFiles issue(std::string_view stem, const std::vector<std::string>& dns_names,
                  const std::vector<std::string>& ips, int valid_days = 30, bool client = false);

 private:
  std::string dir_;
  std::string cert_file_;
  std::string key_file_;
  evp_pkey_st* key_ = nullptr;
  x509_st* cert_ = nullptr;
  long serial_ = 1;
};

// A valid PEM certificate and its private key (made once per process by a TestCa), for tests
// whose config must name TLS files the loader can read.
const std::string& test_pem_certificate();
const std::string& test_pem_private_key();

}  // namespace failoverd::testing
