#include "server_fixture.h"

#include <c10/util/Exception.h>

namespace i2v::test {

std::shared_ptr<server::VideoGenerator> golden_generator() {
  static std::shared_ptr<server::VideoGenerator> g = std::make_shared<server::PipelineGenerator>(
      golden_pipeline().string(), pipeline::PipelineOptions{});
  return g;
}

pipeline::GenerationResult FaultInjectingGenerator::generate(
    const pipeline::GenerationRequest& r, const pipeline::GenerationHooks& hooks) {
  if (r.prompt.find("[oom]") != std::string::npos) throw std::bad_alloc();
  if (r.prompt.find("[torch]") != std::string::npos) {
    TORCH_CHECK(false, "injected libtorch failure");
  }
  if (r.prompt.find("[slow]") != std::string::npos) {
    pipeline::GenerationHooks slow = hooks;
    slow.on_step = [&hooks](const pipeline::StepProgress& p) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (hooks.on_step) hooks.on_step(p);
    };
    return inner_->generate(r, slow);
  }
  return inner_->generate(r, hooks);
}

}  // namespace i2v::test
