// What the TLS files a config names hold, checked the way start-up will load them (OpenSSL's PEM
// reader), so that `--check-config` reports a file start-up would refuse: a certificate or CA
// file without a certificate, a key file without a private key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace failoverd::config {

// nullopt when `pem` holds at least one certificate; otherwise why not.
std::optional<std::string> pem_certificates_problem(std::string_view pem);
// nullopt when `pem` holds a private key (unencrypted: failoverd asks for no passphrase).
std::optional<std::string> pem_private_key_problem(std::string_view pem);

}  // namespace failoverd::config
