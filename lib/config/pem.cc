#include "config/pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace failoverd::config {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// A passphrase callback that gives none: an encrypted key fails instead of prompting.
int no_passphrase(char*, int, int, void*) { return 0; }

}  // namespace

std::optional<std::string> pem_certificates_problem(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return "out of memory";
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();  // the read that ends the loop always fails
  if (count == 0) return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  return std::nullopt;
}

std::optional<std::string> pem_private_key_problem(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return "out of memory";
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  ERR_clear_error();
  if (key == nullptr) return "holds no unencrypted PEM private key";
  EVP_PKEY_free(key);
  return std::nullopt;
}

}  // namespace failoverd::config
