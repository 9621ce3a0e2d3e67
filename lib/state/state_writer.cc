#include "state/state_writer.h"

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
  for (;;) {
    wake_.wait(lock, [&] { return pending_.has_value() || stopping_; });
    if (!pending_) return;  // stopping with nothing left to write
    std::string text = std::move(*pending_);
    pending_.reset();
    const std::uint64_t covers = submitted_;
    lock.unlock();
    auto err = write_file_atomic(path_, text);
    lock.lock();
    if (err) {
      error_ = std::move(err);
    } else {
      ++writes_;
    }
    finished_ = covers;
    done_.notify_all();
  }
}

}  // namespace failoverd::state
