#include "state/state_writer.h"

#include <algorithm>

#include "state/atomic_file.h"

namespace failoverd::state {

StateWriter::StateWriter(std::string path) : path_(std::move(path)), thread_([this] { run(); }) {}

StateWriter::~StateWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StateWriter::submit(std::string text) {
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(text);
    ++submitted_;
  }
  wake_.notify_all();
}

void StateWriter::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = submitted_;
  done_.wait(lock, [&] { return finished_ >= target; });
}

std::optional<std::string> StateWriter::take_error() {
  std::lock_guard lock(mu_);
  auto e = std::move(error_);
  error_.reset();
  return e;
}

std::uint64_t StateWriter::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

void StateWriter::run() {
  std::unique_lock lock(mu_);
  std::optional<std::string> failed;  // the newest text, when writing it failed: retried
  auto backoff = std::chrono::seconds(1);
  bool last_try = false;  // stopping: a failed text gets one more try, not more
  for (;;) {
    if (failed) {
      // Retry the failed text (a full disk, a read-only remount...) with capped backoff,
      // unless a newer text arrives first; at stop, one last try.
      wake_.wait_for(lock, backoff, [&] { return pending_.has_value() || stopping_; });
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
    } else {
      wake_.wait(lock, [&] { return pending_.has_value() || stopping_; });
    }
    std::string text;
    if (pending_) {
      text = std::move(*pending_);
      pending_.reset();
    } else if (failed && !last_try) {
      last_try = stopping_;
      text = std::move(*failed);
    } else {
      return;  // stopping, nothing (more) to write
    }
    failed.reset();
    const std::uint64_t covers = submitted_;
    lock.unlock();
    auto err = write_file_atomic(path_, text);
    lock.lock();
    if (err) {
      error_ = std::move(err);
      failed = std::move(text);
    } else {
      ++writes_;
      backoff = std::chrono::seconds(1);
    }
    finished_ = std::max(finished_, covers);
    done_.notify_all();
  }
}

}  // namespace failoverd::state
