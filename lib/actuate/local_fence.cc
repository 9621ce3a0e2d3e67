#include "actuate/local_fence.h"

namespace failoverd::actuate {

LocalFenceActuator::LocalFenceActuator(std::unique_ptr<Actuator> inner, std::string self,
                                       std::vector<LiveMember> initial)
    : inner_(std::move(inner)), fence_{0, std::move(self)}, initial_(std::move(initial)) {}

void LocalFenceActuator::continue_from(const Actuator& previous) {
  const auto* was = dynamic_cast<const LocalFenceActuator*>(&previous);
  if (was == nullptr) return;
  fence_.generation = was->fence_.generation;
  fence_.trigger = was->fence_.trigger;
  applied_any_ = was->applied_any_;
  inner_->continue_from(*was->inner_);
}

boost::asio::awaitable<ReadResult> LocalFenceActuator::read() {
  ReadResult r = co_await inner_->read();
  if (r.status != ReadStatus::Ok) co_return r;
  if (r.state.members.empty() && !applied_any_) r.state.members = initial_;
  r.state.fence = fence_;
  co_return r;
}

boost::asio::awaitable<WriteResult> LocalFenceActuator::write(const core::Plan& plan,
                                                             const LiveState& expected) {
  if (expected.fence != std::optional<Fence>(fence_) || plan.generation <= fence_.generation) {
    co_return WriteResult{WriteStatus::Conflict,
                          "local fence is at generation " + std::to_string(fence_.generation),
                          "fence"};
  }
  LiveState inner_expected = expected;
  inner_expected.fence.reset();
  // Before the first write an exec hook holds nothing; `initial` was only what we reported.
  if (!applied_any_ && !initial_.empty() && expected.members == initial_) {
    inner_expected.members.clear();
  }
  WriteResult w = co_await inner_->write(plan, inner_expected);
  if (w.status == WriteStatus::Applied) {
    fence_ = Fence{plan.generation, fence_.writer, plan.trigger};
    applied_any_ = true;
  }
  co_return w;
}

}  // namespace failoverd::actuate
