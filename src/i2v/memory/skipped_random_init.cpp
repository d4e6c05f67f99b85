#include "i2v/memory/skipped_random_init.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace i2v::memory {
namespace {

constexpr c10::DispatchKey kKey = c10::DispatchKey::DeferredInit;

// A boxed kernel for `op_(Tensor(a!) self, ...) -> Tensor(a!)`: drops the arguments and returns
// self, untouched.
void return_self_untouched(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const size_t n = op.schema().arguments().size();
  c10::IValue self = (*stack)[stack->size() - n];
  torch::jit::drop(*stack, n);
  stack->push_back(std::move(self));
}

// Registered once, at the first guard, and kept for the process. False when the key already has
// a fallback (or a kernel for one of the fills) from someone else.
bool claim_key() {
  static bool claimed = [] {
    try {
      auto* all = new torch::Library(torch::Library::IMPL, "_", kKey, __FILE__, __LINE__);
      all->fallback(torch::CppFunction::makeFallthrough());
      auto* fills = new torch::Library(torch::Library::IMPL, "aten", kKey, __FILE__, __LINE__);
      fills->impl("uniform_", torch::CppFunction::makeFromBoxedFunction<&return_self_untouched>());
      fills->impl("normal_", torch::CppFunction::makeFromBoxedFunction<&return_self_untouched>());
      return true;  // both libraries live for the process: their registrations stay
    } catch (const std::exception&) {
      return false;
    }
  }();
  return claimed;
}

}  // namespace

struct SkippedRandomInit::Guard {
  c10::impl::IncludeDispatchKeyGuard include{kKey};
};

SkippedRandomInit::SkippedRandomInit() {
  if (claim_key()) guard_ = std::make_unique<Guard>();
}

SkippedRandomInit::~SkippedRandomInit() = default;

bool SkippedRandomInit::available() {
  return claim_key();
}

}  // namespace i2v::memory
