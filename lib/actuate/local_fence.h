// A fence kept in memory for targets that cannot store one (HAProxy's runtime API, exec hooks).
//
// Such targets are `scope = local`: each observer drives its own, so this process is the only
// writer and an in-memory generation is a true compare-and-swap among its own writes. Wrapping
// them gives the reconciler the same shape as a fenced target: a read reports the target's
// members with the fence {generation, self}; a write applies only when `expected.fence` equals
// the in-memory fence, and moves it to plan.generation when the target confirms.
//
// After a restart the generation starts again at 0 (the core re-reads before it writes). HAProxy
// reports its real members, so drift (an HAProxy restart back to its config file) is seen and
// repaired by the reconciler. An exec hook has nothing to read: its live members are the last set
// it applied, and before the first write `initial` (the service's first region, as configured).
#pragma once

#include <memory>

#include "actuate/actuator.h"

namespace failoverd::actuate {

class LocalFenceActuator final : public Actuator {
 public:
  // `inner` must not keep a fence of its own. `initial` is reported while `inner` reads no
  // members and nothing has been applied yet (exec hooks); leave it empty for readable targets.
  LocalFenceActuator(std::unique_ptr<Actuator> inner, std::string self,
                     std::vector<LiveMember> initial = {});

  std::string_view kind() const override { return inner_->kind(); }
  boost::asio::awaitable<ReadResult> read() override;
  boost::asio::awaitable<WriteResult> write(const core::Plan& plan,
                                            const LiveState& expected) override;

  const Fence& fence() const { return fence_; }
  // The fence, whether anything was applied, and the inner actuator's memory.
  void continue_from(const Actuator& previous) override;

 private:
  std::unique_ptr<Actuator> inner_;
  Fence fence_;
  std::vector<LiveMember> initial_;
  bool applied_any_ = false;
};

}  // namespace failoverd::actuate
