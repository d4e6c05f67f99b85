#include "server_fixture.h"

#include <c10/util/Exception.h>

namespace i2v::test {

std::shared_ptr<server::VideoGenerator> golden_generator() {
  static std::shared_ptr<server::VideoGenerator> g = [] {
    ModelOptions m;
    m.model = golden_pipeline().string();
    m.precision = "fp32";
    return std::make_shared<server::LibraryGenerator>(m);
  }();
  return g;
}

Result FaultInjectingGenerator::generate(const Request& r, const Callbacks& callbacks) {
  if (r.prompt.find("[oom]") != std::string::npos) throw std::bad_alloc();
  if (r.prompt.find("[torch]") != std::string::npos) {
    TORCH_CHECK(false, "injected libtorch failure");
  }
  if (r.prompt.find("[slow]") != std::string::npos) {
    Callbacks slow = callbacks;
    slow.on_step = [&callbacks](const Progress& p) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (callbacks.on_step) callbacks.on_step(p);
    };
    return inner_->generate(r, slow);
  }
  return inner_->generate(r, callbacks);
}

}  // namespace i2v::test
