// Writes the state file off the event loop: the loop hands over the newest text and goes on; a
// thread of its own replaces the file (write_file_atomic: write, fsync, rename, fsync the
// directory). Only the newest text matters, so texts handed over while a write is under way
// replace each other and the file is written at most once more afterwards.
//
// What a caller can rely on: after flush() returns, the last text submitted has been tried once
// (on disk, or its error is known). A text whose write failed (a full disk, a read-only file
// system) is tried again after 1 s, then with doubling gaps up to 30 s, until it is written or a
// newer text replaces it. The destructor flushes. Errors are kept for the loop to log
// (take_error), as the logger is the loop's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace failoverd::state {

class StateWriter {
 public:
  explicit StateWriter(std::string path);
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Hands over the file's next contents; returns at once.
  void submit(std::string text);
  // Blocks until everything submitted so far is written (or failed).
  void flush();
  // The newest write error since the last call, if any.
  std::optional<std::string> take_error();
  std::uint64_t writes() const;  // files written so far

 private:
  void run();

  const std::string path_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::optional<std::string> pending_;
  std::uint64_t submitted_ = 0;
  std::uint64_t finished_ = 0;  // submissions written or failed (a replaced one counts as done)
  std::uint64_t writes_ = 0;
  std::optional<std::string> error_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace failoverd::state
