// Crash-safe file replacement: write a temp file in the same directory, fsync it, rename it over
// the target, fsync the directory. After kill -9 or power loss at any instant the path holds the
// old contents or the new, never a mix or nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace failoverd::state {

// Replaces `path` with `contents` atomically, file mode `mode`. The temporary file
// (".NAME.tmp.PID" beside it) is created new with O_EXCL|O_NOFOLLOW, never opened through a
// planted link. Returns an error text ("open /var/lib/failoverd/.state.json.tmp.42: Permission
// denied") or nullopt on success.
std::optional<std::string> write_file_atomic(const std::string& path, std::string_view contents,
                                             unsigned mode = 0600);

// Reads a whole regular file of at most `max_bytes` (opened non-blocking: a FIFO is an error,
// not a hang). nullopt with `error` set when it cannot; a missing file sets `missing` instead so
// callers can tell "first start" from "broken".
struct ReadFile {
  std::optional<std::string> contents;
  bool missing = false;
  std::string error;
};
ReadFile read_file(const std::string& path, std::size_t max_bytes);

}  // namespace failoverd::state
