#include "config/pem.h"

#include <doctest/doctest.h>

#include "support/test_ca.h"

using failoverd::config::pem_certificates_problem;
using failoverd::config::pem_private_key_problem;
using failoverd::testing::test_pem_certificate;
using failoverd::testing::test_pem_private_key;

TEST_SUITE("config.pem") {
  TEST_CASE("a certificate file must hold a certificate, a key file a private key") {
    CHECK_FALSE(pem_certificates_problem(test_pem_certificate()));
    CHECK_FALSE(pem_certificates_problem(test_pem_certificate() + test_pem_certificate()));
    CHECK_FALSE(pem_private_key_problem(test_pem_private_key()));
    // What start-up would refuse, named before it runs.
    CHECK(pem_certificates_problem("") == std::string("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    CHECK(pem_certificates_problem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"));
    CHECK(pem_certificates_problem(test_pem_private_key()));  // a key where a certificate belongs
    CHECK(pem_private_key_problem(test_pem_certificate()));   // and the other way round
    CHECK(pem_private_key_problem("secret\n"));
  }
}
