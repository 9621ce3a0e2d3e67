// Helpers for the target integration tests: temporary directories, free loopback ports, child
// processes stopped by PID, bounded polling, running a coroutine to completion, a raw DNS query.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace failoverd::it {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A port on 127.0.0.1 that was free for both TCP and UDP a moment ago.
std::uint16_t free_port();

void write_file(const std::string& path, const std::string& text, int mode = 0644);
std::string read_file(const std::string& path);

// A child process started without a shell; stop() (and the destructor) signal it by its PID only:
// SIGTERM, a bounded wait, then SIGKILL.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log_path);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  void stop();

 private:
  pid_t pid_ = -1;
};

// Runs argv to completion (bounded by `timeout`); returns the exit status or -1.
int run_and_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Polls `ready` every `step` until it is true or `limit` passed. Returns the last result.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(50));

// Runs `aw` on `io` to completion (at most `limit`); throws if it did not finish.
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> aw,
      std::chrono::seconds limit = std::chrono::seconds(30)) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out = std::move(value);
  });
  io.restart();
  io.run_for(limit);
  if (error) std::rethrow_exception(error);
  if (!out) throw std::runtime_error("coroutine did not finish in time");
  return std::move(*out);
}

// One UDP query for `name` type A to 127.0.0.1:port. nullopt: no (valid) answer within `timeout`.
struct DnsAnswer {
  int rcode = 0;
  std::vector<std::string> addresses;  // the A records of the answer section, dotted quads
};
std::optional<DnsAnswer> query_a(std::uint16_t port, const std::string& name,
                                 std::chrono::milliseconds timeout);

}  // namespace failoverd::it
