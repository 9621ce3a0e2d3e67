#include "config/loader.h"

namespace failoverd::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  out += ':' + std::to_string(line) + ':' + std::to_string(column) + ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

}  // namespace failoverd::config
