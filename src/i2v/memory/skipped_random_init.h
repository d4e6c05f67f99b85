// Module construction without its random initialisation, for modules whose every parameter is
// then replaced by loading (memory/construction_arena.h).
//
// Why: torch::nn::Linear and Conv2d fill their weights with kaiming_uniform_ as they are built,
// one draw of the CPU generator per element on one thread: ~4 s of the ~5 s load of the
// I2VGen-XL UNet and VAE, all of it overwritten by the files a moment later. While a
// SkippedRandomInit is alive on a thread, the in-place random fills (uniform_, normal_) on that
// thread return their tensor untouched and leave the generator's state as it was.
//
// How: the fills are routed through libtorch's DeferredInit dispatch key (meant for deferred
// module initialisation; unused by libtorch itself), included in this thread's dispatch key set
// for the guard's lifetime; every other operator falls through that key to its usual kernel.
// Where the key cannot be claimed (another library registered it), the guard does nothing and the
// fills run as usual: slower, never wrong.
#pragma once

#include <memory>

namespace i2v::memory {

class SkippedRandomInit {
 public:
  SkippedRandomInit();
  ~SkippedRandomInit();
  SkippedRandomInit(const SkippedRandomInit&) = delete;
  SkippedRandomInit& operator=(const SkippedRandomInit&) = delete;

  // Whether fills are skipped in this process (the dispatch key could be claimed).
  static bool available();

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

}  // namespace i2v::memory
