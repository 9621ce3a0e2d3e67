// Loading and validating a failoverd TOML config.
//
// Validation reports every problem at once. Each error names the file, line and column of the
// offending value (or of its table when the key is missing), the key path, and what was expected:
//   failoverd.toml:12:9: services.www.hold_down: expected a duration such as "250ms" or "10s", got "ten"
// Unknown keys are errors. Cross-references are checked (unknown region, duplicate names, quorum
// larger than the cluster, missing or group/world-readable secret files, two services on one
// fence), and so are combinations a key could not do what it says in (weighted policy on a target
// that holds no weights, keys a kind ignores).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace failoverd::config {

struct ConfigError {
  std::string file;
  std::uint32_t line = 0;    // 1-based; 0 when not known
  std::uint32_t column = 0;  // 1-based; 0 when not known
  std::string key;           // dotted key path: "regions.use1.endpoints[0].timeout"
  std::string message;
  // "file:line:column: key: message"
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // in file order
  bool ok() const { return config.has_value(); }
};

// Reads and validates a file. Relative secret-file paths resolve against the file's directory.
LoadResult load_config_file(const std::string& path);

// Validates TOML text; `source_name` is used as the file name in errors. Secret-file checks use
// paths as written (relative to the current directory).
LoadResult load_config_string(std::string_view toml_text, const std::string& source_name);

// "250ms", "10s", "5m", "1h", "14d", "1m30s"; nullopt on anything else (no bare numbers).
std::optional<Duration> parse_duration(std::string_view text);

// "127.0.0.1:53", "[::1]:53", "host.example:8080"; nullopt when malformed or the port is not
// 1..65535.
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace failoverd::config
